namespace AdaBits.Cli;

/// <summary>A wrong command line: printed as one line, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
