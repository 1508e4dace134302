using AdaBits.Graph;
using static TorchSharp.torch;

namespace AdaBits.Quantization;

/// <summary>
/// The activation quantizer a QuantizedLayer is handed (through QuantOptions) for its input: applies the
/// clip and quantization in training and eval, and lowers itself to a graph node for export.
/// </summary>
internal interface IActivationQuantizer
{
    /// <param name="alpha">the clipping parameter as stored (the implementation decides how to use its sign)</param>
    /// <param name="fused">null: the implementation picks its fast path where it applies; false: plain torch ops.</param>
    Tensor Apply(Tensor x, Tensor alpha, PactSpec spec, bool? fused);

    /// <summary>
    /// True when this quantizer computes exactly PACT, so the shared fused kernels (BN+PACT in place,
    /// ReLU with the next PACTs) may run it; false keeps every fused path off and calls Apply.
    /// </summary>
    bool IsPact { get; }

    /// <summary>The eval-mode node this quantizer lowers to, at clipping level |alpha| = clipLevel.</summary>
    Node Lower(float clipLevel, PactSpec spec);
}
