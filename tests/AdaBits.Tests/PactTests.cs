using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>PACT activation transform (spec §2.4), on both the fused kernel and the plain torch path.</summary>
public class PactTests
{
    /// <summary>Runs PACT on a single value with loss = y; returns (y, dy/dx, dy/dalpha).</summary>
    static (float Y, float Dx, float Da) One(float x, float alpha, int bits, QuantScheme scheme, bool doubleSide, bool quantize, bool fused)
    {
        using var scope = NewDisposeScope();
        var xt = tensor(new[] { x }, requires_grad: true);
        var a = Ref.Scalar(alpha);
        var y = Pact.Apply(xt, a, bits, scheme, doubleSide, quantize, fused);
        y.sum().backward();
        return (y.item<float>(), xt.grad!.item<float>(), a.grad!.item<float>());
    }

    // alpha = 2, bits = 2, original (a = 3): y = 2 * round(3 * min(relu(x), 2) / 2) / 3, levels {0, 2/3, 4/3, 2}
    //   x = -1, 0      -> c = 0 -> 0
    //   x = 0.3        -> u = 0.15, 3u = 0.45 -> 0 -> 0
    //   x = 0.5        -> u = 0.25, 3u = 0.75 -> 1 -> 2/3
    //   x = 1          -> u = 0.5,  3u = 1.5  -> 2 (half to even) -> 4/3
    //   x = 1.2        -> u = 0.6,  3u = 1.8  -> 2 -> 4/3
    //   x = 1.9        -> u = 0.95, 3u = 2.85 -> 3 -> 2
    //   x = 2, 3       -> clipped to 2 -> 2
    [Theory]
    [InlineData(true, 2f)]
    [InlineData(false, 2f)]
    [InlineData(true, -2f)]
    [InlineData(false, -2f)]
    public void SingleSidedForwardByHand(bool fused, float alpha)
    {
        float[] xs = [-1f, 0f, 0.3f, 0.5f, 1f, 1.2f, 1.9f, 2f, 3f];
        double[] expected = [0, 0, 0, 2.0 / 3, 4.0 / 3, 4.0 / 3, 2, 2, 2];
        using var x = tensor(xs);
        using var a = Ref.Scalar(alpha, requiresGrad: false);
        using var y = Pact.Apply(x, a, 2, QuantScheme.Original, doubleSide: false, fused: fused);
        var ys = Ref.F(y);
        for (int i = 0; i < xs.Length; i++) Assert.Equal(expected[i], ys[i], 6);
    }

    public static IEnumerable<object[]> Combos()
    {
        foreach (bool fused in new[] { true, false })
        foreach (var s in QuantSchemes.All)
        foreach (int bits in new[] { 1, 2, 3, 4 })
        foreach (float alpha in new[] { 2f, -2f })
            yield return [fused, s, bits, alpha];
    }

