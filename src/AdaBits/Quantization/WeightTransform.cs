using AdaBits.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Quantization;

/// <summary>What the weight transform should do for one forward (reference §2.3, §2.5).</summary>
/// <param name="Bits">1..31 quantize; &gt;= 32 full precision.</param>
/// <param name="Clamp">Full precision only: tanh-normalise (true) or use the raw weight.</param>
/// <param name="TargetStd">SAT rescaling target sigma*, or null for no rescaling.</param>
/// <param name="ApplyScale">Multiply the result by s (false: the linear layer's eval mode divides its bias instead).</param>
public readonly record struct WeightSpec(int Bits, QuantScheme Scheme, bool Clamp, double? TargetStd, bool ApplyScale = true)
{
    internal bool Quantize => Bits < 32;
}

/// <summary>
/// The SAT weight transform: t = tanh(W), u = t / max|t| (the max stays in the graph), quantized as
/// 2 q((u + 1) / 2) - 1 at 1..31 bits; then the optional SAT rescale by s = sigma* / std(result),
/// std unbiased and s detached.
/// </summary>
public static class WeightTransform
{
    /// <summary>Returns the transformed weight and the rescale factor s (1 when not rescaling).</summary>
    public static (Tensor Weight, double Scale) Apply(Tensor w, WeightSpec spec, bool? fused = null)
    {
        if (spec.Quantize) QuantSchemes.CheckBits(spec.Bits);
        if (!spec.Quantize && !spec.Clamp) return Raw(w, spec);
        bool useFused = fused ?? TensorMemory.IsFusable(w);
        return useFused ? FusedWeight.Run(w, spec) : Plain(w, spec);
    }

    /// <summary>Target sigma* of the `constant` rescale type: 1/sqrt(fan-out).</summary>
    public static double ConstantTarget(long fanOut) => 1.0 / Math.Sqrt(fanOut);

    static (Tensor, double) Raw(Tensor w, WeightSpec spec)
    {
        if (spec.TargetStd is not double target) return (w.alias(), 1.0);
        double s = target / w.detach().std().item<float>();
        return (spec.ApplyScale ? w.mul(s) : w.alias(), s);
    }

    internal static (Tensor, double) Plain(Tensor w, WeightSpec spec)
    {
        using var scope = NewDisposeScope();
        var t = w.tanh();
        var u = t.div(t.abs().max());
        var result = u;
        if (spec.Quantize)
            result = QuantizeSte.Apply(u.add(1).div(2), spec.Bits, spec.Scheme).mul(2).sub(1);
        double s = 1.0;
        if (spec.TargetStd is double target)
        {
            // the reference takes s as a float32 tensor: keep its rounding
            s = (float)(target / result.detach().std().item<float>());
            if (spec.ApplyScale) result = result.mul(s);
        }
        return (result.MoveToOuterDisposeScope(), s);
    }
}

/// <summary>The fused weight transform as an autograd function over CPU float32 memory.</summary>
internal sealed unsafe class FusedWeight : autograd.MultiTensorFunction<FusedWeight>
{
    public override string Name => "FusedWeight";

    sealed class Result { public double Scale = 1.0; }

    internal static (Tensor, double) Run(Tensor w, WeightSpec spec)
    {
        TensorMemory.DisposeDeferred();
        var result = new Result();
        if (is_grad_enabled() && w.requires_grad)
            return (apply(w, spec, result)[0], result.Scale);
        using var t = w.detach().tanh();
        return (Compute(t, spec, result, out _), result.Scale);
    }

    static Tensor Compute(Tensor t, WeightSpec spec, Result result, out float m)
    {
        var y = empty_like(t);
        long n = t.numel();
        float* tp = TensorMemory.Ptr(t), yp = TensorMemory.Ptr(y);
        m = WeightKernel.MaxAbs(tp, n);
        var (sum, sumSq) = WeightKernel.Forward(tp, yp, n, m, spec.Quantize ? spec.Scheme.At(spec.Bits) : null);
        if (spec.TargetStd is double target)
        {
            double variance = (sumSq - sum * sum / n) / (n - 1);
            float s = (float)(target / (float)Math.Sqrt(Math.Max(variance, 0)));
            result.Scale = s;
            if (spec.ApplyScale) WeightKernel.Scale(yp, n, s);
        }
        return y;
    }

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var w = (Tensor)vars[0];
        var spec = (WeightSpec)vars[1];
        var result = (Result)vars[2];
        var t = w.tanh().contiguous();
        var y = Compute(t, spec, result, out float m);
        ctx.save_for_backward([t]);
        ctx.save_data("m", m);
        ctx.save_data("scale", spec.ApplyScale ? (float)result.Scale : 1f);
        return [y];
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        TensorMemory.DisposeDeferred();
        var saved = ctx.get_saved_variables();
        var t = saved[0];
        using var g = gradOutputs[0].contiguous();
        var gw = empty_like(t);
        WeightKernel.Backward(TensorMemory.Ptr(g), TensorMemory.Ptr(t), TensorMemory.Ptr(gw), t.numel(),
            (float)ctx.get_data("m"), (float)ctx.get_data("scale"));
        foreach (var s in saved) s.Dispose();
        TensorMemory.DisposeLater(gw);
        return [gw, null!, null!];
    }
}
