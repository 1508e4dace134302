namespace AdaBits.Inference;

/// <summary>A damaged, truncated, foreign or newer-version artifact; the message is one line naming the file.</summary>
public sealed class ArtifactException(string message) : Exception(message);
