using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

public class QuantizerTests
{
    // Each row: scheme, bits, x, expected numerator k (or k + 1/2), divisor a. Expected value = k / a, in float32
    // (the quantizer computes in float32; k and a are exact, so k / a is the single rounding the code also does).
    public static TheoryData<QuantScheme, int, float, float, float> Cases => new()
    {
        // original, a = 2^b - 1, round half to even
        // b=1, a=1: 0.5 -> round(0.5) = 0 (half to even, down); 0.51 -> 1; 1 -> 1
        { QuantScheme.Original, 1, 0f, 0f, 1f },
        { QuantScheme.Original, 1, 0.49f, 0f, 1f },
        { QuantScheme.Original, 1, 0.5f, 0f, 1f },
        { QuantScheme.Original, 1, 0.51f, 1f, 1f },
        { QuantScheme.Original, 1, 1f, 1f, 1f },
        // b=2, a=3: 3*0.5 = 1.5 exactly -> 2 (even, up) -> 2/3; 3*0.1 = 0.3 -> 0; 3*0.2 = 0.6 -> 1; 3*0.9 = 2.7 -> 3
        { QuantScheme.Original, 2, 0.5f, 2f, 3f },
        { QuantScheme.Original, 2, 0.1f, 0f, 3f },
        { QuantScheme.Original, 2, 0.2f, 1f, 3f },
        { QuantScheme.Original, 2, 0.9f, 3f, 3f },
        { QuantScheme.Original, 2, 1f, 3f, 3f },
        // b=3, a=7: 7*0.5 = 3.5 -> 4 (even); 7*0.25 = 1.75 -> 2; 7*0.0625 = 0.4375 -> 0
        { QuantScheme.Original, 3, 0.5f, 4f, 7f },
        { QuantScheme.Original, 3, 0.25f, 2f, 7f },
        { QuantScheme.Original, 3, 0.0625f, 0f, 7f },
        // b=4, a=15: 15*0.5 = 7.5 -> 8 (even); 15*0.25 = 3.75 -> 4; 15*0.125 = 1.875 -> 2; 15 -> 15
        { QuantScheme.Original, 4, 0.5f, 8f, 15f },
        { QuantScheme.Original, 4, 0.25f, 4f, 15f },
        { QuantScheme.Original, 4, 0.125f, 2f, 15f },
        { QuantScheme.Original, 4, 1f, 15f, 15f },
        // modified, a = 2^b: min(floor(a x), a - 1) / a; x = 1 -> (a - 1)/a
        { QuantScheme.Modified, 1, 0f, 0f, 2f },
        { QuantScheme.Modified, 1, 0.49f, 0f, 2f },   // floor(0.98) = 0
        { QuantScheme.Modified, 1, 0.5f, 1f, 2f },    // floor(1) = 1
        { QuantScheme.Modified, 1, 1f, 1f, 2f },      // floor(2) = 2 -> clamp 1
        { QuantScheme.Modified, 2, 0.25f, 1f, 4f },
        { QuantScheme.Modified, 2, 0.74f, 2f, 4f },   // floor(2.96) = 2
        { QuantScheme.Modified, 2, 1f, 3f, 4f },      // 4 -> 3
        { QuantScheme.Modified, 3, 0.124f, 0f, 8f },  // floor(0.992) = 0
        { QuantScheme.Modified, 3, 0.125f, 1f, 8f },
        { QuantScheme.Modified, 3, 1f, 7f, 8f },
        { QuantScheme.Modified, 4, 0.5f, 8f, 16f },
        { QuantScheme.Modified, 4, 0.99f, 15f, 16f }, // floor(15.84) = 15
        { QuantScheme.Modified, 4, 1f, 15f, 16f },
        // centered: (min(floor(a x), a - 1) + 1/2) / a; never 0 or 1
        { QuantScheme.Centered, 1, 0f, 0.5f, 2f },
        { QuantScheme.Centered, 1, 0.5f, 1.5f, 2f },
        { QuantScheme.Centered, 1, 1f, 1.5f, 2f },
        { QuantScheme.Centered, 2, 0f, 0.5f, 4f },
        { QuantScheme.Centered, 2, 0.3f, 1.5f, 4f },  // floor(1.2) = 1
        { QuantScheme.Centered, 2, 1f, 3.5f, 4f },
        { QuantScheme.Centered, 3, 0.6f, 4.5f, 8f },  // floor(4.8) = 4
        { QuantScheme.Centered, 3, 1f, 7.5f, 8f },
        { QuantScheme.Centered, 4, 0.03f, 0.5f, 16f },// floor(0.48) = 0
        { QuantScheme.Centered, 4, 1f, 15.5f, 16f },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void QuantizeMatchesHandDerivedLevel(QuantScheme scheme, int bits, float x, float k, float a)
    {
        Assert.Equal(k / a, scheme.Quantize(x, bits));
        // the tensor quantizer agrees with the scalar one
        using var t = tensor(new[] { x });
        using var q = QuantizeSte.Apply(t, bits, scheme);
        Assert.Equal(k / a, q.item<float>());
    }

    [Theory]
    [InlineData("original")]
    [InlineData("modified")]
    [InlineData("centered")]
    public void LevelCountIsTwoToTheBits(string schemeName)
    {
        var scheme = QuantSchemes.Parse(schemeName);
        for (int b = 1; b <= 4; b++)
        {
            var levels = new SortedSet<float>();
            for (int i = 0; i <= 4096; i++) levels.Add(scheme.Quantize(i / 4096f, b));
            Assert.Equal(1 << b, levels.Count);
            // original reaches both ends; modified starts at 0 and never reaches 1; centered never 0 or 1
            Assert.Equal(scheme == QuantScheme.Centered ? 0.5 / (1 << b) : 0.0, levels.Min, 6);
            double top = scheme.Name switch
            {
                "original" => 1.0,
                "modified" => 1.0 - 1.0 / (1 << b),
                _ => 1.0 - 0.5 / (1 << b),
            };
            Assert.Equal(top, levels.Max, 6);
        }
    }

    // Spec §2.1 weight-view table (w = 2q - 1):
    //   b=1: original {-1, 1}; modified {-1, 0}; centered {-1/2, 1/2}
    //   b=2: original {-1, -1/3, 1/3, 1}; modified {-1, -1/2, 0, 1/2}; centered {-3/4, -1/4, 1/4, 3/4}
    //   b=3: original -1 + 2k/7; modified -1 + k/4; centered -7/8 + k/4 (k = 0..7)
    public static TheoryData<QuantScheme, int, double[]> WeightTable => new()
    {
        { QuantScheme.Original, 1, new[] { -1.0, 1.0 } },
        { QuantScheme.Modified, 1, new[] { -1.0, 0.0 } },
        { QuantScheme.Centered, 1, new[] { -0.5, 0.5 } },
        { QuantScheme.Original, 2, new[] { -1.0, -1.0 / 3, 1.0 / 3, 1.0 } },
        { QuantScheme.Modified, 2, new[] { -1.0, -0.5, 0.0, 0.5 } },
        { QuantScheme.Centered, 2, new[] { -0.75, -0.25, 0.25, 0.75 } },
        { QuantScheme.Original, 3, Enumerable.Range(0, 8).Select(k => -1 + 2.0 * k / 7).ToArray() },
        { QuantScheme.Modified, 3, Enumerable.Range(0, 8).Select(k => -1 + k / 4.0).ToArray() },
        { QuantScheme.Centered, 3, Enumerable.Range(0, 8).Select(k => -7.0 / 8 + k / 4.0).ToArray() },
    };

    [Theory]
    [MemberData(nameof(WeightTable))]
    public void WeightViewLevelsMatchSpecTable(QuantScheme scheme, int bits, double[] expected)
    {
        var levels = new SortedSet<float>();
        for (int i = 0; i <= 2000; i++)
        {
            float w = -1f + i / 1000f;
            levels.Add(2f * scheme.Quantize((w + 1f) / 2f, bits) - 1f);
        }
        Assert.Equal(expected.Length, levels.Count);
        foreach (var (e, got) in expected.Zip(levels)) Assert.Equal(e, got, 6);
        // mean of the levels: 0 for original and centered, -2^-b for modified
        double mean = levels.Average(v => (double)v);
        Assert.Equal(scheme == QuantScheme.Modified ? -Math.Pow(2, -bits) : 0.0, mean, 6);

        // the plotting sampler shows the same levels
        var f = TransferFunction.Sample(bits, QuantView.Weight);
        Assert.Equal(levels.ToArray(), f.Levels(scheme));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(32)]
    [InlineData(-1)]
    public void BadBitsThrowNamingBits(int bits)
    {
        foreach (var s in QuantSchemes.All)
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => s.Quantize(0.5f, bits));
            Assert.Equal("bits", e.ParamName);
            Assert.Contains("bits", e.Message);
            using var t = tensor(new[] { 0.5f });
            var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => QuantizeSte.Apply(t, bits, s));
            Assert.Contains("bits", e2.Message);
        }
    }

    [Fact]
    public void SchemeNamesRoundTrip()
    {
        foreach (var s in QuantSchemes.All) Assert.Equal(s, QuantSchemes.Parse(s.Name));
        Assert.Throws<ArgumentException>(() => QuantSchemes.Parse("novel"));
    }

    [Theory]
    [InlineData("original")]
    [InlineData("modified")]
    [InlineData("centered")]
    public void SteForwardIsElementwiseFormulaAndGradientIsIdentity(string schemeName)
    {
        var scheme = QuantSchemes.Parse(schemeName);
        torch.manual_seed(1234);
        for (int bits = 1; bits <= 8; bits++)
        {
            using var scope = NewDisposeScope();
            // rand in [0, 1) plus the exact ends 0 and 1
            var x = cat([rand(997), tensor(new[] { 0f, 1f, 0.5f })]).requires_grad_(true);
            var y = QuantizeSte.Apply(x, bits, scheme);
            var xs = Ref.F(x);
            var ys = Ref.F(y);
            for (int i = 0; i < xs.Length; i++)
            {
                Assert.Equal(scheme.Quantize(xs[i], bits), ys[i]);
                // and within float rounding of the independent double-precision formula (away from steps)
                double r = Ref.Q(xs[i], bits, scheme);
                Assert.True(Math.Abs(r - ys[i]) < 1e-6 || Math.Abs(Math.Abs(r - ys[i]) - 1.0 / scheme.Divisor(bits)) < 1e-6,
                    $"x={xs[i]} bits={bits}: {ys[i]} vs {r}");
            }
            // gradient = upstream gradient exactly (STE, no mask), also outside [0, 1) grid points
            var g = randn(1000);
            y.backward([g]);
            Assert.Equal(Ref.F(g), Ref.F(x.grad!));
        }
    }

    [Fact]
    public void SteGradientHasNoRangeMask()
    {
        // values outside [0, 1] still get the upstream gradient (identity, no mask)
        using var x = tensor(new[] { -0.5f, 0f, 1f, 1.5f }, requires_grad: true);
        using var y = QuantizeSte.Apply(x, 2, QuantScheme.Original);
        using var l = y.sum();
        l.backward();
        Assert.Equal(new[] { 1f, 1f, 1f, 1f }, Ref.F(x.grad!));
    }
}
