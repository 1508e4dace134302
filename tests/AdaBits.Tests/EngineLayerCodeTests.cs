using AdaBits.Export;
using AdaBits.Inference;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// Per layer, the integer engine's activation codes against the TorchSharp fake-quant model's: every quantized layer's
/// input PACT codes (its producer's requantized output) of random-weight ResNet-20 and MobileNet V1/V2, at two
/// bit-widths. The TorchSharp codes are the model's own PACT (Pact.Apply with the layer's alpha and spec, captured by a
/// forward pre-hook) turned back into level indices, each TorchSharp layer fed the engine's input codes (see Compare).
/// The engine sums in another order than libtorch, so a value on a quantizer boundary may land one level off (a flip):
/// flips are counted and bounded (at most one level, a small share).
/// </summary>
public class EngineLayerCodeTests
{
    // Fused off: each quantized layer then receives its pre-PACT input (no ReLU+PACT or BN+PACT fused into the caller),
    // so the hook sees what the layer's own PACT quantizes; the fused paths are tested equal to these elsewhere.
    static QuantOptions Options => new() { BitsList = [8, 6, 5, 4, 3, 2], SwitchAlpha = true, Rescale = true, Fused = false };

    /// <summary>
    /// Level index k of each PACT output value v: v / alpha = q with q = k / (2^b - 1), k / 2^b or (k + 1/2) / 2^b
    /// single-sided; v / alpha = 2 q - 1 double-sided.
    /// </summary>
    static int[] Levels(Tensor q, float alpha, PactSpec spec)
    {
        double n = spec.Scheme == AdaBits.Quantization.QuantScheme.Original ? (1 << spec.Bits) - 1 : 1 << spec.Bits;
        double offset = spec.Scheme == AdaBits.Quantization.QuantScheme.Centered ? 0.5 : 0;
        return q.contiguous().data<float>().ToArray()
            .Select(v => (int)Math.Round((spec.DoubleSide ? (v / alpha + 1) / 2 : v / alpha) * n - offset)).ToArray();
    }

    /// <summary>
    /// A value the layer's PACT maps to code k: the centre of k's bin, alpha u with u = k / (2^b - 1) (the level itself,
    /// round) or (k + 1/2) / 2^b (floor schemes); alpha (2 u - 1) double-sided.
    /// </summary>
    static float Centre(int k, float alpha, PactSpec spec)
    {
        double levels = 1 << spec.Bits;
        double u = spec.Scheme == AdaBits.Quantization.QuantScheme.Original ? k / (levels - 1) : (k + 0.5) / levels;
        return (float)(alpha * (spec.DoubleSide ? 2 * u - 1 : u));
    }

    sealed record LayerResult(string Name, int Compared, int Flips, int MaxFlip, int Distinct);

    /// <summary>
    /// The engine runs first; then the TorchSharp forward, where a pre-hook on each quantized layer records the codes its
    /// own PACT gives on the incoming values and then hands the layer, instead, the centre of the engine's bin for each
    /// of the engine's input codes (a value the layer's PACT maps back to that code). So each layer of both computes
    /// from the same input codes, and a flip is one producer's, not carried from the layers before.
    /// </summary>
    static List<LayerResult> Compare(nn.Module<Tensor, Tensor> model, ModelSpec spec, InferenceSession session, Tensor x, Bits bits)
    {
        session.SetBits(bits.Weight);
        float[] images = x.contiguous().data<float>().ToArray();
        var logits = new float[(int)x.shape[0] * session.Model.OutputsPerImage];
        session.Run(images, logits);
        var engineCodes = spec.Layers.Where(l => l.InputQuant is not null).ToDictionary(l => l.Name, l => session.InputCodes(l.Name));

        var torchCodes = new Dictionary<string, int[]>();
        var removers = new List<Action>();
        foreach (var (name, module) in model.named_modules())
            if (module is QuantizedLayer layer)
            {
                string n = name;
                bool doubleSide = layer is QConv2d c && c.DoubleSide;
                var handle = layer.register_forward_pre_hook((_, input) =>
                {
                    if (layer.InputPact(doubleSide) is not var (alpha, pactSpec) || !pactSpec.Quantize) return input;
                    using var a = alpha;
                    float absAlpha = MathF.Abs(a.item<float>());
                    using (var q = Pact.Apply(input, a, pactSpec, fused: false))
                        torchCodes[n] = Levels(q, absAlpha, pactSpec);
                    if (!engineCodes.TryGetValue(n, out var codes)) return input;
                    var centres = codes.Select(k => Centre(k, absAlpha, pactSpec)).ToArray();
                    return tensor(centres, input.shape);
                });
                removers.Add(handle.remove);
            }
        // the engine has the running statistics (GraphBuilder lowers in eval mode and then restores the model's mode):
        // a model never trained (or put in eval mode) would otherwise run BN on the batch's statistics here
        model.eval();
        model.SetBits(bits);
        using (no_grad())
        using (var y = model.call(x))
            Assert.True(y.isfinite().all().item<bool>(), "the TorchSharp logits are not finite");
        foreach (var remove in removers) remove();

        var results = new List<LayerResult>();
        foreach (var (name, got) in engineCodes)
        {
            Assert.True(torchCodes.TryGetValue(name, out var expected), $"{name}: the engine quantizes its input, the TorchSharp layer does not");
            Assert.Equal(expected.Length, got.Length);
            int flips = 0, maxFlip = 0;
            for (int i = 0; i < got.Length; i++)
            {
                int d = Math.Abs(got[i] - expected[i]);
                if (d != 0) { flips++; maxFlip = Math.Max(maxFlip, d); }
            }
            results.Add(new LayerResult(name, got.Length, flips, maxFlip, got.Distinct().Count()));
        }
        Assert.Equal(torchCodes.Count, results.Count);
        return results;
    }

