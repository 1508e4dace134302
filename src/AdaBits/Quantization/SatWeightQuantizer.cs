using static TorchSharp.torch;

namespace AdaBits.Quantization;

/// <summary>The default weight part: SAT's tanh transform, the scheme's q_k and rescaling (WeightTransform, fused kernel included).</summary>
internal sealed class SatWeightQuantizer : IWeightQuantizer
{
    public static readonly SatWeightQuantizer Instance = new();

    SatWeightQuantizer() { }

    public (Tensor Weight, double Scale) Apply(Tensor weight, WeightSpec spec, bool? fused) =>
        WeightTransform.Apply(weight, spec, fused);
}
