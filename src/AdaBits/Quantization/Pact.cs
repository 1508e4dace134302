using AdaBits.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Quantization;

/// <summary>
/// PACT activation clipping with a learned level alpha (used as |alpha|), optionally quantized
/// (reference §2.4). Single-sided: y = |a| q(min(relu(x), |a|) / |a|); double-sided:
/// y = |a| (2 q((clip(x, -|a|, |a|) / |a| + 1) / 2) - 1). Without quantization (pact_fp) y is the clip.
/// </summary>
public static class Pact
{
    /// <summary>
    /// Applies PACT to x. <paramref name="alpha"/> is the (0-d) clipping parameter as stored; its absolute
    /// value is used and its gradient gets sign(alpha). bits &gt;= 32 or quantize false: clip only.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor alpha, int bits, QuantScheme scheme, bool doubleSide, bool quantize = true,
        bool? fused = null)
    {
        quantize &= bits < 32;
        if (quantize) QuantSchemes.CheckBits(bits);
        return Apply(x, alpha, new PactSpec(doubleSide, quantize, scheme, quantize ? bits : 0), fused);
    }

    /// <summary>Applies PACT as spec says (its bits already checked) with |alpha|.</summary>
    internal static Tensor Apply(Tensor x, Tensor alpha, PactSpec spec, bool? fused = null)
    {
        using var a = alpha.abs();
        bool useFused = fused ?? TensorMemory.IsFusable(x);
        return useFused ? FusedPact.Run(x, a, spec) : Plain(x, a, spec);
    }

    /// <summary>The same math as separate torch ops (any device), in the reference's operation order.</summary>
    internal static Tensor Plain(Tensor x, Tensor a, PactSpec spec)
    {
        using var scope = NewDisposeScope();
        Tensor c;
        if (spec.DoubleSide)
        {
            var negA = a.neg();
            c = where(x.ge(a), a, where(x.le(negA), negA, x));
        }
        else c = where(x.lt(a), nn.functional.relu(x), a);
        if (!spec.Quantize) return c.MoveToOuterDisposeScope();
        var u = c.div(a);
        if (spec.DoubleSide) u = u.add(1).div(2);
        var q = QuantizeSte.Apply(u, spec.Bits, spec.Scheme);
        var y = spec.DoubleSide ? q.mul(2).sub(1).mul(a) : q.mul(a);
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>The fused PACT kernel as an autograd function over CPU float32 memory.</summary>
internal sealed unsafe class FusedPact : autograd.MultiTensorFunction<FusedPact>
{
    public override string Name => "FusedPact";

    internal static Tensor Run(Tensor x, Tensor a, PactSpec spec)
    {
        TensorMemory.DisposeDeferred();
        if (is_grad_enabled() && (x.requires_grad || a.requires_grad))
            return apply(x, a, spec)[0];
        return Compute(x, a.item<float>(), spec);
    }

    static Tensor Compute(Tensor x, float alpha, PactSpec spec)
    {
        using var xc = x.contiguous();
        var y = empty_like(xc);
        PactKernel.Forward(TensorMemory.Ptr(xc), TensorMemory.Ptr(y), xc.numel(), alpha, spec);
        return y;
    }

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = ((Tensor)vars[0]).contiguous();
        var a = (Tensor)vars[1];
        var spec = (PactSpec)vars[2];
        float alpha = a.item<float>();
        ctx.save_for_backward([x]);
        ctx.save_data("alpha", alpha);
        ctx.save_data("spec", spec);
        return [Compute(x, alpha, spec)];
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        TensorMemory.DisposeDeferred();
        var saved = ctx.get_saved_variables();
        var x = saved[0];
        float alpha = (float)ctx.get_data("alpha");
        var spec = (PactSpec)ctx.get_data("spec");
        using var g = gradOutputs[0].contiguous();
        var gx = empty_like(x);
        double ga = PactKernel.Backward(TensorMemory.Ptr(x), TensorMemory.Ptr(g), TensorMemory.Ptr(gx), x.numel(), alpha, spec);
        var gaT = tensor((float)ga);
        foreach (var t in saved) t.Dispose();
        TensorMemory.DisposeLater(gx);
        TensorMemory.DisposeLater(gaT);
        return [gx, gaT, null!];
    }
}
