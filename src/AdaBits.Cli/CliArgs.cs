namespace AdaBits.Cli;

/// <summary>A wrong command line: printed as one line, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// `--name value` options and `--flag` switches of one command, checked against what the command
/// knows, so unknown options fail with one line instead of being ignored.
/// </summary>
internal sealed class CliArgs
{
    readonly Dictionary<string, string?> values = new();
    public List<string> Positional { get; } = [];
    public string Command { get; }

    public CliArgs(string command, IEnumerable<string> args, IReadOnlySet<string> options, IReadOnlySet<string> flags)
    {
        Command = command;
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            string a = list[i];
            if (!a.StartsWith("--") || a == "--") { Positional.Add(a); continue; }
            string name = a, value = "";
            bool inline = a.Contains('=');
            if (inline) (name, value) = (a[..a.IndexOf('=')], a[(a.IndexOf('=') + 1)..]);
            if (flags.Contains(name))
            {
                if (inline) throw new UsageException($"{command}: option {name} takes no value");
                values[name] = null;
            }
            else if (options.Contains(name))
            {
                if (!inline)
                {
                    if (i + 1 >= list.Count) throw new UsageException($"{command}: option {name} needs a value");
                    value = list[++i];
                }
                values[name] = value;
            }
            else throw new UsageException($"{command}: unknown option '{name}' (see '{command} --help')");
        }
    }

    public bool Has(string name) => values.ContainsKey(name);
    public string? Get(string name) => values.TryGetValue(name, out var v) ? v : null;

    public int GetInt(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        string? v = Get(name);
        if (v is null) return fallback;
        if (!int.TryParse(v, out int n))
            throw new UsageException($"{Command}: {name} expects an integer, got '{v}'");
        if (n < min || n > max)
            throw new UsageException($"{Command}: {name} must be in {min}..{max}, got {n}");
        return n;
    }

    public string GetChoice(string name, string fallback, params string[] choices)
    {
        string v = Get(name) ?? fallback;
        if (!choices.Contains(v))
            throw new UsageException($"{Command}: {name} must be one of {string.Join(", ", choices)}, got '{v}'");
        return v;
    }

    public void NoPositional()
    {
        if (Positional.Count > 0)
            throw new UsageException($"{Command}: unexpected argument '{Positional[0]}' (see '{Command} --help')");
    }
}
