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
        QuantSchemes.CheckBits(bits);
        return apply(x, bits, scheme);
    }

    internal static Tensor Levels(Tensor x, int bits, QuantScheme scheme)
    {
        double a = QuantSchemes.Divisor(scheme, bits);
        using var ax = x.mul(a);
        if (scheme == QuantScheme.Original)
        {
            using var r = ax.round();
            return r.div(a);
        }
        using var f = ax.floor();
        using var c = f.clamp_max(a - 1);
        if (scheme == QuantScheme.Centered)
        {
            using var h = c.add(0.5);
            return h.div(a);
        }
        return c.div(a);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars) =>
        Levels((Tensor)vars[0], (int)vars[1], (QuantScheme)vars[2]);

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput) =>
        [gradOutput, null!, null!];
}
