using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>The SAT weight transform (spec §2.3, §2.5): tanh-max normalisation, quantization, rescaling.</summary>
public class WeightTransformTests
{
    static readonly WeightSpec Fp = new(32, QuantScheme.Modified, Clamp: true, TargetStd: null);

    /// <summary>loss(W) = sum(transform(W) * R) with R fixed.</summary>
    static double Loss(Tensor w, Tensor r)
    {
        using var scope = NewDisposeScope();
        var (y, _) = WeightTransform.Apply(w, Fp, fused: false);
        return y.mul(r).sum().to_type(ScalarType.Float64).item<double>();
    }

    [Fact]
    public void TanhMaxGradientMatchesCentralDifferencesInFloat64()
    {
        // W_fp = tanh(W) / max|tanh(W)| with the max in the graph: the arg-max weight gets the extra
        // -sign(t*) (1 - t*^2) / m^2 * sum(g t) term; central differences see it too.
        torch.manual_seed(11);
        using var scope = NewDisposeScope();
        var w = randn(new long[] { 4, 3, 2 }, dtype: ScalarType.Float64).mul(0.7).requires_grad_(true);
        var r = randn(new long[] { 4, 3, 2 }, dtype: ScalarType.Float64);
        var (y, s) = WeightTransform.Apply(w, Fp, fused: false);
        Assert.Equal(ScalarType.Float64, y.dtype);
        Assert.Equal(1.0, s);
        y.mul(r).sum().backward();
        var auto = Ref.D(w.grad!);

        const double eps = 1e-6;
        var flat = Ref.D(w);
        var numeric = new double[flat.Length];
        using (no_grad())
        {
            for (int i = 0; i < flat.Length; i++)
            {
                var plus = (double[])flat.Clone();
                var minus = (double[])flat.Clone();
                plus[i] += eps;
                minus[i] -= eps;
                using var wp = tensor(plus).reshape(4, 3, 2);
                using var wm = tensor(minus).reshape(4, 3, 2);
                numeric[i] = (Loss(wp, r) - Loss(wm, r)) / (2 * eps);
            }
        }
        for (int i = 0; i < flat.Length; i++) Assert.True(Math.Abs(auto[i] - numeric[i]) <= 1e-6, $"{i}: {auto[i]} vs {numeric[i]}");

        // the arg-max really carries the max's gradient: without it the gradient would be (1 - t^2) r / m
        var t = flat.Select(Math.Tanh).ToArray();
        int k = Enumerable.Range(0, t.Length).MaxBy(j => Math.Abs(t[j]));
        double m = Math.Abs(t[k]);
        var rs = Ref.D(r);
        double dot = Enumerable.Range(0, t.Length).Sum(j => rs[j] * t[j]);
        double expectedK = (rs[k] / m - Math.Sign(t[k]) * dot / (m * m)) * (1 - t[k] * t[k]);
        Assert.Equal(expectedK, auto[k], 9);
        int other = k == 0 ? 1 : 0;
        Assert.Equal(rs[other] / m * (1 - t[other] * t[other]), auto[other], 9);
    }

    [Fact]
    public void FusedFloat32GradientMatchesFloat64Autograd()
    {
        torch.manual_seed(12);
        using var scope = NewDisposeScope();
        var w64 = randn(new long[] { 8, 4, 3, 3 }, dtype: ScalarType.Float64).mul(0.3).requires_grad_(true);
        var r64 = randn(new long[] { 8, 4, 3, 3 }, dtype: ScalarType.Float64);
        var (y64, _) = WeightTransform.Apply(w64, Fp, fused: false);
        y64.mul(r64).sum().backward();

        var w32 = w64.detach().to_type(ScalarType.Float32).requires_grad_(true);
        var (y32, _) = WeightTransform.Apply(w32, Fp, fused: true);
        y32.mul(r64.to_type(ScalarType.Float32)).sum().backward();

        double gMax = Ref.MaxAbs(w64.grad!);
        Assert.True(Ref.MaxAbsDiff(w32.grad!, w64.grad!) <= 1e-4 * gMax, $"{Ref.MaxAbsDiff(w32.grad!, w64.grad!)} vs {gMax}");
        Assert.True(Ref.MaxAbsDiff(y32, y64) <= 1e-6);
        // normalised: max |W_fp| = 1
        Assert.Equal(1.0, Ref.MaxAbs(y32), 6);
    }

    [Fact]
    public void NoClampAtFullPrecisionIsTheRawWeight()
    {
        torch.manual_seed(13);
        using var w = randn(50);
        var (y, s) = WeightTransform.Apply(w, new WeightSpec(32, QuantScheme.Original, Clamp: false, TargetStd: null));
        using (y)
        {
            Assert.Equal(1.0, s);
            Assert.Equal(Ref.F(w), Ref.F(y));
        }
    }

