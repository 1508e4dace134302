using static TorchSharp.torch;

namespace AdaBits.Quantization;

/// <summary>
/// The weight quantizer a QuantizedLayer is handed (through QuantOptions): maps the latent weight to the
/// weight the forward uses, and the SAT scale s. The export reads the result back as level codes of
/// spec.Scheme, so an implementation's outputs must lie on that scheme's levels (times s).
/// </summary>
internal interface IWeightQuantizer
{
    /// <param name="fused">null: the implementation picks its fast path where it applies; false: plain torch ops.</param>
    (Tensor Weight, double Scale) Apply(Tensor weight, WeightSpec spec, bool? fused);
}
