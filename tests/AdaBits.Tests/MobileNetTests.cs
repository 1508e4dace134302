using AdaBits.Config;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// MobileNet V1 / V2 (reference §4.2-4.5) and round_width (§2.8). The key lists in Data/ come from the original
/// PyTorch code (Data/dump_mobilenet_keys.py with the ImageNet uint8 configs: bits_list [8, 6, 5, 4];
/// switch_alpha off for V1, on for V2).
/// </summary>
public class MobileNetTests
{
    static QuantOptions Opts(params int[] bits) => new() { BitsList = bits.Select(b => new Bits(b)).ToArray() };

    static QuantOptions V1Config => Opts(8, 6, 5, 4);
    static QuantOptions V2Config => Opts(8, 6, 5, 4) with { SwitchAlpha = true };

    static nn.Module<Tensor, Tensor> Create(int version, QuantOptions options, int numClasses = 1000, int inChannels = 3,
        double widthMult = 1.0, int widthDivisor = 1, bool pactFp = false, bool doubleSide = false) => version == 1
        ? new QMobileNetV1(options, numClasses, inChannels, widthMult, widthDivisor, pactFp: pactFp)
        : new QMobileNetV2(options, numClasses, inChannels, widthMult, widthDivisor, pactFp: pactFp, doubleSide: doubleSide);

    static List<(string Key, long[] Shape)> ReferenceKeys(int version) =>
        File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Data", $"mobilenet_v{version}_keys.txt"))
            .Where(l => l.Length > 0)
            .Select(l =>
            {
                var parts = l.Split(' ');
                var shape = parts.Length < 2 || parts[1].Length == 0 ? [] : parts[1].Split(',').Select(long.Parse).ToArray();
                return (parts[0], shape);
            })
            .ToList();

    // ---------------------------------------------------------------- shapes

