using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using AdaBits.Modules;

namespace AdaBits.Config;

/// <summary>
/// Text forms of config values: YAML scalars/flow lists that PyYAML and <see cref="YamlReader"/> read back
/// as the same value, and Python's <c>str()</c> of values (the reference's folder names and messages).
/// </summary>
internal static partial class YamlText
{
    [GeneratedRegex(@"^[A-Za-z0-9_./][A-Za-z0-9_./+-]*$")]
    private static partial Regex PlainSafe();

    /// <summary>A value as YAML: <c>True</c>/<c>False</c>, <c>null</c>, ints, doubles always with a dot
    /// (<c>4.0e-05</c>, never <c>4E-05</c>), strings quoted only when needed, lists in flow style.</summary>
    public static string Format(object? value) => value switch
    {
        null => "null",
        bool b => b ? "True" : "False",
        int or long => Convert.ToInt64(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture),
        double d => FormatDouble(d),
        float f => FormatDouble(f),
        string s => FormatString(s),
        Bits bits => bits.IsPair ? $"[{bits.Weight}, {bits.Activation}]" : bits.Weight.ToString(CultureInfo.InvariantCulture),
        IEnumerable list => "[" + string.Join(", ", list.Cast<object?>().Select(Format)) + "]",
        _ => throw new ArgumentException($"cannot write a {value.GetType().Name} as YAML"),
    };

    /// <summary>A double the way PyYAML writes it (Python repr, with <c>.0</c> added before an exponent):
    /// the shortest text that reads back to the same double.</summary>
    public static string FormatDouble(double d)
    {
        if (double.IsNaN(d)) return ".nan";
        if (double.IsPositiveInfinity(d)) return ".inf";
        if (double.IsNegativeInfinity(d)) return "-.inf";
        // PyYAML's represent_float: Python's repr, with ".0" put before an exponent that has no dot.
        string r = PythonFloat(d);
        return r.Contains('.') || !r.Contains('e') ? r : r.Replace("e", ".0e");
    }

    /// <summary>A string as a YAML scalar: plain when it reads back as the same string, else quoted.</summary>
    public static string FormatString(string s)
    {
        if (PlainSafe().IsMatch(s) && YamlScalars.ResolvesToString(s)) return s;
        if (s.Any(c => char.IsControl(c))) return DoubleQuoted(s);
        return "'" + s.Replace("'", "''") + "'";
    }

    static string DoubleQuoted(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                case '\r': sb.Append("\\r"); break;
                default:
                    if (char.IsControl(c)) sb.Append($"\\x{(int)c:x2}");
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary>Python's <c>str()</c> of a value: <c>True</c>, <c>None</c>, <c>[5, 4, 3]</c>, <c>[[4, 8], 4]</c>,
    /// strings bare at the top level and quoted inside lists (<c>['gpu']</c>).</summary>
    public static string PythonStr(object? value) => value is string s ? s : PythonRepr(value);

    /// <summary>Python's <c>repr()</c> of a value.</summary>
    public static string PythonRepr(object? value) => value switch
    {
        null => "None",
        bool b => b ? "True" : "False",
        int or long => Convert.ToInt64(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture),
        double d => double.IsNaN(d) ? "nan" : double.IsInfinity(d) ? (d > 0 ? "inf" : "-inf") : PythonFloat(d),
        string s => "'" + EscapeControl(s.Replace("\\", "\\\\").Replace("'", "\\'")) + "'",
        Bits bits => bits.ToString(),
        IDictionary dict => "{" + string.Join(", ", dict.Keys.Cast<object?>().Select(k => PythonRepr(k) + ": " + PythonRepr(dict[k!]))) + "}",
        IEnumerable list => "[" + string.Join(", ", list.Cast<object?>().Select(PythonRepr)) + "]",
        _ => value.ToString() ?? "",
    };

    /// <summary>Control characters as Python's repr shows them (<c>\n</c>, <c>\x07</c>), so a value in a message or a
    /// folder name stays on one line whatever it holds.</summary>
    static string EscapeControl(string s)
    {
        if (!s.Any(char.IsControl)) return s;
        var b = new StringBuilder(s.Length + 8);
        foreach (char c in s)
            b.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) => $"\\x{(int)c:x2}",
                _ => c.ToString(),
            });
        return b.ToString();
    }

    /// <summary>Python's repr of a float: shortest round trip, <c>0.1</c>, <c>1.0</c>, <c>4e-05</c>, <c>1e+20</c>.</summary>
    static string PythonFloat(double d)
    {
        string e = d.ToString("E16", CultureInfo.InvariantCulture);
        for (int n = 0; n <= 16; n++)
        {
            string cand = d.ToString("E" + n, CultureInfo.InvariantCulture);
            if (double.Parse(cand, CultureInfo.InvariantCulture) == d) { e = cand; break; }
        }
        int at = e.IndexOf('E');
        string mant = e[..at];
        int exp = int.Parse(e[(at + 1)..], CultureInfo.InvariantCulture);
        string sign = mant.StartsWith('-') ? "-" : "";
        string digits = mant.TrimStart('-').Replace(".", "").TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        if (d != 0 && (exp < -4 || exp >= 16))
        {
            string m = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
            return $"{sign}{m}e{(exp < 0 ? "-" : "+")}{Math.Abs(exp):00}";
        }
        if (d == 0) return sign + "0.0";
        if (exp >= 0)
        {
            string ip = digits.Length > exp + 1 ? digits[..(exp + 1)] : digits.PadRight(exp + 1, '0');
            string fp = digits.Length > exp + 1 ? digits[(exp + 1)..] : "0";
            return $"{sign}{ip}.{fp}";
        }
        return $"{sign}0.{new string('0', -exp - 1)}{digits}";
    }
}
