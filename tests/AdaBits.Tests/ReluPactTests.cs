using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// The fused ReLU fan-out (y = relu(s) read as a residual and by one or two single-sided PACTs) against a
/// ReLU followed by the plain-torch PACT of each reader: outputs, dL/ds and each dL/dalpha.
/// </summary>
public class ReluPactTests
{
    static readonly long[] Sizes = [1, 7, 17, 1000, 70001];

    sealed record Result(Tensor Y, Tensor[] Q, Tensor Gs, float[] Ga);

    static Result Run(Tensor s0, Tensor gy, Tensor[] gq, float[] alphas, PactSpec[] specs, bool fused, bool useY = true)
    {
        var s = s0.detach().clone().requires_grad_(true);
        var a = alphas.Select(v => tensor(v).requires_grad_(true)).ToArray();
        var (y, q) = ReluPact.Apply(s, a.Zip(specs, (t, spec) => (t, spec)).ToArray(), fused: fused);
        var loss = q.Zip(gq, (qk, g) => qk.mul(g).sum()).Aggregate((l, r) => l.add(r));
        if (useY) loss = loss.add(y.mul(gy).sum());
        loss.backward();
        return new Result(y.detach(), q.Select(t => t.detach()).ToArray(), s.grad!.detach().clone(), a.Select(t => t.grad!.item<float>()).ToArray());
    }

    static void Compare(long n, float[] alphas, PactSpec[] specs, bool useY = true)
    {
        using var scope = NewDisposeScope();
        var s = randn(n).mul(alphas.Max());
        if (n >= 4)
        {
            s[0] = tensor(0f);
            s[1] = tensor(alphas[0]);
            s[2] = tensor(-alphas[0]);
            s[3] = tensor(Math.Abs(alphas[^1]) / 2);
        }
        var gy = randn(n);
        var gq = specs.Select(_ => randn(n)).ToArray();
        var f = Run(s, gy, gq, alphas, specs, fused: true, useY);
        var p = Run(s, gy, gq, alphas, specs, fused: false, useY);
        string what = $"n={n} alphas=[{string.Join(",", alphas)}] {string.Join(",", specs)} useY={useY}";
        Assert.Equal(0, Ref.MaxAbsDiff(f.Y, p.Y));
        for (int k = 0; k < specs.Length; k++)
            Assert.True(Ref.MaxAbsDiff(f.Q[k], p.Q[k]) <= 1e-6 * Math.Abs(alphas[k]), $"q{k} {what}: {Ref.MaxAbsDiff(f.Q[k], p.Q[k])}");
        // dL/ds sums up to three gradients; autograd may add them in another order (1 ulp)
        Assert.True(Ref.MaxAbsDiff(f.Gs, p.Gs) <= 1e-6 * Math.Max(Ref.MaxAbs(p.Gs), 1), $"ds {what}: {Ref.MaxAbsDiff(f.Gs, p.Gs)}");
        for (int k = 0; k < specs.Length; k++)
        {
            double tol = 1e-4 * Math.Max(Math.Abs(p.Ga[k]), 1e-2 * gq[k].abs().sum().item<float>()) + 1e-6;
            Assert.True(Math.Abs(f.Ga[k] - p.Ga[k]) <= tol, $"dalpha{k} {what}: fused {f.Ga[k]} plain {p.Ga[k]}");
        }
    }

    public static IEnumerable<object[]> Schemes() => QuantSchemes.All.Select(s => new object[] { s });

    [Theory]
    [MemberData(nameof(Schemes))]
    public void One_and_two_readers_equal_relu_then_pact(QuantScheme scheme)
    {
        manual_seed(51);
        foreach (long n in Sizes)
            foreach (int bits in new[] { 1, 2, 4, 8 })
            {
                var spec = new PactSpec(false, true, scheme, bits);
                Compare(n, [2.5f], [spec]);
                Compare(n, [1.5f, -3f], [spec, new PactSpec(false, true, scheme, Math.Max(1, bits - 1))]);
            }
    }

    [Fact]
    public void Pact_fp_readers_and_an_unused_y_equal_the_plain_path()
    {
        manual_seed(52);
        var clipOnly = new PactSpec(false, false, QuantScheme.Original, 0);
        foreach (long n in Sizes)
        {
            Compare(n, [3f], [clipOnly]);
            Compare(n, [0.75f, 2f], [clipOnly, new PactSpec(false, true, QuantScheme.Modified, 3)], useY: false);
        }
    }

    [Fact]
    public void Without_autograd_y_may_overwrite_s()
    {
        manual_seed(53);
        using var scope = NewDisposeScope();
        var s = randn(3, 4, 5, 7).mul(2);
        Overwrite(s);
        Overwrite(randn(2, 7, 71, 73).mul(2)); // large enough to split across the cores
    }

    static void Overwrite(Tensor s)
    {
        var spec = new PactSpec(false, true, QuantScheme.Original, 3);
        var expectedY = nn.functional.relu(s);
        var expectedQ = Pact.Apply(expectedY, tensor(1.25f), 3, QuantScheme.Original, false, fused: false);
        using var _ = no_grad();
        var scratch = s.clone();
        var (y, q) = ReluPact.Apply(scratch, [(tensor(1.25f), spec)], overwrite: true);
        Assert.Equal(0, Ref.MaxAbsDiff(y, expectedY));
        Assert.Equal(0, Ref.MaxAbsDiff(scratch, expectedY)); // written in place
        Assert.True(Ref.MaxAbsDiff(q[0], expectedQ) <= 1e-6);
    }

    [Fact]
    public void A_double_sided_reader_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            ReluPact.Apply(randn(8), [(tensor(1f), new PactSpec(true, true, QuantScheme.Original, 4))]));
        Assert.Contains("double-sided", e.Message);
    }
}
