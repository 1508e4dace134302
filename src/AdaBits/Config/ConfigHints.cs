namespace AdaBits.Config;

/// <summary>Hints for a config mistake people make often: a float PyYAML reads as a string. (Other programs' key
/// names are each key's <see cref="ConfigKey.Synonyms"/>.)</summary>
internal static class ConfigHints
{
    /// <summary>
    /// The YAML 1.1 spelling of a number PyYAML reads as a string for want of a dot or an exponent sign:
    /// <c>1.0e8</c> gives <c>1.0e+8</c>, <c>4e-5</c> gives <c>4.0e-5</c>.
    /// </summary>
    public static string YamlFloat(string text)
    {
        int e = text.IndexOfAny(['e', 'E']);
        string mantissa = text[..e], exponent = text[(e + 1)..];
        if (!mantissa.Contains('.')) mantissa += ".0";
        else if (mantissa.EndsWith('.')) mantissa += "0";
        if (exponent[0] is not ('+' or '-')) exponent = "+" + exponent;
        return $"{mantissa}{text[e]}{exponent}";
    }
}
