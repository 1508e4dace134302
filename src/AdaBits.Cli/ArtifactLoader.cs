using AdaBits.Inference;

namespace AdaBits.Cli;

/// <summary>Loads an engine artifact for a command: a missing or damaged file is a one-line usage error (exit 2).</summary>
internal static class ArtifactLoader
{
    public static InferenceModel Load(string path, EngineOptions options, string command)
    {
        if (!File.Exists(path)) throw new UsageException($"{command}: {path}: no such file");
        try
        {
            return InferenceModel.Load(path, options);
        }
        catch (ArtifactException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
