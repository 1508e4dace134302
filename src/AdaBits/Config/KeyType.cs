using AdaBits.Modules;

namespace AdaBits.Config;

/// <summary>
/// What a key's value must be: the phrase its type errors use (<see cref="Expected"/>), the conversion from the
/// YAML value (null included: each type says what null means) and back to the YAML value that is written.
/// </summary>
internal sealed record KeyType<T>(string Expected, Func<object?, KeyErrors, T> Parse, Func<T, object?> ToYaml);

/// <summary>The value types config keys use.</summary>
internal static class KeyTypes
{
    const string IntText = "an integer", NumberText = "a number", BoolText = "True or False", StringText = "a string";

    static KeyType<T> Plain<T>(string expected, Func<object?, KeyErrors, T> parse) => new(expected, parse, v => v);

    public static readonly KeyType<int> Int = Plain(IntText, (v, e) => AsInt(v, e, IntText));
    public static readonly KeyType<double> Number = Plain(NumberText, (v, e) => v switch
    {
        double d => d,
        long l => l,
        _ => throw e.Type(NumberText, v),
    });
    public static readonly KeyType<bool> Bool = Plain(BoolText, (v, e) => v is bool b ? b : throw e.Type(BoolText, v));
    public static readonly KeyType<string> Text = Plain(StringText, (v, e) => v is string s ? s : throw e.Type(StringText, v));

    public static readonly KeyType<int?> NullableInt = OrNull(Int);
    public static readonly KeyType<double?> NullableNumber = OrNull(Number);
    public static readonly KeyType<bool?> NullableBool = OrNull(Bool);
    public static readonly KeyType<string?> NullableText = new(StringText + " or null", (v, e) => v is null ? null : Text.Parse(v, e), v => v);

    /// <summary>null (or an absent key) means "not set": the setting's own default decides.</summary>
    static KeyType<T?> OrNull<T>(KeyType<T> inner) where T : struct =>
        new(inner.Expected + " or null", (v, e) => v is null ? null : inner.Parse(v, e), v => v is null ? null : inner.ToYaml(v.Value));

    public static readonly KeyType<IReadOnlyList<int>> IntList = Plain<IReadOnlyList<int>>("a list of integers, e.g. [1, 5]", (v, e) =>
    {
        const string expected = "a list of integers, e.g. [1, 5]";
        if (v is not List<object?> list) throw e.Type(expected, v);
        return list.Select(x => x is long ? AsInt(x, e, expected) : throw e.Type(expected, v)).ToArray();
    });

    /// <summary>profiling: device tags; False (or null) is the reference's "no profiling".</summary>
    public static readonly KeyType<IReadOnlyList<string>> Tags = Plain<IReadOnlyList<string>>("a list of device tags, e.g. [gpu] (or False)", (v, e) =>
    {
        const string expected = "a list of device tags, e.g. [gpu] (or False)";
        if (v is null or false) return [];
        if (v is not List<object?> list) throw e.Type(expected, v);
        return list.Select(x => x is string s ? s : throw e.Type(expected, v)).ToArray();
    });

    /// <summary>bits_list: each entry an integer or a [weight_bits, activation_bits] pair.</summary>
    public static readonly KeyType<IReadOnlyList<Bits>> BitsList = Plain<IReadOnlyList<Bits>>(
        "a list of bit-widths, each an integer or a [weight_bits, activation_bits] pair, e.g. [8, 6, 4]", (v, e) =>
        {
            const string expected = "a list of bit-widths, each an integer or a [weight_bits, activation_bits] pair, e.g. [8, 6, 4]";
            if (v is not List<object?> list || list.Count == 0) throw e.Type(expected, v);
            var bits = new List<Bits>();
            foreach (object? x in list)
            {
                Bits b = x switch
                {
                    long => new Bits(AsInt(x, e, expected) is var n && n >= 0 ? n : throw e.Invalid($"entries must be >= 0, got {x}")),
                    List<object?> { Count: 2 } pair when pair.All(p => p is long) =>
                        pair.Cast<long>().Any(p => p < 0 || p > int.MaxValue)
                            ? throw e.Invalid($"entries must be >= 0, got {YamlText.PythonRepr(pair)}")
                            : new Bits((int)(long)pair[0]!, (int)(long)pair[1]!),
                    _ => throw e.Type(expected, v),
                };
                bits.Add(b);
            }
            return bits;
        });

    /// <summary>A string naming one of a few values (a scheme, an init): parsed by the value type's own parser,
    /// written by its own name.</summary>
    public static KeyType<T> Named<T>(IReadOnlyList<string> names, Func<string, T> parse, Func<T, string> name) =>
        new($"one of {string.Join(", ", names)}", (v, e) =>
        {
            string s = Text.Parse(v, e);
            if (!names.Contains(s)) throw e.Invalid($"must be one of {string.Join(", ", names)}, got {KeyErrors.Describe(s)}");
            return parse(s);
        }, x => name(x));

    static int AsInt(object? v, KeyErrors e, string expected) => v switch
    {
        long l when l is >= int.MinValue and <= int.MaxValue => (int)l,
        long => throw e.Invalid($"expects {expected}, got {v} (out of range)"),
        _ => throw e.Type(expected, v),
    };
}
