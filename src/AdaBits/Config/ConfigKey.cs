namespace AdaBits.Config;

/// <summary>
/// One config key, declared once in <see cref="ConfigKeys.All"/>: its name, value type, accepted range, doc and
/// where its setting lives in <see cref="TrainConfig"/>. Binding, validation, the written <c>config.yml</c>,
/// equality of configs, the known-key list and suggestions for misspelt keys all read it; the default is the
/// setting's value in a new <see cref="TrainConfig"/>.
/// </summary>
internal abstract class ConfigKey
{
    private protected ConfigKey(string name, string doc) => (Name, Doc) = (name, doc);

    public string Name { get; }
    /// <summary>One line: what the setting does.</summary>
    public string Doc { get; }
    /// <summary>A config without the key is refused.</summary>
    public bool Required { get; init; }
    /// <summary>Other trainers' names for the key: a config using one is refused with this key as the suggestion.</summary>
    public IReadOnlyList<string> Synonyms { get; init; } = [];

    /// <summary>The type phrase of its errors: "an integer", "True or False", ...</summary>
    public abstract string Expected { get; }
    /// <summary>The range rules, as the errors state them ("be > 0"); empty: any value of the type.</summary>
    public abstract IReadOnlyList<string> Range { get; }
    /// <summary>The YAML value written for the default (required keys have none).</summary>
    public object? Default => Written(TrainConfig.Defaults);

    /// <summary>The setting as the YAML value <c>config.yml</c> holds.</summary>
    public abstract object? Written(TrainConfig config);

    /// <summary>Checks one value (as read from YAML) and returns the config with the setting set.</summary>
    internal abstract TrainConfig Bind(TrainConfig config, object? value, KeyErrors errors);
}

/// <summary>A range rule: "must {Must}, got {value}" when <see cref="Holds"/> is false (checked on non-null values).</summary>
internal sealed record Rule<T>(string Must, Func<T, bool> Holds);

/// <summary>A key whose setting is a <typeparamref name="T"/>, read by <see cref="Get"/> and set by <see cref="Set"/>.</summary>
internal sealed class ConfigKey<T>(string name, KeyType<T> type, Func<TrainConfig, T> get, Func<TrainConfig, T, TrainConfig> set, string doc)
    : ConfigKey(name, doc)
{
    public IReadOnlyList<Rule<T>> Rules { get; init; } = [];
    public Func<TrainConfig, T> Get => get;
    public Func<TrainConfig, T, TrainConfig> Set => set;

    public override string Expected => type.Expected;
    public override IReadOnlyList<string> Range => Rules.Select(r => r.Must).ToArray();
    public override object? Written(TrainConfig config) => type.ToYaml(get(config));

    internal override TrainConfig Bind(TrainConfig config, object? value, KeyErrors errors)
    {
        T v = type.Parse(value, errors);
        if (v is not null)
            foreach (var rule in Rules)
                if (!rule.Holds(v)) throw errors.Invalid($"must {rule.Must}, got {KeyErrors.Describe(v)}");
        return set(config, v);
    }
}
