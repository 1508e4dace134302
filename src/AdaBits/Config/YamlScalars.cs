using System.Globalization;
using System.Text.RegularExpressions;

namespace AdaBits.Config;

/// <summary>
/// YAML 1.1 resolution of plain (unquoted) scalars exactly as PyYAML's <c>yaml.Loader</c> does it, so a
/// config means the same here as in the reference: <c>True/yes/on</c> are booleans, <c>~</c>/<c>null</c>/empty
/// is null, a float needs a dot (<c>0.00004</c> is a float, <c>4e-5</c> and <c>1.0e5</c> are strings, the
/// exponent needs a sign), <c>010</c> is octal 8, <c>1_000</c> is 1000, <c>1:30</c> is 90.
/// Values: <see langword="null"/>, <see cref="bool"/>, <see cref="long"/>, <see cref="double"/>, <see cref="string"/>.
/// Not resolved (left as strings): timestamps, the <c>=</c> value tag. Integers beyond 64 bits stay strings.
/// </summary>
internal static partial class YamlScalars
{
    [GeneratedRegex(@"^(?:~|null|Null|NULL|)$")]
    private static partial Regex NullRx();

    [GeneratedRegex(@"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")]
    private static partial Regex BoolRx();

    [GeneratedRegex(@"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$")]
    private static partial Regex IntRx();

    [GeneratedRegex(@"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")]
    private static partial Regex FloatRx();

    /// <summary>The value PyYAML gives a plain scalar with this text.</summary>
    public static object? Resolve(string plain)
    {
        if (NullRx().IsMatch(plain)) return null;
        if (BoolRx().IsMatch(plain)) return plain[0] is 'y' or 'Y' or 't' or 'T' || plain is "on" or "On" or "ON";
        if (IntRx().IsMatch(plain)) return ParseInt(plain) ?? (object)plain;
        if (FloatRx().IsMatch(plain)) return ParseFloat(plain);
        return plain;
    }

    /// <summary>True when a plain scalar with this text would be read back as the same string.</summary>
    public static bool ResolvesToString(string text) => Resolve(text) is string s && s == text;

    static long? ParseInt(string text)
    {
        string v = text.Replace("_", "");
        int sign = 1;
        if (v.StartsWith('-')) { sign = -1; v = v[1..]; }
        else if (v.StartsWith('+')) v = v[1..];
        try
        {
            checked
            {
                if (v == "0") return 0;
                if (v.StartsWith("0b")) return sign * Digits(v[2..], 2);
                if (v.StartsWith("0x")) return sign * Digits(v[2..], 16);
                if (v.StartsWith('0')) return sign * Digits(v[1..], 8);
                if (v.Contains(':')) return sign * Sexagesimal(v);
                return sign * Digits(v, 10);
            }
        }
        catch (OverflowException) { return null; }
    }

    static long Digits(string digits, int radix)
    {
        long value = 0;
        foreach (char c in digits)
            checked { value = value * radix + Convert.ToInt32(c.ToString(), 16); }
        return value;
    }

    static long Sexagesimal(string v)
    {
        long value = 0;
        foreach (string part in v.Split(':'))
            checked { value = value * 60 + long.Parse(part, CultureInfo.InvariantCulture); }
        return value;
    }

    static double ParseFloat(string text)
    {
        string v = text.Replace("_", "").ToLowerInvariant();
        double sign = 1;
        if (v.StartsWith('-')) { sign = -1; v = v[1..]; }
        else if (v.StartsWith('+')) v = v[1..];
        if (v == ".inf") return sign * double.PositiveInfinity;
        if (v == ".nan") return double.NaN;
        if (v.Contains(':'))
        {
            double value = 0;
            foreach (string part in v.Split(':'))
                value = value * 60 + double.Parse(part, NumberStyles.Float, CultureInfo.InvariantCulture);
            return sign * value;
        }
        if (v.StartsWith('.')) v = "0" + v;
        v = v.Replace(".e", ".0e");
        if (v.EndsWith('.')) v += "0";
        return sign * double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture);
    }
}
