namespace AdaBits.Quantization;

/// <summary>The uniform quantizer's level placement (SAT paper; `centered` added by the reference in 2022).</summary>
public enum QuantScheme
{
    /// <summary>2^b levels {0, 1/a, ..., 1} with a = 2^b - 1, round half to even.</summary>
    Original,
    /// <summary>2^b levels {0, 1/a, ..., (a-1)/a} with a = 2^b (never reaches 1).</summary>
    Modified,
    /// <summary>2^b levels {(k + 1/2)/a} with a = 2^b (symmetric after the 2q - 1 weight map).</summary>
    Centered,
}

public static class QuantSchemes
{
    public static readonly IReadOnlyList<QuantScheme> All = [QuantScheme.Original, QuantScheme.Modified, QuantScheme.Centered];

    public static string Name(this QuantScheme scheme) => scheme switch
    {
        QuantScheme.Original => "original",
        QuantScheme.Modified => "modified",
        QuantScheme.Centered => "centered",
        _ => throw new ArgumentOutOfRangeException(nameof(scheme)),
    };

    public static QuantScheme Parse(string name, string what = "quantization scheme") => name switch
    {
        "original" => QuantScheme.Original,
        "modified" => QuantScheme.Modified,
        "centered" => QuantScheme.Centered,
        _ => throw new ArgumentException($"{what} '{name}' is not one of original, modified, centered"),
    };

    /// <summary>Bits must be a positive integer below 32 for a quantizer (32 and above means full precision).</summary>
    public static void CheckBits(int bits, string what = "bits")
    {
        if (bits < 1 || bits > 31)
            throw new ArgumentOutOfRangeException(what, bits, $"{what} must be an integer in 1..31 for the quantizer, got {bits}");
    }

    /// <summary>The quantizer's divisor a: 2^b - 1 for original, 2^b otherwise.</summary>
    internal static float Divisor(QuantScheme scheme, int bits) =>
        scheme == QuantScheme.Original ? (float)((1L << bits) - 1) : (float)(1L << bits);

    /// <summary>
    /// q_k(x, b, scheme) on one float32 value in [0, 1], computed in the same float32 order as the
    /// reference's torch ops, so the tensor kernels can be checked element by element.
    /// </summary>
    public static float Quantize(float x, int bits, QuantScheme scheme)
    {
        CheckBits(bits);
        float a = Divisor(scheme, bits);
        return QuantizeUnchecked(x, a, scheme);
    }

    internal static float QuantizeUnchecked(float x, float a, QuantScheme scheme) => scheme switch
    {
        QuantScheme.Original => MathF.Round(x * a, MidpointRounding.ToEven) / a,
        QuantScheme.Modified => MathF.Min(MathF.Floor(x * a), a - 1f) / a,
        _ => (MathF.Min(MathF.Floor(x * a), a - 1f) + 0.5f) / a,
    };
}
