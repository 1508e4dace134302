using AdaBits.Kernels;
using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// The fused CPU kernels against the plain torch-op path, on sizes that exercise the scalar tail, the vector
/// body and the two-way parallel split (ParallelRanges splits at 2^15 elements per part).
/// </summary>
public class FusedKernelTests
{
    static readonly long[] Sizes = [1, 7, 15, 17, 33, 1000, 70001];

    sealed record PactResult(Tensor Y, Tensor Gx, float Ga) : IDisposable
    {
        public void Dispose() { Y.Dispose(); Gx.Dispose(); }
    }

    static PactResult RunPact(Tensor x0, Tensor g, float alpha, int bits, QuantScheme scheme, bool doubleSide, bool quantize, bool fused)
    {
        using var scope = NewDisposeScope();
        var x = x0.detach().clone().requires_grad_(true);
        var a = Ref.Scalar(alpha);
        var y = Pact.Apply(x, a, bits, scheme, doubleSide, quantize, fused);
        y.mul(g).sum().backward();
        return new PactResult(y.detach().MoveToOuterDisposeScope(), x.grad!.detach().clone().MoveToOuterDisposeScope(), a.grad!.item<float>());
    }

    static void ComparePact(long n, float alpha, int bits, QuantScheme scheme, bool doubleSide, bool quantize)
    {
        using var scope = NewDisposeScope();
        // x spread over both clip regions and the inside; a few exact boundary values too
        var x = randn(n).mul(alpha);
        if (n >= 4)
        {
            x[0] = tensor(0f);
            x[1] = tensor(alpha);
            x[2] = tensor(-alpha);
            x[3] = tensor(alpha / 2);
        }
        var g = randn(n);
        using var f = RunPact(x, g, alpha, bits, scheme, doubleSide, quantize, fused: true);
        using var p = RunPact(x, g, alpha, bits, scheme, doubleSide, quantize, fused: false);
        string what = $"n={n} bits={bits} {scheme} double={doubleSide} quantize={quantize}";
        // forward: the same float32 operations, so equal
        Assert.True(Ref.MaxAbsDiff(f.Y, p.Y) <= 1e-6 * alpha, $"forward {what}: {Ref.MaxAbsDiff(f.Y, p.Y)}");
        // input gradient: g inside the clip range, 0 elsewhere, on both paths
        Assert.True(Ref.MaxAbsDiff(f.Gx, p.Gx) <= 1e-4 * Math.Max(Ref.MaxAbs(p.Gx), 1e-3), $"dx {what}: {Ref.MaxAbsDiff(f.Gx, p.Gx)}");
        // alpha gradient: a sum over n terms (double accumulation in the kernel, float in torch)
        double sumAbsG = g.abs().sum().item<float>();
        double tol = 1e-4 * Math.Max(Math.Abs(p.Ga), 1e-2 * sumAbsG) + 1e-6;
        Assert.True(Math.Abs(f.Ga - p.Ga) <= tol, $"dalpha {what}: fused {f.Ga} plain {p.Ga}");
    }

    public static IEnumerable<object[]> SchemeAndSide() =>
        from s in QuantSchemes.All from d in new[] { false, true } select new object[] { s, d };

