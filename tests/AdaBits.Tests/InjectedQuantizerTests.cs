using AdaBits.Export;
using AdaBits.Graph;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// Quantizers are parts handed to the layers: a weight quantizer and an activation quantizer defined here,
/// in the test project only, train a model one step and export it to ONNX that ONNX Runtime runs to the
/// same logits. Nothing in the library knows these two types.
/// </summary>
public class InjectedQuantizerTests() : TempFolderTests("adabits-parts-tests-")
{
    /// <summary>DoReFa-style weights without tanh: w / max|w| on the scheme's levels, no rescaling.</summary>
    sealed class MaxNormWeightQuantizer : IWeightQuantizer
    {
        public int Calls;

        public (Tensor Weight, double Scale) Apply(Tensor weight, WeightSpec spec, bool? fused)
        {
            Calls++;
            using var scope = NewDisposeScope();
            var u = weight.div(weight.detach().abs().max());
            if (!spec.Quantize) return (u.MoveToOuterDisposeScope(), 1.0);
            var q = QuantizeSte.Apply(u.add(1).div(2), spec.Bits, spec.Scheme).mul(2).sub(1);
            return (q.MoveToOuterDisposeScope(), 1.0);
        }
    }

    /// <summary>A fixed-range uniform quantizer (no learned clip: alpha is ignored), original levels on [0, Range].</summary>
    sealed class FixedRangeQuantizer : IActivationQuantizer
    {
        public const float Range = 3f;
        public int Calls;

        public Tensor Apply(Tensor x, Tensor alpha, PactSpec spec, bool? fused)
        {
            if (spec.DoubleSide) throw new NotSupportedException("fixed-range quantizer is single-sided");
            Calls++;
            using var scope = NewDisposeScope();
            var u = x.clamp(0, Range).div(Range);
            var y = spec.Quantize ? QuantizeSte.Apply(u, spec.Bits, QuantScheme.Original).mul(Range) : u.mul(Range);
            return y.MoveToOuterDisposeScope();
        }

        public bool IsPact => false;

        public Node Lower(float clipLevel, PactSpec spec) =>
            new PactNode(Range, spec.Quantize ? spec.Bits : 0, false, QuantScheme.Original);
    }

    [Fact]
    public void A_weight_and_an_activation_quantizer_from_the_test_project_train_one_step_and_export()
    {
        var weights = new MaxNormWeightQuantizer();
        var acts = new FixedRangeQuantizer();
        var options = new QuantOptions { BitsList = [4], WeightQuantizer = weights, ActivationQuantizer = acts };
        var plainOptions = options with { WeightQuantizer = SatWeightQuantizer.Instance, ActivationQuantizer = PactQuantizer.Instance };
        manual_seed(5);
        using var model = new QMnistCnn(options);
        using var plain = new QMnistCnn(plainOptions);

        manual_seed(6);
        using var x = randint(0, 256, [8, 1, 28, 28]).to_type(ScalarType.Float32);
        using var y = randint(0, 10, [8], dtype: ScalarType.Int64);
        using var before = model.parameters().First().detach().clone();
        model.train();
        using (var opt = optim.SGD(model.parameters(), 0.05))
        {
            opt.zero_grad();
            using var loss = nn.functional.cross_entropy(model.call(x), y);
            loss.backward();
            opt.step();
        }
        Assert.True(weights.Calls > 0, "the injected weight quantizer was not called in training");
        Assert.True(acts.Calls > 0, "the injected activation quantizer was not called in training");
        Assert.False(before.allclose(model.parameters().First(), rtol: 0, atol: 0), "one SGD step left the first parameter unchanged");

        // The parts change the math: the same weights under the default parts give other logits.
        model.eval();
        plain.load_state_dict(model.state_dict());
        Assert.Equal(model.state_dict().Keys.OrderBy(k => k), plain.state_dict().Keys.OrderBy(k => k));
        plain.eval();
        using var probe = randint(0, 256, [24, 1, 28, 28], generator: new Generator(99)).to_type(ScalarType.Float32);
        float[] expected, other;
        using (no_grad())
        {
            using var e = model.call(probe);
            using var o = plain.call(probe);
            expected = e.contiguous().data<float>().ToArray();
            other = o.contiguous().data<float>().ToArray();
        }
        Assert.NotEqual(expected, other);

        string path = Path.Combine(dir, "parts.onnx");
        OnnxExporter.Export(model, options, 4, 1, 28, 28, path);
        float[] actual = OnnxExportTests.RunOnnx(path, probe);
        OnnxExportTests.AssertLogitsAgree(expected, actual, samples: 24);
    }
}
