using AdaBits.Graph;
using static TorchSharp.torch;

namespace AdaBits.Quantization;

/// <summary>The default activation part: PACT (Pact.Apply, fused kernel included), lowered to a PactNode.</summary>
internal sealed class PactQuantizer : IActivationQuantizer
{
    public static readonly PactQuantizer Instance = new();

    PactQuantizer() { }

    public Tensor Apply(Tensor x, Tensor alpha, PactSpec spec, bool? fused) => Pact.Apply(x, alpha, spec, fused);

    public bool IsPact => true;

    public Node Lower(float clipLevel, PactSpec spec) =>
        new PactNode(clipLevel, spec.Quantize ? spec.Bits : 0, spec.DoubleSide, spec.Scheme);
}
