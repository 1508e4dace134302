using System.Text.RegularExpressions;
using EngineScheme = AdaBits.Inference.QuantScheme;

namespace AdaBits.Quantization;

/// <summary>
/// A uniform quantizer's level placement: its name (config value, run-folder part) and its
/// <see cref="Staircase"/> at each bit-width, from which every form of q is derived (scalar, fused kernels,
/// torch ops, weight codes, ONNX, the integer engine's scheme). The built-in schemes are singletons compared by
/// reference; a scheme defined elsewhere is handed to the layers in <c>QuantOptions</c>.
/// </summary>
public abstract partial class QuantScheme
{
    /// <summary>SAT's 2^b levels {0, 1/a, ..., 1}, a = 2^b - 1, round half to even.</summary>
    public static QuantScheme Original => OriginalScheme.Instance;
    /// <summary>SAT's 2^b levels {0, 1/a, ..., (a-1)/a}, a = 2^b (never reaches 1).</summary>
    public static QuantScheme Modified => ModifiedScheme.Instance;
    /// <summary>The reference's 2^b levels {(k + 1/2)/a}, a = 2^b (symmetric after the 2q - 1 weight map).</summary>
    public static QuantScheme Centered => CenteredScheme.Instance;

    protected QuantScheme(string name)
    {
        // the name is a config value and part of the run folder's name
        if (name is null || !NameRx().IsMatch(name))
            throw new ArgumentException($"scheme name '{name}' must be lower-case letters, digits, '-' (starting with a letter)", nameof(name));
        Name = name;
    }

    public string Name { get; }

    public override string ToString() => Name;

    /// <summary>The staircase at <paramref name="bits"/> (1..31, checked).</summary>
    public Staircase At(int bits)
    {
        QuantSchemes.CheckBits(bits);
        return Build(bits);
    }

    /// <summary>The staircase at bits already checked to lie in 1..31.</summary>
    protected abstract Staircase Build(int bits);

    /// <summary>The quantizer's divisor a at <paramref name="bits"/>.</summary>
    public float Divisor(int bits) => At(bits).Divisor;

    /// <summary>q(x) at <paramref name="bits"/> on one float32 value in [0, 1] (<see cref="Staircase.Quantize"/>).</summary>
    public float Quantize(float x, int bits) => At(bits).Quantize(x);

    /// <summary>The integer engine's scheme with the same levels; null where the engine has none (its export is refused).</summary>
    internal virtual EngineScheme? Engine => null;

    [GeneratedRegex("^[a-z][a-z0-9-]*$")]
    private static partial Regex NameRx();
}
