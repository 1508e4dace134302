using System.Globalization;
using System.Text.RegularExpressions;

namespace AdaBits.Config;

/// <summary>
/// Loads a <see cref="TrainConfig"/> the way the reference's <c>utils/config.py</c> does, with clear errors:
/// command-line tokens <c>app:PATH</c> (the YAML file; last wins), <c>bs:N</c> (batch size; last wins) and
/// <c>key=value</c> overrides (value parsed as YAML), then the batch-size rule: batch_size &gt; 256 gives
/// warmup_epochs 5 and lr * batch_size / 256, else warmup_epochs 0.
/// </summary>
internal static partial class ConfigLoader
{
    /// <summary>One override: where it came from (for messages), the key and its parsed value.</summary>
    public sealed record Override(string Origin, string Key, object? Value);

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex KeyRx();

    /// <summary>
    /// Loads from command-line tokens. <paramref name="warn"/> receives one-line warnings (ignored keys, a
    /// replaced warmup_epochs); null writes them to standard error.
    /// </summary>
    public static TrainConfig Load(IReadOnlyList<string> args, Action<string>? warn = null)
    {
        string? app = null;
        var overrides = new List<Override>();
        foreach (string token in args)
        {
            if (token.StartsWith("app:", StringComparison.Ordinal))
            {
                app = token[4..];
                if (app.Length == 0) throw new ConfigException($"argument '{token}': app: needs a path to a YAML config");
            }
            else overrides.Add(ParseOverride(token));
        }
        if (app is null) throw new ConfigException("no config: pass app:PATH");
        object? root = YamlReader.ReadFile(app);
        return Build(root, app, overrides, warn);
    }

    /// <summary>Parses one <c>bs:N</c> or <c>key=value</c> token (the value as YAML).</summary>
    public static Override ParseOverride(string token)
    {
        if (token.StartsWith("bs:", StringComparison.Ordinal))
        {
            if (!int.TryParse(token[3..], NumberStyles.None, CultureInfo.InvariantCulture, out int bs) || bs <= 0)
                throw new ConfigException($"argument '{token}': bs: expects a positive integer batch size");
            return new Override($"argument '{token}'", "batch_size", (long)bs);
        }
        int eq = token.IndexOf('=');
        if (eq <= 0 || !KeyRx().IsMatch(token[..eq]))
            throw new ConfigException($"unrecognised argument '{token}': expected app:PATH, bs:N or key=value");
        string origin = $"override '{token}'";
        object? value;
        try { value = YamlReader.ParseValue(token[(eq + 1)..], origin); }
        catch (ConfigException e) { throw new ConfigException(e.Message.StartsWith(origin) ? e.Message : $"{origin}: {e.Message}", e); }
        return new Override(origin, token[..eq], value);
    }

    /// <summary>Loads YAML text (tests, embedded configs); <paramref name="sourceName"/> names it in messages
    /// and locates <c>!include</c> files. Overrides are <c>key=value</c> or <c>bs:N</c> tokens.</summary>
    public static TrainConfig FromYamlText(string yaml, string sourceName, IReadOnlyList<string>? overrides = null, Action<string>? warn = null)
    {
        object? root = YamlReader.ReadText(yaml, sourceName);
        var parsed = new List<Override>();
        foreach (string token in overrides ?? []) parsed.Add(ParseOverride(token));
        return Build(root, sourceName, parsed, warn);
    }

    /// <summary>Binds a parsed YAML tree plus overrides, checks it and applies the batch-size rule.</summary>
    public static TrainConfig Build(object? root, string sourceName, IReadOnlyList<Override> overrides, Action<string>? warn = null)
    {
        warn ??= message => Console.Error.WriteLine("warning: " + message);
        if (root is null) throw new ConfigException($"{sourceName}: the config is empty");
        if (root is not OrderedDictionary<string, object?> map)
            throw new ConfigException($"{sourceName}: the config must be a mapping of key: value lines");

        var raw = new OrderedDictionary<string, object?>();
        var origins = new Dictionary<string, string>();
        var warned = new HashSet<string>();
        var ignored = new OrderedDictionary<string, List<string>>();   // origin -> its ignored keys: one warning line per file
        void Accept(string key, object? value, string origin)
        {
            if (ConfigKeys.IsIgnored(key))
            {
                if (warned.Add(key))
                {
                    if (!ignored.TryGetValue(origin, out var keys)) ignored[origin] = keys = [];
                    keys.Add(key);
                }
            }
            else if (!ConfigKeys.IsKnown(key))
            {
                string? near = ConfigKeys.Suggest(key);
                throw new ConfigException($"{origin}: unknown key '{key}'" + (near is null ? "" : $" (did you mean '{near}'?)"));
            }
            raw[key] = value;
            origins[key] = origin;
        }
        foreach (var (key, value) in map) Accept(key, value, sourceName);
        foreach (var o in overrides) Accept(o.Key, o.Value, o.Origin);
        foreach (var (origin, keys) in ignored)
            warn(keys.Count == 1
                ? $"{origin}: key '{keys[0]}' is accepted for compatibility and ignored"
                : $"{origin}: keys {string.Join(", ", keys.Select(k => $"'{k}'"))} are accepted for compatibility and ignored");

        var binder = new ConfigBinder(raw, origins, sourceName);
        TrainConfig config = binder.Bind();

        // The reference's batch-size rule (utils/config.py), always applied.
        int warmup = config.BatchSize > 256 ? 5 : 0;
        double lr = config.BatchSize > 256 ? config.BaseLr * config.BatchSize / 256 : config.BaseLr;
        if (raw.TryGetValue("warmup_epochs", out var given) && given is long g && g != warmup)
            warn($"{origins["warmup_epochs"]}: key 'warmup_epochs' = {g} is replaced by the batch-size rule: " +
                 $"warmup_epochs = {warmup} (batch_size {config.BatchSize} {(config.BatchSize > 256 ? ">" : "<=")} 256)");
        raw["warmup_epochs"] = (long)warmup;
        raw["lr"] = lr;
        return config with { WarmupEpochs = warmup, Lr = lr, Raw = raw };
    }
}
