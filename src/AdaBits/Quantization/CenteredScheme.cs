using EngineScheme = AdaBits.Inference.QuantScheme;

namespace AdaBits.Quantization;

/// <summary>
/// q(x) = (min(floor(a x), a - 1) + 1/2) / a with a = 2^b: the bin centres, symmetric about 0 after the 2 q - 1
/// weight map (added by the reference in 2022).
/// </summary>
internal sealed class CenteredScheme : QuantScheme
{
    internal static readonly CenteredScheme Instance = new();

    CenteredScheme() : base("centered") { }

    protected override Staircase Build(int bits)
    {
        float a = (float)(1L << bits);
        return new Staircase(LevelRounding.Floor, a, 0.5f, a);
    }

    internal override EngineScheme? Engine => EngineScheme.Centered;
}
