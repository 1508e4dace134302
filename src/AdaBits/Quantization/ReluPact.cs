using AdaBits.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Quantization;

/// <summary>
/// A ReLU whose output y is read unquantized (a residual) and by one or two layers that apply single-sided
/// PACT to it: returns y = relu(s) and each reader's q_k = PACT_k(y), equal to a ReLU followed by Pact.Apply
/// per reader, forward and backward (ReluFanOutKernel).
/// </summary>
internal static class ReluPact
{
    /// <param name="readers">Each reader's clipping parameter as stored (|alpha| is used) and its PACT.</param>
    /// <param name="overwrite">s is a scratch tensor nothing else reads: without autograd, y may reuse it.</param>
    internal static (Tensor Y, Tensor[] Q) Apply(Tensor s, IReadOnlyList<(Tensor Alpha, PactSpec Spec)> readers,
        bool overwrite = false, bool? fused = null)
    {
        if (readers.Count is < 1 or > 2)
            throw new ArgumentException($"ReluPact takes one or two readers, got {readers.Count}");
        if (readers.Any(r => r.Spec.DoubleSide))
            throw new ArgumentException("ReluPact: a double-sided PACT does not contain the ReLU");
        using var scope = NewDisposeScope();
        var abs = readers.Select(r => r.Alpha.abs()).ToArray();
        var specs = readers.Select(r => r.Spec).ToArray();
        var (y, q) = (fused ?? TensorMemory.IsFusable(s)) ? FusedReluFanOut.Run(s, abs, specs, overwrite) : Plain(s, abs, specs);
        y.MoveToOuterDisposeScope();
        foreach (var t in q) t.MoveToOuterDisposeScope();
        return (y, q);
    }

    static (Tensor, Tensor[]) Plain(Tensor s, Tensor[] abs, PactSpec[] specs)
    {
        var y = nn.functional.relu(s);
        return (y, abs.Zip(specs, (a, spec) => Pact.Plain(y, a, spec)).ToArray());
    }
}

/// <summary>The fused ReLU fan-out as an autograd function over CPU float32 memory.</summary>
internal sealed unsafe class FusedReluFanOut : autograd.MultiTensorFunction<FusedReluFanOut>
{
    public override string Name => "FusedReluFanOut";

    internal static (Tensor, Tensor[]) Run(Tensor s, Tensor[] abs, PactSpec[] specs, bool overwrite)
    {
        TensorMemory.DisposeDeferred();
        if (is_grad_enabled() && (s.requires_grad || abs.Any(a => a.requires_grad)))
        {
            var outputs = apply([s, .. abs, specs]);
            return (outputs[0], outputs.Skip(1).ToArray());
        }
        using var sc = s.contiguous();
        var readers = Readers(abs.Select(a => a.item<float>()).ToArray(), specs);
        var y = overwrite && s.is_contiguous() ? s.alias() : empty_like(sc);
        return (y, Compute(sc, y, readers));
    }

    static PactReader[] Readers(float[] alphas, PactSpec[] specs) =>
        alphas.Zip(specs, (a, spec) => new PactReader(a, spec)).ToArray();

    static Tensor[] Compute(Tensor s, Tensor y, PactReader[] readers)
    {
        var q = readers.Select(_ => empty_like(s)).ToArray();
        ReluFanOutKernel.Forward(TensorMemory.Ptr(s), TensorMemory.Ptr(y), TensorMemory.Ptr(q[0]),
            q.Length > 1 ? TensorMemory.Ptr(q[1]) : null, s.numel(), readers[0], readers.Length > 1 ? readers[1] : default);
        return q;
    }

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var s = ((Tensor)vars[0]).contiguous();
        var specs = (PactSpec[])vars[^1];
        var readers = Readers(vars[1..^1].Select(v => ((Tensor)v).item<float>()).ToArray(), specs);
        ctx.save_for_backward([s]);
        ctx.save_data("readers", readers);
        // TorchSharp materialises an unused output's gradient from a tensor made here, which the caller's
        // dispose scope frees before the backward runs: take undefined gradients and fill them in ourselves.
        ctx.set_materialize_grads(false);
        var y = empty_like(s);
        return [y, .. Compute(s, y, readers)];
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        TensorMemory.DisposeDeferred();
        var saved = ctx.get_saved_variables();
        var s = saved[0];
        var readers = (PactReader[])ctx.get_data("readers");
        using var scope = NewDisposeScope();
        var g = gradOutputs.Select(t => t is null || t.IsInvalid ? zeros_like(s) : t.contiguous()).ToArray();
        var gs = empty_like(s).MoveToOuterDisposeScope();
        var (ga0, ga1) = ReluFanOutKernel.Backward(TensorMemory.Ptr(s), TensorMemory.Ptr(g[0]), TensorMemory.Ptr(g[1]),
            readers.Length > 1 ? TensorMemory.Ptr(g[2]) : null, TensorMemory.Ptr(gs), s.numel(), readers[0],
            readers.Length > 1 ? readers[1] : default);
        var result = new List<Tensor> { gs, tensor((float)ga0).MoveToOuterDisposeScope() };
        if (readers.Length > 1) result.Add(tensor((float)ga1).MoveToOuterDisposeScope());
        result.Add(null!);
        foreach (var t in saved) t.Dispose();
        foreach (var t in result) if (t is not null) TensorMemory.DisposeLater(t);
        return result;
    }
}
