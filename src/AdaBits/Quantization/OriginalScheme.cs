using EngineScheme = AdaBits.Inference.QuantScheme;

namespace AdaBits.Quantization;

/// <summary>q(x) = round(a x) / a with a = 2^b - 1, half to even: 2^b levels including 0 and 1 (SAT paper).</summary>
internal sealed class OriginalScheme : QuantScheme
{
    internal static readonly OriginalScheme Instance = new();

    OriginalScheme() : base("original") { }

    protected override Staircase Build(int bits)
    {
        float a = (float)((1L << bits) - 1);
        return new Staircase(LevelRounding.HalfEven, a, 0f, a);
    }

    internal override EngineScheme? Engine => EngineScheme.Original;
}
