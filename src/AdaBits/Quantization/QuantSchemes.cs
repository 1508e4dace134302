namespace AdaBits.Quantization;

/// <summary>The schemes a config can name, and the bit-width check every quantizer shares.</summary>
public static class QuantSchemes
{
    /// <summary>Every scheme by config name, in the order listings and plots show them. Adding a scheme: one line here.</summary>
    public static readonly IReadOnlyList<QuantScheme> All = [QuantScheme.Original, QuantScheme.Modified, QuantScheme.Centered];

    public static IReadOnlyList<string> Names { get; } = All.Select(s => s.Name).ToArray();

    public static QuantScheme Parse(string name, string what = "quantization scheme") =>
        All.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"{what} '{name}' is not one of {string.Join(", ", Names)}");

    /// <summary>Bits must be a positive integer below 32 for a quantizer (32 and above means full precision).</summary>
    public static void CheckBits(int bits, string what = "bits")
    {
        if (bits < 1 || bits > 31)
            throw new ArgumentOutOfRangeException(what, bits, $"{what} must be an integer in 1..31 for the quantizer, got {bits}");
    }
}