    public static IEnumerable<object[]> QuantCases() =>
        from s in QuantSchemes.All from b in new[] { 1, 2, 3, 4, 5 } from f in new[] { true, false } select new object[] { s, b, f };

    [Theory]
    [MemberData(nameof(QuantCases))]
    public void QuantizedWeightsLieOnTheSchemeLevels(QuantScheme scheme, int bits, bool fused)
    {
        // levels of 2q - 1: original -1 + 2k/(2^b - 1); modified -1 + 2k/2^b; centered -1 + (2k + 1)/2^b, k < 2^b
        int count = 1 << bits;
        double[] levels = Enumerable.Range(0, count).Select(k => scheme.Name switch
        {
            "original" => -1 + 2.0 * k / (count - 1),
            "modified" => -1 + 2.0 * k / count,
            _ => -1 + (2.0 * k + 1) / count,
        }).ToArray();
        torch.manual_seed(14);
        using var w = randn(64, 9);
        var (y, s) = WeightTransform.Apply(w, new WeightSpec(bits, scheme, true, null), fused);
        using (y)
        {
            Assert.Equal(1.0, s);
            var used = new HashSet<int>();
            foreach (var v in Ref.F(y))
            {
                int nearest = Enumerable.Range(0, count).MinBy(k => Math.Abs(levels[k] - v));
                Assert.True(Math.Abs(levels[nearest] - v) < 1e-6, $"{v} is not a level");
                used.Add(nearest);
            }
            // the arg-max maps to u = +-1: the top (or for modified/centered at u = 1, the highest) level is used
            Assert.True(used.Count >= Math.Min(count, 2));
        }
    }

    [Theory]
    [InlineData("original", 2, true)]
    [InlineData("modified", 4, true)]
    [InlineData("centered", 3, true)]
    [InlineData("original", 2, false)]
    [InlineData("modified", 4, false)]
    [InlineData("centered", 3, false)]
    [InlineData("modified", 32, true)]
    [InlineData("modified", 32, false)]
    public void SatRescaleHitsTheTargetStd(string schemeName, int bits, bool fused)
    {
        var scheme = QuantSchemes.Parse(schemeName);
        torch.manual_seed(15);
        const double target = 0.037;
        foreach (long n in new long[] { 100, 4608, 1_000_000 })
        {
            using var scope = NewDisposeScope();
            var w = randn(n).mul(0.2);
            var (unscaled, s0) = WeightTransform.Apply(w, new WeightSpec(bits, scheme, true, null), fused);
            var (scaled, s) = WeightTransform.Apply(w, new WeightSpec(bits, scheme, true, target, ApplyScale: true), fused);
            var (notApplied, s2) = WeightTransform.Apply(w, new WeightSpec(bits, scheme, true, target, ApplyScale: false), fused);
            Assert.Equal(1.0, s0);
            // s = sigma* / std(unscaled), std unbiased (N - 1), computed here in double
            var u = Ref.D(unscaled);
            double mean = u.Average();
            double std = Math.Sqrt(u.Sum(v => (v - mean) * (v - mean)) / (n - 1));
            Assert.True(Math.Abs(s - target / std) <= 1e-6 * (target / std), $"n={n}: s={s} expected {target / std}");
            Assert.Equal(s, s2);
            // the scaled weight has unbiased std sigma*
            var sc = Ref.D(scaled);
            double meanS = sc.Average();
            double stdS = Math.Sqrt(sc.Sum(v => (v - meanS) * (v - meanS)) / (n - 1));
            Assert.True(Math.Abs(stdS - target) <= 1e-5 * target, $"n={n}: std {stdS}");
            // ApplyScale false leaves the weight unscaled but still reports s
            Assert.Equal(Ref.F(unscaled), Ref.F(notApplied));
        }
    }

    [Fact]
    public void RescaleFactorIsDetached()
    {
        // s is a constant for autograd: d/dW sum(s * Wq * r) = s * d/dW sum(Wq * r)
        torch.manual_seed(16);
        foreach (bool fused in new[] { true, false })
        {
            using var scope = NewDisposeScope();
            var w0 = randn(32, 8).mul(0.4);
            var r = randn(32, 8);
            var wa = w0.clone().requires_grad_(true);
            var (ya, s) = WeightTransform.Apply(wa, new WeightSpec(3, QuantScheme.Centered, true, 0.1), fused);
            ya.mul(r).sum().backward();
            var wb = w0.clone().requires_grad_(true);
            var (yb, _) = WeightTransform.Apply(wb, new WeightSpec(3, QuantScheme.Centered, true, null), fused);
            yb.mul(r).sum().backward();
            Assert.True(Ref.MaxAbsDiff(wa.grad!, wb.grad!.mul(s)) <= 1e-5 * Ref.MaxAbs(wa.grad!));
        }
    }

    [Fact]
    public void BadBitsThrow()
    {
        using var w = randn(4);
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTransform.Apply(w, new WeightSpec(0, QuantScheme.Original, true, null)));
    }
}