    [Theory]
    [MemberData(nameof(Combos))]
    public void SingleSidedGradientsPerRegion(bool fused, QuantScheme scheme, int bits, float alpha)
    {
        float absA = Math.Abs(alpha);
        float sign = Math.Sign(alpha);
        // x <= 0: y = |a| Q(0), dy/dx = 0, dy/d|a| = Q(0) (0 for original/modified, 2^-b-1 for centered)
        double q0 = scheme == QuantScheme.Centered ? Math.Pow(2, -bits - 1) : 0.0;
        // x >= |a|: y = |a| Q(1), dy/dx = 0, dy/d|a| = Q(1) (1; 1 - 2^-b; 1 - 2^-b-1)
        double q1 = scheme.Name switch
        {
            "original" => 1.0,
            "modified" => 1.0 - Math.Pow(2, -bits),
            _ => 1.0 - Math.Pow(2, -bits - 1),
        };
        foreach (float x in new[] { -3f, -0.5f, 0f })
        {
            var (y, dx, da) = One(x, alpha, bits, scheme, false, true, fused);
            Assert.Equal(absA * q0, y, 6);
            Assert.Equal(0f, dx);
            Assert.Equal(sign * q0, da, 6);
        }
        foreach (float x in new[] { absA, absA + 0.5f, 10f })
        {
            var (y, dx, da) = One(x, alpha, bits, scheme, false, true, fused);
            Assert.Equal(absA * q1, y, 6);
            Assert.Equal(0f, dx);
            Assert.Equal(sign * q1, da, 6);
        }
        // 0 < x < |a|: y = |a| Q(u), u = x/|a|; dy/dx = 1 (STE); dy/d|a| = Q(u) - u
        foreach (float x in new[] { 1e-3f, 0.3f, 0.5f, 1f, 1.2f, 1.9f, 1.999f })
        {
            double u = x / absA;
            var (y, dx, da) = One(x, alpha, bits, scheme, false, true, fused);
            Assert.Equal(absA * Ref.Q(u, bits, scheme), y, 5);
            Assert.Equal(1f, dx);
            Assert.Equal(sign * (Ref.Q(u, bits, scheme) - u), da, 5);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SingleSidedHandValuesOfAlphaGradient(bool fused)
    {
        // alpha = 2, bits = 2:
        //   original: x = 0.5 -> Q(0.25) - 0.25 = 1/3 - 1/4 = 1/12; x = 0.3 -> 0 - 0.15 = -0.15; x = 1 -> 2/3 - 1/2 = 1/6
        //   modified (a = 4): x = 1.9 -> floor(3.8) = 3 -> 3/4 - 0.95 = -0.2; x = 1 -> 2/4 - 1/2 = 0
        //   centered (a = 4): x = 1 -> 2.5/4 - 1/2 = 0.125; x = 0.3 -> 0.5/4 - 0.15 = -0.025
        Assert.Equal(1.0 / 12, One(0.5f, 2f, 2, QuantScheme.Original, false, true, fused).Da, 6);
        Assert.Equal(-0.15, One(0.3f, 2f, 2, QuantScheme.Original, false, true, fused).Da, 6);
        Assert.Equal(1.0 / 6, One(1f, 2f, 2, QuantScheme.Original, false, true, fused).Da, 6);
        Assert.Equal(-0.2, One(1.9f, 2f, 2, QuantScheme.Modified, false, true, fused).Da, 6);
        Assert.Equal(0.0, One(1f, 2f, 2, QuantScheme.Modified, false, true, fused).Da, 6);
        Assert.Equal(0.125, One(1f, 2f, 2, QuantScheme.Centered, false, true, fused).Da, 6);
        Assert.Equal(-0.025, One(0.3f, 2f, 2, QuantScheme.Centered, false, true, fused).Da, 6);
        // sign(alpha) flips it
        Assert.Equal(-1.0 / 12, One(0.5f, -2f, 2, QuantScheme.Original, false, true, fused).Da, 6);
        // clipped: original Q(1) = 1, centered Q(0) = 1/8 at b = 2
        Assert.Equal(1.0, One(5f, 2f, 2, QuantScheme.Original, false, true, fused).Da, 6);
        Assert.Equal(0.125, One(-5f, 2f, 2, QuantScheme.Centered, false, true, fused).Da, 6);
        Assert.Equal(-0.875, One(5f, -2f, 2, QuantScheme.Centered, false, true, fused).Da, 6);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AlphaGradientSumsOverElements(bool fused)
    {
        // many elements at once (vector lanes): the alpha gradient is the sum of the per-element values
        // alpha = 2, bits = 2, original, x = 64 copies of each of {-1 (0), 0.5 (1/12), 1 (1/6), 3 (1)}
        var xs = Enumerable.Range(0, 256).Select(i => (i % 4) switch { 0 => -1f, 1 => 0.5f, 2 => 1f, _ => 3f }).ToArray();
        using var x = tensor(xs, requires_grad: true);
        using var a = Ref.Scalar(2f);
        using var y = Pact.Apply(x, a, 2, QuantScheme.Original, false, true, fused);
        using var l = y.sum();
        l.backward();
        Assert.Equal(64 * (0 + 1.0 / 12 + 1.0 / 6 + 1), a.grad!.item<float>(), 4);
        var dx = Ref.F(x.grad!);
        for (int i = 0; i < xs.Length; i++) Assert.Equal(xs[i] is 0.5f or 1f ? 1f : 0f, dx[i]);
    }

    // Double-sided, alpha = 2, bits = 2, original: y = 2 (2 Q(v) - 1), v = (clip(x, -2, 2)/2 + 1)/2
    //   x = -3, -2  -> v = 0 -> y = -2, dy/dalpha = 2Q(0) - 1 = -1, dy/dx = 0
    //   x = -0.5    -> v = 0.375, 3v = 1.125 -> 1 -> Q = 1/3 -> y = -2/3; dy/dalpha = (2/3 - 1) + 0.25 = -1/12; dy/dx = 1
    //   x = 0       -> v = 0.5, 3v = 1.5 -> 2 -> Q = 2/3 -> y = 2/3; dy/dalpha = 1/3 - 0 = 1/3; dy/dx = 1
    //   x = 1       -> v = 0.75, 3v = 2.25 -> 2 -> y = 2/3; dy/dalpha = 1/3 - 1/2 = -1/6
    //   x = 2, 3    -> v = 1 -> y = 2; dy/dalpha = 2Q(1) - 1 = 1; dy/dx = 0
    [Theory]
    [InlineData(true, 2f)]
    [InlineData(false, 2f)]
    [InlineData(true, -2f)]
    [InlineData(false, -2f)]
    public void DoubleSidedByHand(bool fused, float alpha)
    {
        float s = Math.Sign(alpha);
        (float x, double y, float dx, double da)[] cases =
        [
            (-3f, -2, 0f, -1), (-2f, -2, 0f, -1), (-0.5f, -2.0 / 3, 1f, -1.0 / 12), (0f, 2.0 / 3, 1f, 1.0 / 3),
            (1f, 2.0 / 3, 1f, -1.0 / 6), (2f, 2, 0f, 1), (3f, 2, 0f, 1),
        ];
        foreach (var c in cases)
        {
            var (y, dx, da) = One(c.x, alpha, 2, QuantScheme.Original, true, true, fused);
            Assert.Equal(c.y, y, 6);
            Assert.Equal(c.dx, dx);
            Assert.Equal(s * c.da, da, 6);
        }
    }

    [Theory]
    [MemberData(nameof(Combos))]
    public void DoubleSidedGradientsPerRegion(bool fused, QuantScheme scheme, int bits, float alpha)
    {
        float absA = Math.Abs(alpha);
        float sign = Math.Sign(alpha);
        double q0 = Ref.Q(0, bits, scheme), q1 = Ref.Q(1, bits, scheme);
        foreach (float x in new[] { -10f, -absA - 0.5f, -absA })
        {
            var (y, dx, da) = One(x, alpha, bits, scheme, true, true, fused);
            Assert.Equal(absA * (2 * q0 - 1), y, 6);
            Assert.Equal(0f, dx);
            Assert.Equal(sign * (2 * q0 - 1), da, 6);
        }
        foreach (float x in new[] { absA, absA + 0.5f, 10f })
        {
            var (y, dx, da) = One(x, alpha, bits, scheme, true, true, fused);
            Assert.Equal(absA * (2 * q1 - 1), y, 6);
            Assert.Equal(0f, dx);
            Assert.Equal(sign * (2 * q1 - 1), da, 6);
        }
        foreach (float x in new[] { -1.999f, -1.3f, -0.5f, 0f, 0.7f, 1f, 1.999f })
        {
            double c = x / absA, v = (c + 1) / 2;
            var (y, dx, da) = One(x, alpha, bits, scheme, true, true, fused);
            Assert.Equal(absA * (2 * Ref.Q(v, bits, scheme) - 1), y, 5);
            Assert.Equal(1f, dx);
            Assert.Equal(sign * ((2 * Ref.Q(v, bits, scheme) - 1) - c), da, 5);
        }
    }

    // pact_fp (no quantization): y = clip; dy/dalpha = 1 where x >= |a|, -1 where x <= -|a| (double side), else 0.
    [Theory]
    [InlineData(true, 32, false)]
    [InlineData(false, 32, false)]
    [InlineData(true, 32, true)]   // bits >= 32 with quantize:true still only clips
    [InlineData(false, 32, true)]
    [InlineData(true, 4, false)]   // pact_fp at 4 bits: quantize false
    [InlineData(false, 4, false)]
    public void PactFpClipsOnly(bool fused, int bits, bool quantize)
    {
        foreach (float alpha in new[] { 2f, -2f })
        {
            float s = Math.Sign(alpha);
            // single-sided: clip(relu(x), 2)
            (float x, float y, float dx, float da)[] single =
                [(-3f, 0f, 0f, 0f), (0f, 0f, 0f, 0f), (0.7f, 0.7f, 1f, 0f), (1.999f, 1.999f, 1f, 0f), (2f, 2f, 0f, 1f), (5f, 2f, 0f, 1f)];
            foreach (var c in single)
            {
                var r = One(c.x, alpha, bits, QuantScheme.Centered, false, quantize, fused);
                Assert.Equal(c.y, r.Y);
                Assert.Equal(c.dx, r.Dx);
                Assert.Equal(s * c.da, r.Da);
            }
            (float x, float y, float dx, float da)[] dbl =
                [(-5f, -2f, 0f, -1f), (-2f, -2f, 0f, -1f), (-0.7f, -0.7f, 1f, 0f), (0f, 0f, 1f, 0f), (1.5f, 1.5f, 1f, 0f), (2f, 2f, 0f, 1f), (5f, 2f, 0f, 1f)];
            foreach (var c in dbl)
            {
                var r = One(c.x, alpha, bits, QuantScheme.Centered, true, quantize, fused);
                Assert.Equal(c.y, r.Y);
                Assert.Equal(c.dx, r.Dx);
                Assert.Equal(s * c.da, r.Da);
            }
        }
    }

    [Fact]
    public void BadBitsThrowWhenQuantizing()
    {
        using var x = tensor(new[] { 0.5f });
        using var a = Ref.Scalar(2f, false);
        Assert.Throws<ArgumentOutOfRangeException>(() => Pact.Apply(x, a, 0, QuantScheme.Original, false));
        // bits 0 without quantization is just a clip
        using var y = Pact.Apply(x, a, 0, QuantScheme.Original, false, quantize: false);
        Assert.Equal(0.5f, y.item<float>());
    }
}
