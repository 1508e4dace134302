namespace AdaBits.Config;

/// <summary>
/// A user error in a config file, an override or a command-line token. The message is one line that
/// names the file (or the override) and the key, and says what was expected, e.g.
/// <c>apps/x.yml: key 'lr' expects a number, got 'abc'</c>.
/// </summary>
internal sealed class ConfigException : Exception
{
    public ConfigException(string message) : base(message) { }
    public ConfigException(string message, Exception inner) : base(message, inner) { }
}
