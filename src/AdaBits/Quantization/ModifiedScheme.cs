using EngineScheme = AdaBits.Inference.QuantScheme;

namespace AdaBits.Quantization;

/// <summary>q(x) = min(floor(a x), a - 1) / a with a = 2^b: 2^b levels from 0, never reaching 1 (SAT paper).</summary>
internal sealed class ModifiedScheme : QuantScheme
{
    internal static readonly ModifiedScheme Instance = new();

    ModifiedScheme() : base("modified") { }

    protected override Staircase Build(int bits)
    {
        float a = (float)(1L << bits);
        return new Staircase(LevelRounding.Floor, a, 0f, a);
    }

    internal override EngineScheme? Engine => EngineScheme.Modified;
}