    [Theory]
    [InlineData(1, 4)]
    [InlineData(1, 8)]
    [InlineData(1, 32)]
    [InlineData(2, 4)]
    [InlineData(2, 8)]
    [InlineData(2, 32)]
    public void ForwardShapes(int version, int bits)
    {
        torch.manual_seed(101);
        using var scope = NewDisposeScope();
        var model = Create(version, Opts(8, 4, 32));
        model.SetBits(bits).eval();
        using var _ = no_grad();
        var y = model.call(rand(1, 3, 224, 224).mul(255));
        Assert.Equal(new long[] { 1, 1000 }, y.shape);
        Assert.True(y.isfinite().all().item<bool>());
        var small = model.call(rand(2, 3, 64, 64).mul(255));
        Assert.Equal(new long[] { 2, 1000 }, small.shape);
        Assert.True(small.isfinite().all().item<bool>());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void SpatialSizeAndChannelsBeforePooling(int version)
    {
        // 224 -> 112 (head) -> ... -> 7; the features entering the pool have 1024 (V1) / 1280 (V2) channels
        torch.manual_seed(102);
        using var scope = NewDisposeScope();
        var model = Create(version, Opts(4));
        model.eval();
        var pooled = new List<long[]>();
        var pool = model.named_modules().Single(m => m.name == "avgpool").module as AdaptiveAvgPool2d;
        var handle = pool!.register_forward_pre_hook((_, x) => { pooled.Add(x.shape); return x; });
        using (no_grad()) model.call(rand(1, 3, 224, 224).mul(255));
        handle.remove();
        Assert.Equal(new long[] { 1, version == 1 ? 1024 : 1280, 7, 7 }, Assert.Single(pooled));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void OtherClassesAndInputChannels(int version)
    {
        torch.manual_seed(103);
        using var scope = NewDisposeScope();
        var model = Create(version, Opts(4), numClasses: 10, inChannels: 1, widthMult: 0.5);
        model.eval();
        using var _ = no_grad();
        Assert.Equal(new long[] { 3, 10 }, model.call(rand(3, 1, 32, 32).mul(255)).shape);
    }

    // ---------------------------------------------------------------- state dict and parameters

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void StateDictKeysAndShapesEqualTheReference(int version)
    {
        using var scope = NewDisposeScope();
        var expected = ReferenceKeys(version);
        Assert.Equal(version == 1 ? 597 : 1147, expected.Count); // guards the data file itself
        var model = Create(version, version == 1 ? V1Config : V2Config);
        var sd = model.state_dict();
        Assert.Equal(expected.Count, sd.Count);
        // Same keys, same order per kind: TorchSharp's state_dict lists all parameters, then all buffers
        // (PyTorch interleaves them module by module); the relative order within each kind is PyTorch's.
        static bool IsBuffer(string k) => k.EndsWith(".running_mean") || k.EndsWith(".running_var") || k.EndsWith(".num_batches_tracked");
        var expectedParams = expected.Select(e => e.Key).Where(k => !IsBuffer(k)).ToArray();
        var expectedBuffers = expected.Select(e => e.Key).Where(IsBuffer).ToArray();
        Assert.Equal(expectedParams, model.named_parameters().Select(p => p.name).ToArray());
        Assert.Equal(expectedBuffers, model.named_buffers().Select(b => b.name).ToArray());
        Assert.Equal(expectedParams.Concat(expectedBuffers).ToArray(), sd.Keys.ToArray());
        foreach (var (key, shape) in expected) Assert.True(shape.SequenceEqual(sd[key].shape), $"{key}: shape");

        // a hand-picked sample of the reference layout (§4.2 / §4.3)
        string[] sample = version == 1
            ?
            [
                "head.0.weight", "head.0.alpha", "head.1.bn.3.num_batches_tracked",
                "stage_0_layer_0.body.0.weight", "stage_0_layer_0.body.3.alpha", "stage_0_layer_0.body.4.bn.2.running_var",
                "stage_3_layer_5.body.4.bn.0.bias", "stage_4_layer_1.body.3.weight", "classifier.0.weight", "classifier.0.bias",
                "classifier.0.alpha",
            ]
            :
            [
                "head.0.weight", "stage_0_layer_0.body.3.weight", "stage_0_layer_0.body.4.bn.3.running_mean",
                "stage_1_layer_0.body.6.weight", "stage_1_layer_1.body.7.bn.1.weight", "stage_6_layer_0.body.7.bn.3.num_batches_tracked",
                "tail.0.weight", "tail.0.alpha", "tail.1.bn.2.bias", "classifier.0.weight", "classifier.0.alpha",
            ];
        foreach (var k in sample) Assert.True(sd.ContainsKey(k), $"missing {k}");
        Assert.False(sd.ContainsKey("stage_0_layer_0.body.6.weight")); // V1: 2 convs; V2 stage 0: t = 1, no expand
        Assert.False(sd.ContainsKey(version == 1 ? "stage_4_layer_2.body.0.weight" : "stage_6_layer_1.body.0.weight"));
        Assert.DoesNotContain(sd.Keys, k => k.Contains('<'));
        var ps = model.parameters().ToList();
        Assert.Equal(ps.Count, ps.Select(p => p.Handle).Distinct().Count());
        if (version == 1)
        {
            Assert.Equal(new long[] { 32, 3, 3, 3 }, sd["head.0.weight"].shape);
            Assert.Equal(new long[] { 512, 1, 3, 3 }, sd["stage_3_layer_2.body.0.weight"].shape); // depthwise
            Assert.Equal(new long[] { 1000, 1024 }, sd["classifier.0.weight"].shape);
        }
        else
        {
            Assert.Equal(new long[] { 144, 24, 1, 1 }, sd["stage_1_layer_1.body.0.weight"].shape); // expand 24 x 6
            Assert.Equal(new long[] { 1280, 320, 1, 1 }, sd["tail.0.weight"].shape);
            Assert.Equal(new[] { 8f, 8f, 8f, 8f }, Ref.F(sd["tail.0.alpha"]));
            Assert.Equal(new[] { 10f, 10f, 10f, 10f }, Ref.F(sd["classifier.0.alpha"]));
        }
    }

    [Theory]
    [InlineData(1, 4_210_088, 4_297_668, 28, 10_944)]
    [InlineData(2, 3_470_760, 3_607_420, 53, 17_056)]
    public void ParameterCounts(int version, long convLinear, long total, int quantLayers, long bnChannels)
    {
        using var scope = NewDisposeScope();
        var model = Create(version, version == 1 ? V1Config : V2Config);
        var modules = model.named_modules().Select(m => m.module).ToList();
        var layers = modules.OfType<QuantizedLayer>().ToList();
        // the profiler's count: conv and linear weights and biases, no BN, no alpha
        long counted = layers.Sum(l => l.weight.numel() + (l.bias?.numel() ?? 0));
        Assert.Equal(convLinear, counted);
        Assert.Equal(quantLayers, layers.Count);
        // everything (what the original's model.parameters() holds): + alpha (scalar in V1, 4 entries with
        // switch_alpha in V2) + per-bit-width BN gamma/beta (4 copies x 2 x channels)
        Assert.Equal(total, model.parameters().Sum(p => p.numel()));
        long alphas = layers.Sum(l => l.alpha.numel());
        Assert.Equal(version == 1 ? 28 : 4 * 53, alphas);
        Assert.Equal(bnChannels, modules.OfType<SwitchableBatchNorm2d>().Sum(b => b.NumFeatures));
        Assert.Equal(total, convLinear + alphas + 4 * 2 * bnChannels);
    }

    // ---------------------------------------------------------------- precision (§4.4)

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void HeadAndClassifierPrecisionAndFlags(int version)
    {
        using var scope = NewDisposeScope();
        var model = Create(version, Opts(8, 4), pactFp: true, doubleSide: true);
        model.SetBits(4);
        var convs = model.named_modules().Where(m => m.module is QConv2d).ToDictionary(m => m.name, m => (QConv2d)m.module);
        var head = convs["head.0"];
        Assert.Equal((8, 32), head.EffectiveBits()); // weights max(4, 8), image never quantized
        Assert.False(head.PactFp);
        var fc = (QLinear)model.named_modules().Single(m => m.name == "classifier.0").module;
        Assert.Equal((8, 4), fc.EffectiveBits());
        Assert.True(fc.PactFp);
        Assert.Equal((4, 4), convs["stage_1_layer_0.body.0"].EffectiveBits());
        Assert.All(convs.Where(c => c.Key != "head.0"), c => Assert.True(c.Value.PactFp, c.Key));
        model.SetBits(32);
        Assert.Equal((32, 32), head.EffectiveBits());
        Assert.Equal((32, 32), fc.EffectiveBits());
        var doubleSided = convs.Where(c => c.Value.DoubleSide).Select(c => c.Key).OrderBy(k => k).ToArray();
        if (version == 1)
        {
            Assert.Empty(doubleSided); // the reference's V1 never reads double_side
            Assert.Equal(3 * 3, convs["stage_0_layer_0.body.0"].KernelSize * convs["stage_0_layer_0.body.0"].KernelSize);
            Assert.Equal(32, convs["stage_0_layer_0.body.0"].Groups);
        }
        else
        {
            // expand convs (16 blocks with t = 6), the depthwise conv of the t = 1 block, and the tail
            Assert.Equal(18, doubleSided.Length);
            Assert.Contains("stage_0_layer_0.body.0", doubleSided);
            Assert.Contains("tail.0", doubleSided);
            Assert.Contains("stage_3_layer_2.body.0", doubleSided);
            Assert.DoesNotContain("stage_3_layer_2.body.3", doubleSided); // depthwise of a t = 6 block
            Assert.DoesNotContain(doubleSided, k => k.EndsWith(".body.6") || k == "stage_0_layer_0.body.3");
        }
    }

    // ---------------------------------------------------------------- round_width and width multiplier

    [Theory]
    [InlineData(32, 0.5, 1, 1, 16)]
    [InlineData(32, 0.75, 8, 1, 24)]
    [InlineData(24, 0.5, 8, 1, 16)] // 12 -> int(16) // 8 * 8 = 16
    [InlineData(24, 0.5, 1, 1, 12)]
    [InlineData(16, 0.35, 8, 1, 8)] // 5.6 -> int(9.6) // 8 * 8 = 8
    [InlineData(1280, 0.5, 8, 1, 640)]
    [InlineData(10, 0.9, 8, 1, 16)] // 9 -> 8, below 0.9 * 9 = 8.1 -> + 8
    [InlineData(20, 0.9, 8, 1, 24)] // 18 -> 16 < 16.2 -> 24
    [InlineData(13, 1.0, 8, 1, 16)] // a divisor changes non-multiples even at width_mult 1
    [InlineData(7, 0.0, 8, 1, 7)] // falsy multiplier: unchanged
    [InlineData(5, 0.05, 1, 1, 1)] // min_width
    [InlineData(100, 0.3, 8, 4, 32)]
    public void RoundWidthByHand(int width, double mult, int divisor, int minWidth, int expected) =>
        Assert.Equal(expected, Widths.RoundWidth(width, mult, divisor, minWidth));

    [Fact]
    public void RoundWidthNullMinWidthIsTheDivisor() => Assert.Equal(8, Widths.RoundWidth(3, 0.1, 8, null));

    [Fact]
    public void HalfWidthChannels()
    {
        using var scope = NewDisposeScope();
        var v1 = new QMobileNetV1(Opts(4), widthMult: 0.5);
        Assert.Equal(new long[] { 16, 32, 64, 64, 128, 128, 256, 256, 256, 256, 256, 256, 512, 512 }, v1.Channels);
        var sd1 = v1.state_dict();
        Assert.Equal(new long[] { 16, 3, 3, 3 }, sd1["head.0.weight"].shape);
        Assert.Equal(new long[] { 16, 1, 3, 3 }, sd1["stage_0_layer_0.body.0.weight"].shape);
        Assert.Equal(new long[] { 1000, 512 }, sd1["classifier.0.weight"].shape);

        var v2 = new QMobileNetV2(Opts(4), widthMult: 0.5);
        Assert.Equal(new long[] { 16, 8, 12, 12, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48, 80, 80, 80, 160, 640 }, v2.Channels);
        var sd2 = v2.state_dict();
        Assert.Equal(new long[] { 72, 12, 1, 1 }, sd2["stage_2_layer_0.body.0.weight"].shape); // hidden = 12 x 6
        Assert.Equal(new long[] { 640, 160, 1, 1 }, sd2["tail.0.weight"].shape);
        Assert.Equal(new long[] { 1000, 640 }, sd2["classifier.0.weight"].shape);

        var v2d8 = new QMobileNetV2(Opts(4), widthMult: 0.5, widthDivisor: 8);
        Assert.Equal(new long[] { 16, 8, 16, 16, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48, 80, 80, 80, 160, 640 }, v2d8.Channels);

        // width_mult 1 with the configs' divisor 8 is the reference layout
        var full = new QMobileNetV2(V2Config, widthDivisor: 8).state_dict();
        var expected = ReferenceKeys(2);
        Assert.All(expected, e => Assert.True(e.Shape.SequenceEqual(full[e.Key].shape), e.Key));
    }

    // ---------------------------------------------------------------- switchable BN

    [Fact]
    public void SwitchableBatchNormFollowsTheBits()
    {
        torch.manual_seed(104);
        using var scope = NewDisposeScope();
        var model = new QMobileNetV1(V1Config);
        model.train();
        var bn = (SwitchableBatchNorm2d)model.named_modules().Single(m => m.name == "stage_2_layer_1.body.4").module;
        var x = rand(2, 3, 64, 64).mul(255);
        long Tracked(int i) => bn.bn[i].num_batches_tracked!.item<long>();
        model.SetBits(4);
        Assert.Equal(3, bn.ActiveIndex);
        model.call(x);
        Assert.Equal(new long[] { 0, 0, 0, 1 }, Enumerable.Range(0, 4).Select(Tracked).ToArray());
        Assert.Equal(0.0, Ref.MaxAbs(bn.bn[0].running_mean!));
        Assert.True(Ref.MaxAbs(bn.bn[3].running_mean!) > 0);
        model.SetBits(8);
        Assert.Equal(0, bn.ActiveIndex);
        model.call(x);
        Assert.Equal(new long[] { 1, 0, 0, 1 }, Enumerable.Range(0, 4).Select(Tracked).ToArray());
        Assert.True(Ref.MaxAbs(bn.bn[0].running_mean!) > 0);
    }

    // ---------------------------------------------------------------- fast path = straightforward forward

    /// <summary>The reference's forward, layer by layer: every Sequential child in order, residuals where due.</summary>
    static Tensor Straightforward(nn.Module<Tensor, Tensor> model, Tensor x)
    {
        var y = x;
        foreach (var (name, child) in model.named_children())
        {
            switch (child)
            {
                case Sequential seq when name == "classifier":
                    y = seq.call(y.flatten(1));
                    break;
                case Sequential seq:
                    y = seq.call(y);
                    break;
                case QDepthwiseSeparableConv or QInvertedResidual:
                {
                    var body = (Sequential)child.named_children().Single(c => c.name == "body").module;
                    var r = body.call(y);
                    y = child is QInvertedResidual { ResidualConnection: true } ? r.add(y) : r;
                    break;
                }
                case AdaptiveAvgPool2d pool:
                    y = pool.call(y);
                    break;
                default:
                    throw new InvalidOperationException($"unexpected child {name}");
            }
        }
        return y;
    }

    [Theory]
    [InlineData(1, 4, false, false)]
    [InlineData(1, 32, false, false)]
    [InlineData(1, 4, true, false)]
    [InlineData(1, 32, true, false)]
    [InlineData(2, 4, false, false)]
    [InlineData(2, 32, false, false)]
    [InlineData(2, 4, true, true)]
    [InlineData(2, 32, true, true)]
    [InlineData(2, 4, false, true)]
    public void ForwardEqualsTheStraightforwardForward(int version, int bits, bool pactFp, bool doubleSide)
    {
        torch.manual_seed(105);
        using var scope = NewDisposeScope();
        var model = Create(version, Opts(8, 4, 32), numClasses: 10, widthMult: 0.5, pactFp: pactFp, doubleSide: doubleSide);
        model.SetBits(bits);
        // two unlike images (noise pools to nearly the same features): uniform noise, and a dark, sparse one
        // a private generator: other test classes draw from the global one in parallel
        using var g = new Generator(1995);
        var x = cat([rand([1, 3, 64, 64], generator: g), rand([1, 3, 64, 64], generator: g).pow(4)]).mul(255);
        // training mode (batch statistics, autograd on): the folded ReLUs must give identical values
        model.train();
        var yTrain = model.call(x);
        var refTrain = Straightforward(model, x);
        Assert.Equal(Ref.F(refTrain), Ref.F(yTrain));
        // eval with the running statistics of this batch (momentum 1), so activations spread over the clip
        // range instead of saturating at alpha or vanishing below one level (which would compare constants)
        var bns = model.named_modules().Select(m => m.module).OfType<BatchNorm2d>().ToList();
        foreach (var b in bns) b.momentum = 1.0;
        using (no_grad()) model.call(x);
        foreach (var b in bns) b.momentum = 0.1;
        model.eval();
        using (no_grad())
        {
            var yEval = model.call(x);
            var refEval = Straightforward(model, x);
            // BN + PACT fused in one pass (affine computed in double) may move a value sitting on a rounding
            // boundary by one level (a few thousandths of the output scale once it reaches the logits); a wrong
            // fold, scale or clip changes the output by a large fraction of its scale
            double scale = Math.Max(Ref.MaxAbs(refEval), 1e-6);
            Assert.True(Ref.MaxAbsDiff(refEval[0], refEval[1]) > 1e-2 * scale, "degenerate output: both samples alike");
            Assert.True(Ref.MaxAbsDiff(yEval, refEval) <= 2e-2 * scale, $"max diff {Ref.MaxAbsDiff(yEval, refEval)} vs scale {scale}");
        }
    }

    // ---------------------------------------------------------------- factory

    [Fact]
    public void ModelFactoryBuildsBoth()
    {
        using var scope = NewDisposeScope();
        var baseConfig = new TrainConfig { Quant = new() { BitsList = [new Bits(8), new Bits(4)] }, WidthMult = 0.5, WidthDivisor = 8, MinWidth = 1 };
        var v1 = ModelFactory.Create(baseConfig with { Model = "models.q_mobilenet_v1", PactFp = true }, 1, 7);
        var m1 = Assert.IsType<QMobileNetV1>(v1);
        Assert.Equal(512, m1.Channels[^1]);
        Assert.Equal(new long[] { 16, 1, 3, 3 }, m1.state_dict()["head.0.weight"].shape);
        Assert.Equal(new long[] { 7, 512 }, m1.state_dict()["classifier.0.weight"].shape);
        Assert.True(((QLinear)m1.named_modules().Single(m => m.name == "classifier.0").module).PactFp);

        var v2 = ModelFactory.Create(baseConfig with { Model = "models.q_mobilenet_v2", DoubleSide = true }, 3, 10);
        var m2 = Assert.IsType<QMobileNetV2>(v2);
        Assert.Equal(new long[] { 16, 8, 16, 16, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48, 80, 80, 80, 160, 640 }, m2.Channels);
        Assert.True(((QConv2d)m2.named_modules().Single(m => m.name == "tail.0").module).DoubleSide);
        Assert.Contains("models.q_mobilenet_v1", ModelFactory.Names);
        Assert.Contains("models.q_mobilenet_v2", ModelFactory.Names);
    }
}
