using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Quantization;

/// <summary>
/// q_k as plain torch ops with a straight-through gradient (identity, no range mask). A custom
/// function rather than x + (q - x).detach(): that sum is not always bit-equal to q in float32.
/// This is the path for tensors the fused kernels do not cover (other devices, dtypes).
/// </summary>
public sealed class QuantizeSte : autograd.SingleTensorFunction<QuantizeSte>
{
    public override string Name => "QuantizeSte";

    /// <summary>q_k(x, bits, scheme) with the straight-through estimator.</summary>
    public static Tensor Apply(Tensor x, int bits, QuantScheme scheme)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        return apply(x, scheme.At(bits));
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars) =>
        ((Staircase)vars[1]).Apply((Tensor)vars[0]);

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput) =>
        [gradOutput, null!];
}
