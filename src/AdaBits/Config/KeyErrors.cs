using System.Text.RegularExpressions;

namespace AdaBits.Config;

/// <summary>
/// The one-line errors about one key's value: where the value came from (the file, or the override), the key,
/// and what was expected, e.g. <c>apps/x.yml: key 'lr' expects a number, got 'abc'</c>.
/// </summary>
internal sealed partial class KeyErrors(string key, string origin)
{
    public string Key => key;
    /// <summary>The file or the override the value came from.</summary>
    public string Origin => origin;

    public ConfigException Type(string expected, object? value)
    {
        string hint = value is string s && ExponentWithoutDot().IsMatch(s)
            ? $" (PyYAML reads YAML 1.1, where a float needs a dot and a signed exponent: write {ConfigHints.YamlFloat(s)})"
            : "";
        return new($"{origin}: key '{key}' expects {expected}, got {Describe(value)}{hint}");
    }

    public ConfigException Invalid(string problem) => new($"{origin}: key '{key}' {problem}");

    [GeneratedRegex(@"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$")]
    private static partial Regex ExponentWithoutDot();

    /// <summary>How a value is shown in messages: as Python's repr shows it (one line whatever a string holds).</summary>
    internal static string Describe(object? value) => value switch
    {
        null => "null",
        System.Collections.IDictionary => "a mapping",
        _ => YamlText.PythonRepr(value),
    };
}
