using AdaBits.Kernels;
using AdaBits.Modules;
using AdaBits.Quantization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Models;

/// <summary>
/// A residual block's output before its last batch norm, the add and the ReLU: bn(z) + residual, where the
/// residual is a shortcut's bn(r), or the block input r itself (null for a run of units without one, e.g.
/// the ResNet head). Held back by ConvUnits.Forward(links) so that the next layers' input quantization can
/// run in the same pass.
/// </summary>
internal sealed record ResidualSum(Tensor Z, SwitchableBatchNorm2d Bn, Tensor? Residual, SwitchableBatchNorm2d? ResidualBn)
{
    /// <summary>bn(z) + residual through the modules.</summary>
    public Tensor Sum()
    {
        var s = Bn.call(Z);
        return Residual is null ? s : s.add_(ResidualBn is null ? Residual : ResidualBn.call(Residual));
    }

    /// <summary>
    /// y = relu(sum), and each reader's PACT of y where every reader clips single-sided (else null): in
    /// inference one pass over z (ReluFanOutKernel.ForwardAffine), in training the sum, then ReluPact.
    /// Without a ReLU (a linear bottleneck's add), y is the sum and every reader quantizes it itself.
    /// </summary>
    public (Tensor Y, Tensor[]? Quantized) ReluThenQuantize(ReLU? relu, IReadOnlyList<QConv2d> readers)
    {
        if (relu is null) return (Sum(), null);
        var pacts = readers.Select(c => c.SamePadding || c.DoubleSide ? null : c.InputPact(false)).ToArray();
        try
        {
            bool fanOut = pacts.Length > 0 && pacts.All(p => p is not null);
            var specs = fanOut ? pacts.Select(p => p!.Value).ToArray() : [];
            if (InferenceFusable(specs)) return Fused(specs);
            var s = Sum();
            if (!fanOut) return (relu.call(s), null);
            var (y, q) = ReluPact.Apply(s, specs, overwrite: true);
            return (y, q);
        }
        finally
        {
            foreach (var p in pacts) p?.Alpha.Dispose();
        }
    }

    unsafe bool InferenceFusable((Tensor Alpha, PactSpec Spec)[] specs)
    {
        if (Bn.training || (ResidualBn?.training ?? false) || !TensorMemory.IsFusable(Z)) return false;
        if (is_grad_enabled() && (Z.requires_grad || (Residual?.requires_grad ?? false) || specs.Any(p => p.Alpha.requires_grad)))
            return false;
        return Z.dim() == 4 && Z.is_contiguous() && Z.shape[1] == Bn.NumFeatures
            && (Residual is null || (Residual.is_contiguous() && Residual.shape.SequenceEqual(Z.shape) && TensorMemory.IsFusable(Residual)
                && TensorMemory.Ptr(Residual) != TensorMemory.Ptr(Z))); // 0-bit convs pass their input through
    }

    unsafe (Tensor, Tensor[]?) Fused((Tensor Alpha, PactSpec Spec)[] specs)
    {
        var (scale, shift) = Bn.EvalAffine();
        (float[]? rScale, float[]? rShift) = ResidualBn is null ? (null, null) : ResidualBn.EvalAffine();
        var readers = specs.Select(p => new PactReader(MathF.Abs(p.Alpha.item<float>()), p.Spec)).ToArray();
        var q = readers.Select(_ => empty_like(Z)).ToArray();
        ReluFanOutKernel.ForwardAffine(TensorMemory.Ptr(Z), scale, shift, Residual is null ? null : TensorMemory.Ptr(Residual),
            rScale, rShift, q.Length > 0 ? TensorMemory.Ptr(q[0]) : null, q.Length > 1 ? TensorMemory.Ptr(q[1]) : null,
            Z.shape[0] * Z.shape[1], Z.shape[2] * Z.shape[3], readers.Length > 0 ? readers[0] : default,
            readers.Length > 1 ? readers[1] : default);
        return (Z.alias(), q.Length > 0 ? q : null);
    }
}
