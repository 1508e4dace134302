using AdaBits.Export;
using AdaBits.Graph;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// A level placement defined here, in the test project only, and handed to the layers in QuantOptions: the
/// library's scalar, fused-kernel, torch-op, weight-code and ONNX forms all take it without a line changed.
/// </summary>
public class InjectedSchemeTests() : TempFolderTests("adabits-scheme-tests-")
{
    /// <summary>2^b equal bins on [0, 1] mapped onto original's levels: q(x) = min(floor(2^b x), 2^b - 1) / (2^b - 1).</summary>
    sealed class BinnedScheme() : QuantScheme("binned")
    {
        public static readonly BinnedScheme Instance = new();

        protected override Staircase Build(int bits) =>
            new(LevelRounding.Floor, (float)(1L << bits), 0f, (float)((1L << bits) - 1));
    }

    /// <summary>The hand formula, in double; k / (2^b - 1) with small integers rounds to the same float either way.</summary>
    static float Hand(double x, int bits)
    {
        double n = Math.Pow(2, bits);
        return (float)(Math.Min(Math.Floor(n * x), n - 1) / (n - 1));
    }

    static float[] Samples(int bits)
    {
        var xs = new List<float>();
        for (int i = 0; i <= 4096; i++) xs.Add(i / 4096f);
        // every bin edge and its float neighbours, where floor changes
        for (long k = 0; k <= 1L << bits; k++)
        {
            float e = k / (float)(1L << bits);
            xs.AddRange([e, MathF.BitDecrement(e), MathF.BitIncrement(e)]);
        }
        return xs.Where(x => x >= 0f && x <= 1f).ToArray();
    }

    [Fact]
    public void The_test_scheme_s_q_equals_the_hand_formula_in_every_form()
    {
        var scheme = BinnedScheme.Instance;
        for (int bits = 1; bits <= 8; bits++)
        {
            float[] xs = Samples(bits);
            var levels = new SortedSet<float>();
            foreach (float x in xs)
            {
                float q = scheme.Quantize(x, bits);
                Assert.True(Hand(x, bits) == q, $"{bits} bits, x = {x:R}: q = {q:R}, hand formula {Hand(x, bits):R}");
                levels.Add(q);
            }
            Assert.Equal(1 << bits, levels.Count);
            Assert.Equal(0f, levels.Min);
            Assert.Equal(1f, levels.Max);

            // torch ops (straight-through autograd function) and the fused PACT kernel against the scalar form
            using var xt = tensor(xs);
            using var ste = QuantizeSte.Apply(xt, bits, scheme);
            Assert.Equal(xs.Select(x => scheme.Quantize(x, bits)).ToArray(), Ref.F(ste));
            using var alpha = tensor(2.5f);
            using var scaled = xt.mul(3f).sub(0.5f); // some clipped below 0 and above alpha
            using var fused = Pact.Apply(scaled, alpha, bits, scheme, doubleSide: false, fused: true);
            using var plain = Pact.Apply(scaled, alpha, bits, scheme, doubleSide: false, fused: false);
            Assert.Equal(Ref.F(plain), Ref.F(fused));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => scheme.Quantize(0.5f, 0));
    }

    [Fact]
    public void A_model_with_the_test_scheme_trains_one_step_and_exports_its_levels()
    {
        var options = new QuantOptions { BitsList = [4], WeightScheme = BinnedScheme.Instance, ActScheme = BinnedScheme.Instance };
        manual_seed(15);
        using var model = new QMnistCnn(options);
        using var x = randint(0, 256, [8, 1, 28, 28]).to_type(ScalarType.Float32);
        using var y = randint(0, 10, [8], dtype: ScalarType.Int64);
        using var before = model.parameters().First().detach().clone();
        model.train();
        using (var opt = optim.SGD(model.parameters(), 0.05))
        {
            opt.zero_grad();
            using var loss = nn.functional.cross_entropy(model.call(x), y);
            Assert.True(float.IsFinite(loss.item<float>()));
            loss.backward();
            opt.step();
        }
        Assert.False(before.allclose(model.parameters().First(), rtol: 0, atol: 0), "one SGD step left the first parameter unchanged");

        // the eval weights lie on the binned levels: codes k in 0..15 with w = (2 k / 15 - 1) s
        model.eval();
        var graph = GraphBuilder.Build(model, new Bits(4), 1, 28, 28);
        var weights = graph.Nodes.OfType<ConvNode>().Select(c => c.Weight).Where(w => w.Bits == 4).ToList();
        Assert.NotEmpty(weights);
        foreach (var w in weights)
        {
            Assert.Equal((0L, 15L), w.CodeRange);
            Assert.Equal(0, w.CodeShift);
            Assert.Contains(w.Codes!, c => c == 0);
            for (int i = 0; i < w.Codes!.Length; i++)
            {
                float unscaled = 2f * Hand(w.Codes[i] / 16.0, 4) - 1f;
                Assert.Equal(w.WeightScale == 1f ? unscaled : unscaled * w.WeightScale, w.Values[i]);
                Assert.Equal(w.Scale * w.Codes[i] + w.Offset, w.Values[i], 5e-6f * Math.Max(1f, w.WeightScale));
            }
        }

        // ONNX Runtime runs the export to the TorchSharp eval logits
        using var probe = randint(0, 256, [24, 1, 28, 28], generator: new Generator(98)).to_type(ScalarType.Float32);
        float[] expected;
        using (no_grad())
        using (var e = model.call(probe))
            expected = e.contiguous().data<float>().ToArray();
        string path = Path.Combine(dir, "binned.onnx");
        OnnxExporter.Export(model, options, 4, 1, 28, 28, path);
        float[] actual = OnnxExportTests.RunOnnx(path, probe);
        OnnxExportTests.AssertLogitsAgree(expected, actual, samples: 24);

        // the integer engine has no such scheme: refused in one line naming it
        var err = Assert.Throws<NotSupportedException>(() => EngineExporter.Build(model, [new Bits(4)], 1, 28, 28));
        Assert.Contains("'binned'", err.Message);
    }
}