    [Theory]
    [MemberData(nameof(SchemeAndSide))]
    public void PactFusedEqualsPlain(QuantScheme scheme, bool doubleSide)
    {
        torch.manual_seed(42);
        foreach (long n in Sizes)
            for (int bits = 1; bits <= 8; bits++)
                ComparePact(n, 2.5f, bits, scheme, doubleSide, quantize: true);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PactFpFusedEqualsPlain(bool doubleSide)
    {
        torch.manual_seed(43);
        foreach (long n in Sizes)
        {
            ComparePact(n, 3f, 4, QuantScheme.Original, doubleSide, quantize: false);
            ComparePact(n, 0.75f, 32, QuantScheme.Centered, doubleSide, quantize: true); // bits 32: clip only
        }
    }

    [Fact]
    public void PactFusedEqualsPlainWithNegativeAlphaAndMatrixInput()
    {
        torch.manual_seed(44);
        using var scope = NewDisposeScope();
        // a non-contiguous 4-d activation (transposed), negative alpha
        var x = randn(3, 5, 9, 11).mul(2).transpose(1, 3);
        var g = randn(3, 11, 9, 5);
        using var f = RunPact(x, g, -1.7f, 3, QuantScheme.Centered, false, true, fused: true);
        using var p = RunPact(x, g, -1.7f, 3, QuantScheme.Centered, false, true, fused: false);
        Assert.Equal(p.Y.shape, f.Y.shape);
        Assert.True(Ref.MaxAbsDiff(f.Y, p.Y) <= 1e-6 * 1.7);
        Assert.True(Ref.MaxAbsDiff(f.Gx, p.Gx) <= 1e-6);
        Assert.True(Math.Abs(f.Ga - p.Ga) <= 1e-4 * Math.Max(1, Math.Abs(p.Ga)), $"{f.Ga} vs {p.Ga}");
        Assert.True(p.Ga != 0);
    }

    [Theory]
    [MemberData(nameof(SchemeAndSide))]
    public void PactFusedEqualsPlainWithoutAutograd(QuantScheme scheme, bool doubleSide)
    {
        // the forward without autograd: no autograd function, no saved input
        torch.manual_seed(45);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (long n in Sizes)
        {
            var x = randn(n).mul(2);
            var a = Ref.Scalar(1.5f);
            var f = Pact.Apply(x, a, 3, scheme, doubleSide, fused: true);
            var p = Pact.Apply(x, a, 3, scheme, doubleSide, fused: false);
            Assert.True(Ref.MaxAbsDiff(f, p) <= 1e-6 * 1.5, $"n={n}: {Ref.MaxAbsDiff(f, p)}");
        }
    }

    sealed record WeightResult(Tensor Y, double Scale, Tensor Gw) : IDisposable
    {
        public void Dispose() { Y.Dispose(); Gw.Dispose(); }
    }

    static WeightResult RunWeight(Tensor w0, Tensor g, WeightSpec spec, bool fused)
    {
        using var scope = NewDisposeScope();
        var w = w0.detach().clone().requires_grad_(true);
        var (y, s) = WeightTransform.Apply(w, spec, fused);
        y.mul(g).sum().backward();
        return new WeightResult(y.detach().MoveToOuterDisposeScope(), s, w.grad!.detach().clone().MoveToOuterDisposeScope());
    }

    static void CompareWeight(long n, WeightSpec spec)
    {
        using var scope = NewDisposeScope();
        var w = randn(n).mul(0.5);
        var g = randn(n);
        using var f = RunWeight(w, g, spec, fused: true);
        using var p = RunWeight(w, g, spec, fused: false);
        string what = $"n={n} {spec}";
        double yMax = Math.Max(Ref.MaxAbs(p.Y), 1e-12);
        if (spec.TargetStd is null) Assert.Equal(1.0, f.Scale);
        Assert.True(Math.Abs(f.Scale - p.Scale) <= 1e-6 * Math.Abs(p.Scale), $"scale {what}: {f.Scale} vs {p.Scale}");
        // unscaled outputs are the same float32 operations; a scaled one differs only through s (1e-6 relative)
        double fwdTol = spec.TargetStd is not null && spec.ApplyScale ? 2e-6 * yMax : 1e-7 * yMax;
        Assert.True(Ref.MaxAbsDiff(f.Y, p.Y) <= fwdTol, $"forward {what}: {Ref.MaxAbsDiff(f.Y, p.Y)}");
        // relative to the largest gradient, or to the size of the summed terms g (1 - t^2) / m where the true
        // gradient vanishes (n = 1: u = t / |t| is constant, both paths give 0 up to rounding)
        double m = Ref.MaxAbs(w.tanh());
        double gMax = Math.Max(Ref.MaxAbs(p.Gw), Ref.MaxAbs(g) * (spec.ApplyScale ? p.Scale : 1.0) / m);
        Assert.True(Ref.MaxAbsDiff(f.Gw, p.Gw) <= 1e-5 * gMax, $"grad {what}: {Ref.MaxAbsDiff(f.Gw, p.Gw)} (max {gMax})");
    }

    [Theory]
    [InlineData("original")]
    [InlineData("modified")]
    [InlineData("centered")]
    public void WeightTransformFusedEqualsPlain(string schemeName)
    {
        var scheme = QuantSchemes.Parse(schemeName);
        torch.manual_seed(7);
        foreach (long n in Sizes)
            foreach (int bits in new[] { 1, 2, 3, 4, 5, 6, 7, 8, 32 })
            {
                CompareWeight(n, new WeightSpec(bits, scheme, Clamp: true, TargetStd: null));
                if (n < 15) continue; // the unbiased std needs n >= 2; a 7-element 1-bit weight can be constant
                CompareWeight(n, new WeightSpec(bits, scheme, Clamp: true, TargetStd: 0.05, ApplyScale: true));
                CompareWeight(n, new WeightSpec(bits, scheme, Clamp: true, TargetStd: 0.05, ApplyScale: false));
            }
    }
}