    /// <summary>Forward passes in training mode without gradients at every bit-width: only the BN running statistics move.</summary>
    static void WarmBatchNorm(nn.Module<Tensor, Tensor> model, QuantOptions options, int size, int passes)
    {
        manual_seed(5);
        model.train();
        using (no_grad())
            for (int p = 0; p < passes; p++)
            {
                using var scope = NewDisposeScope();
                var x = randint(0, 256, [16, 3, size, size]).to_type(ScalarType.Float32);
                foreach (var bits in options.BitsList) { model.SetBits(bits); model.call(x); }
            }
        model.eval();
    }

    [Theory]
    [InlineData("resnet20")]
    [InlineData("mobilenet_v1")]
    [InlineData("mobilenet_v2")]
    [InlineData("mobilenet_v2_double_side")]
    public void Every_layer_s_input_codes_match_the_torch_fake_quant_model_at_8_and_3_bits(string name)
    {
        var options = Options;
        manual_seed(9);
        (nn.Module<Tensor, Tensor> model, int size) = name switch
        {
            "resnet20" => ((nn.Module<Tensor, Tensor>)new QResNetCifar(options, 20), 32),
            "mobilenet_v1" => (new QMobileNetV1(options, 10, 3, widthMult: 0.25), 64),
            "mobilenet_v2" => (new QMobileNetV2(options, 10, 3, widthMult: 0.25), 64),
            _ => (new QMobileNetV2(options, 10, 3, widthMult: 0.25, doubleSide: true), 64),
        };
        using var _m = model;
        // two training steps move BN statistics, alphas and weights off their init, so codes spread over the levels;
        // MobileNet V2's weight-only head diverges at the helper's learning rate on raw pixels, so V2 keeps its random
        // weights and alphas and only gets data-driven BN statistics (at its init statistics the 3-bit codes collapse
        // to one level in most layers)
        if (name.StartsWith("mobilenet_v2")) WarmBatchNorm(model, options, size, passes: 20);
        else OnnxExportTests.TrainABit(model, options, 3, size, steps: 2);
        var spec = EngineExporter.Build(model, options.BitsList, 3, size, size);
        var engine = new InferenceModel(spec, new EngineOptions { Threads = 2, KeepTensors = true });
        using var session = engine.CreateSession(maxBatch: 4);
        manual_seed(13);
        using var x = randint(0, 256, [4, 3, size, size]).to_type(ScalarType.Float32);
        foreach (var bits in new Bits[] { 8, 3 })
        {
            var layers = Compare(model, spec, session, x, bits);
            long compared = layers.Sum(l => l.Compared), flips = layers.Sum(l => l.Flips);
            string worst = string.Join(", ", layers.OrderByDescending(l => l.Flips).Take(3).Select(l => $"{l.Name} {l.Flips}/{l.Compared}"));
            Assert.True(layers.All(l => l.MaxFlip <= 1), $"{name} at {bits} bits: a code off by more than one level ({string.Join(", ", layers.Where(l => l.MaxFlip > 1).Select(l => $"{l.Name}: {l.MaxFlip}"))})");
            Assert.True(flips <= 0.002 * compared + 2, $"{name} at {bits} bits: {flips}/{compared} codes flipped (worst: {worst})");
            // not a vacuous match: the codes use many levels (at 3 bits all 8 in most layers)
            int levels = 1 << bits.Weight;
            int spread = layers.Count(l => l.Distinct >= Math.Min(levels, 16) / 2);
            Assert.True(spread >= layers.Count / 2, $"{name} at {bits} bits: only {spread}/{layers.Count} layers use {Math.Min(levels, 16) / 2}+ levels");
        }
    }
}
