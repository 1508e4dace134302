using System.Text.Json;
using AdaBits.Config;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Profiling;
using AdaBits.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>The profiler's counts (reference §6) against the reference's totals and hand counts.</summary>
public class ProfilerTests
{
    /// <summary>The reference's apps/cifar10 ResNet-20 (bits_list [5, 4, 3], switch_alpha, rescale_conv).</summary>
    internal const string ResNet20Yaml = """
        batch_size: 8
        dataset: CIFAR10
        num_classes: 10
        log_dir: ./results
        model: models.q_resnet_cifar
        depth: 20
        optimizer: sgd
        lr: 0.1
        lr_scheduler: cos_annealing_iter
        num_epochs: 1
        bits_list: [5, 4, 3]
        adaptive_training: True
        switch_alpha: True
        rescale_conv: True
        rescale: True
        clamp: True
        """;

    /// <summary>The reference's ImageNet MobileNet configs, reduced to what the profile reads.</summary>
    static string MobileNetYaml(int version, bool switchAlpha) => $"""
        batch_size: 8
        dataset: imagenet1k
        num_classes: 1000
        image_size: 224
        log_dir: ./results
        model: models.q_mobilenet_v{version}
        width_divisor: 8
        optimizer: sgd
        lr: 0.1
        lr_scheduler: cos_annealing_iter
        num_epochs: 1
        bits_list: [8, 6, 5, 4]
        adaptive_training: True
        switch_alpha: {(switchAlpha ? "True" : "False")}
        rescale: True
        clamp: True
        """;

    /// <summary>
    /// One row per model: config, then the reference totals of §6 (BN excluded, batch 1, the config's image
    /// size) as (bits key, MB, GBitOPs).
    /// </summary>
    public static TheoryData<string, string, long, long, string> ReferenceTotals => new()
    {
        { "ResNet-20 CIFAR10", ResNet20Yaml, 270_906, 40_817_280, "5:0.1696:1.0842 4:0.1359:0.7209 3:0.1022:0.4383" },
        { "MobileNet V1", MobileNetYaml(1, switchAlpha: false), 4_210_088, 568_790_528, "8:4.2132:38.5317 6:3.4171:22.9227 5:3.0191:16.7888 4:2.6211:11.7687" },
        { "MobileNet V2", MobileNetYaml(2, switchAlpha: true), 3_470_760, 300_836_992, "8:3.4746:21.3947 6:2.9274:13.2918 5:2.6538:10.1064 4:2.3802:7.4982" },
    };

    [Theory]
    [MemberData(nameof(ReferenceTotals))]
    public void TotalsMatchTheReference(string label, string yaml, long parameters, long macs, string perBits)
    {
        var config = ConfigLoader.FromYamlText(yaml, $"{label}.yml");
        var (channels, size) = ProfileInput.FromConfig(config);
        torch.manual_seed(1);
        using var model = ModelFactory.Create(config, channels, config.NumClasses ?? 10);
        var expected = perBits.Split(' ').Select(e => e.Split(':')).ToDictionary(p => p[0], p => (Mb: double.Parse(p[1]), GBitOps: double.Parse(p[2])));
        Assert.Equal(expected.Keys, config.Quant.BitsList.Select(b => b.ToString()));
        foreach (var bits in config.Quant.BitsList)
        {
            var p = ModelProfiler.Profile(model, channels, size, size, bits);
            Assert.Empty(p.Warnings);
            Assert.Equal(parameters, p.Params);
            Assert.Equal(macs, p.Macs);
            Assert.Equal(expected[bits.ToString()].Mb, Math.Round(p.MBytes, 4));
            Assert.Equal(expected[bits.ToString()].GBitOps, Math.Round(p.GBitOps, 4));
        }
    }

    [Fact]
    public void ResNet20RowsFollowThePrecisionRules()
    {
        var config = ConfigLoader.FromYamlText(ResNet20Yaml, "r20.yml");
        using var model = ModelFactory.Create(config, 3, 10);
        var p = ModelProfiler.Profile(model, 3, 32, 32, 3);
        var head = p.Layers.Single(l => l.Name == "head.0");
        // head: weights at max(bits_list) = 5, image unquantized (weight_only -> bita 32)
        Assert.Equal((5, 32, 432L, 442_368L), (head.Bitw, head.Bita, head.Params, head.Macs));
        Assert.Equal(442_368 * 5 * 32 * 1e-9, head.GBitOps, 12);
        Assert.Equal(432 * 5 / 8e6 + 3 * 4e-6, head.MBytes, 12);
        var fc = p.Layers.Single(l => l.Name == "classifier.0");
        Assert.Equal((5, 3, 650L, 640L), (fc.Bitw, fc.Bita, fc.Params, fc.Macs));
        var pool = p.Layers.Single(l => l.Name == "avgpool");
        Assert.Equal((0L, 4096L, 0.0), (pool.Params, pool.Macs, pool.MBytes));
        Assert.Equal(4096 * 1024e-9, pool.GBitOps, 12);
        // every quantized conv is called: the fused BN+PACT path is suppressed while profiling
        Assert.Equal(21, p.Layers.Count(l => l.Type == nameof(QConv2d)));
        Assert.Equal(new long[] { 1, 64, 8, 8 }, p.Layers.Single(l => l.Name == "stage_2_layer_2.body.3").OutputShape);
    }

    [Fact]
    public void BatchNormIsCountedApartFromTheTotals()
    {
        var config = ConfigLoader.FromYamlText(ResNet20Yaml, "r20.yml");
        using var model = ModelFactory.Create(config, 3, 10);
        var p = ModelProfiler.Profile(model, 3, 32, 32, 4);
        var bns = p.Layers.Where(l => l.Kind == LayerKind.BatchNorm).ToList();
        // head + 9 blocks x 2 + 2 projection shortcuts, each the copy of bits 4 (index 1)
        Assert.Equal(21, bns.Count);
        Assert.All(bns, l => Assert.EndsWith(".bn.1", l.Name));
        Assert.All(bns, l => Assert.False(l.InTotals));
        Assert.Contains(bns, l => l.Name == "head.1.bn.1");
        // channels: 16 (head) + 6x16 + 7x32 + 7x64 = 784; affine: 2C each; MACs C.H.W
        Assert.Equal(2 * 784, p.BnParams);
        Assert.Equal(16 * 1024 * 7 + 32 * 256 * 7 + 64 * 64 * 7, p.BnMacs);
        Assert.Equal(p.BnMacs * 1024e-9, p.BnGBitOps, 12);
        Assert.Equal(4e-6 * 2 * 784, p.BnMBytes, 12);
        // the totals are the reference's (conv + linear + pool only)
        Assert.Equal(270_906, p.Params);
        Assert.Equal(40_817_280, p.Macs);
        Assert.Equal(p.Layers.Where(l => l.Kind == LayerKind.Compute).Sum(l => l.Macs), p.Macs);
    }

    /// <summary>conv(3->4, k3, s2, p1, bias) -> SwitchBN(4) -> ReLU -> global avg pool -> linear(4->5, bias, bitw_min 4).</summary>
    sealed class Tiny : nn.Module<Tensor, Tensor>, AdaBits.Graph.ILowerable
    {
        readonly QConv2d conv;
        readonly SwitchableBatchNorm2d bn;
        readonly AdaptiveAvgPool2d pool;
        readonly QLinear fc;

        public Tiny(QuantOptions o, bool affine) : base(nameof(Tiny))
        {
            conv = new QConv2d(o, 3, 4, 3, stride: 2, padding: 1, bias: true);
            bn = new SwitchableBatchNorm2d(o, 4, affine);
            pool = nn.AdaptiveAvgPool2d(1);
            fc = new QLinear(o, 4, 5, bias: true, bitwMin: 4);
            register_module("conv", conv);
            register_module("bn", bn);
            register_module("pool", pool);
            register_module("fc", fc);
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var y = nn.functional.relu(bn.call(conv.call(x)));
            return fc.call(pool.call(y).flatten(1)).MoveToOuterDisposeScope();
        }

        public AdaBits.Graph.Value Lower(AdaBits.Graph.GraphBuilder g, AdaBits.Graph.Value x) =>
            g.Lower(fc, g.Flatten("flatten", g.Lower(pool, g.Relu("relu", g.Lower(bn, g.Lower(conv, x))))));
    }

    static readonly QuantOptions TinyOptions = new() { BitsList = [new Bits(4), new Bits(2)], SwitchAlpha = true };

    [Fact]
    public void TinyModelPerLayerHandCount()
    {
        using var model = new Tiny(TinyOptions, affine: true);
        var p = ModelProfiler.Profile(model, 3, 8, 8, 2, batch: 2);
        Assert.Equal(new[] { "conv", "bn.bn.1", "pool", "fc" }, p.Layers.Select(l => l.Name));

        // conv: 2x3x8x8 -> 2x4x4x4; weights 3.4.3.3 = 108 (+4 bias); MACs 108.4.4.2 = 3456 at 2x2 bits;
        // bytes 108.2/8 + 4.4 (bias) + 2.4 (alpha per bit-width) = 51 bytes
        var conv = p.Layers[0];
        Assert.Equal(("QConv2d", LayerKind.Compute), (conv.Type, conv.Kind));
        Assert.Equal(new long[] { 2, 3, 8, 8 }, conv.InputShape);
        Assert.Equal(new long[] { 2, 4, 4, 4 }, conv.OutputShape);
        Assert.Equal((2, 2, 112L, 3456L), (conv.Bitw, conv.Bita, conv.Params, conv.Macs));
        Assert.Equal(3456 * 4 * 1e-9, conv.GBitOps, 15);
        Assert.Equal(51e-6, conv.MBytes, 15);

        // BN (copy 1 of bits 2): MACs 2.4.4.4 = 128, params 2.4 = 8, BitOPs 128.32.32, bytes 4.8
        var bn = p.Layers[1];
        Assert.Equal(("BatchNorm2d", LayerKind.BatchNorm), (bn.Type, bn.Kind));
        Assert.Equal((32, 32, 8L, 128L), (bn.Bitw, bn.Bita, bn.Params, bn.Macs));
        Assert.Equal(128 * 1024e-9, bn.GBitOps, 15);
        Assert.Equal(32e-6, bn.MBytes, 15);

        // pool: MACs N.C.H_in.W_in = 2.4.4.4 = 128 at 32x32, no params, no bytes
        var pool = p.Layers[2];
        Assert.Equal(new long[] { 2, 4, 1, 1 }, pool.OutputShape);
        Assert.Equal((32, 32, 0L, 128L, 0.0), (pool.Bitw, pool.Bita, pool.Params, pool.Macs, pool.MBytes));
        Assert.Equal(128 * 1024e-9, pool.GBitOps, 15);

        // fc: 2x4 -> 2x5; weights 20 (+5 bias) at bitw max(2, 4) = 4, bita 2; MACs 4.5.2 = 40;
        // bytes 20.4/8 + 5.4 + 2.4 = 38 bytes
        var fc = p.Layers[3];
        Assert.Equal(new long[] { 2, 4 }, fc.InputShape);
        Assert.Equal(new long[] { 2, 5 }, fc.OutputShape);
        Assert.Equal((4, 2, 25L, 40L), (fc.Bitw, fc.Bita, fc.Params, fc.Macs));
        Assert.Equal(40 * 8 * 1e-9, fc.GBitOps, 15);
        Assert.Equal(38e-6, fc.MBytes, 15);

        Assert.Equal((137L, 3624L), (p.Params, p.Macs));
        Assert.Equal((3456 * 4 + 128 * 1024 + 40 * 8) * 1e-9, p.GBitOps, 15);
        Assert.Equal(89e-6, p.MBytes, 15);
        Assert.Equal((8L, 128L), (p.BnParams, p.BnMacs));
    }

    [Fact]
    public void FullPrecisionScalarAlphaAndSharedAffine()
    {
        // bits 32: 32x32 BitOPs and 32-bit weights; no switch_alpha: one 4-byte alpha; affine off: BN params 0
        var o = new QuantOptions { BitsList = [new Bits(32)] };
        using var model = new Tiny(o, affine: false);
        var p = ModelProfiler.Profile(model, 3, 8, 8, 32);
        var conv = p.Layers[0];
        Assert.Equal((32, 32), (conv.Bitw, conv.Bita));
        Assert.Equal(1728 * 1024e-9, conv.GBitOps, 15);
        Assert.Equal(108 * 4e-6 + 4 * 4e-6 + 4e-6, conv.MBytes, 15);
        Assert.Equal(0, p.BnParams);
        Assert.Equal(0.0, p.BnMBytes);
    }

    [Fact]
    public void ProfilingRestoresModeAndBits()
    {
        using var model = new Tiny(TinyOptions, affine: true);
        model.train();
        model.SetBits(4);
        ModelProfiler.Profile(model, 3, 8, 8, 2);
        Assert.True(model.training);
        Assert.All(model.modules().OfType<IBitSwitchable>(), m => Assert.Equal(new Bits(4), m.Bits));
        Assert.All(model.modules(), m => Assert.True(m.training));
    }

    [Fact]
    public void JsonKeysBitsAsWrittenInBitsList()
    {
        var o = new QuantOptions { BitsList = [new Bits(4), new Bits(2, 3)], SwitchAlpha = true };
        using var model = new Tiny(o, affine: true);
        var results = o.BitsList.Select(b => (ModelProfiler.Profile(model, 3, 8, 8, b), (LatencyResult?)new LatencyResult(1.5, null, 8))).ToList();
        using var doc = JsonDocument.Parse(ProfileReport.Json(results));
        var root = doc.RootElement;
        Assert.Equal(new[] { "input", "bits", "layers" }, root.EnumerateObject().Select(p => p.Name));
        var bits = root.GetProperty("bits");
        Assert.Equal(new[] { "4", "[2, 3]" }, bits.EnumerateObject().Select(p => p.Name));
        var four = bits.GetProperty("4");
        foreach (var key in new[] { "params", "macs", "gbitops", "mbytes", "latency_ms", "latency_ms_batch", "bn_params", "bn_macs", "bn_gbitops", "bn_mbytes" })
            Assert.True(four.TryGetProperty(key, out _), key);
        Assert.Equal(137, four.GetProperty("params").GetInt64());
        Assert.Equal(1.5, four.GetProperty("latency_ms").GetDouble());
        Assert.Equal(JsonValueKind.Null, four.GetProperty("latency_ms_batch").ValueKind);
        Assert.Equal(results[1].Item1.GBitOps, bits.GetProperty("[2, 3]").GetProperty("gbitops").GetDouble());
        var layers = root.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(8, layers.Count);
        Assert.Equal("[2, 3]", layers[4].GetProperty("bits").GetString());
        Assert.Equal("conv", layers[4].GetProperty("name").GetString());
        Assert.Equal(3, layers[4].GetProperty("bita").GetInt32());
        Assert.False(layers[5].GetProperty("in_total").GetBoolean());
        Assert.Equal(new long[] { 1, 3, 8, 8 }, layers[4].GetProperty("input_shape").EnumerateArray().Select(e => e.GetInt64()));
    }

    [Fact]
    public void TextTableHasTotalAndOptionalLayerLines()
    {
        using var model = new Tiny(TinyOptions, affine: true);
        var p = ModelProfiler.Profile(model, 3, 8, 8, 4);
        string brief = ProfileReport.Text(p, verbose: false);
        string full = ProfileReport.Text(p, verbose: true, new LatencyResult(1, 2, 8));
        Assert.Contains("Total", brief);
        Assert.DoesNotContain("bn.bn.0", brief);
        Assert.Contains("bn.bn.0", full);
        Assert.Contains("(BN, not in total)", full);
        Assert.Contains("1,728", full); // conv MACs at batch 1
        Assert.Contains("at batch 8", full);
    }

    [Fact]
    public void ImageSizeFromConfigOrDataset()
    {
        var cifar = ConfigLoader.FromYamlText(ResNet20Yaml, "r.yml");
        Assert.Equal((3, 32), ProfileInput.FromConfig(cifar));
        Assert.Equal((3, 40), ProfileInput.FromConfig(cifar with { ImageSize = 40 }));
        Assert.Equal((1, 28), ProfileInput.FromConfig(cifar with { Dataset = "FashionMNIST" }));
        Assert.Equal((3, 224), ProfileInput.FromConfig(cifar with { Dataset = "imagenet1k_val50k" }));
        Assert.Throws<ArgumentException>(() => ProfileInput.FromConfig(cifar with { Dataset = "svhn" }));
    }
}

/// <summary>`adabits profile` in-process.</summary>
[Collection("Console")]
public class ProfileCliTests() : TempFolderTests("adabits-profile-tests-")
{
    string Config()
    {
        string path = Path.Combine(dir, "r20.yml");
        File.WriteAllText(path, ProfilerTests.ResNet20Yaml);
        return path;
    }

    [Fact]
    public void JsonOutputParses()
    {
        var (code, stdout, stderr) = CliRunner.Run("profile", $"app:{Config()}", "--json", "--no-latency");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var bits = doc.RootElement.GetProperty("bits");
        Assert.Equal(new[] { "5", "4", "3" }, bits.EnumerateObject().Select(p => p.Name));
        Assert.Equal(270_906, bits.GetProperty("4").GetProperty("params").GetInt64());
        Assert.Equal(40_817_280, bits.GetProperty("3").GetProperty("macs").GetInt64());
        Assert.Equal(0.4383, Math.Round(bits.GetProperty("3").GetProperty("gbitops").GetDouble(), 4));
        Assert.Equal(JsonValueKind.Null, bits.GetProperty("5").GetProperty("latency_ms").ValueKind);
        Assert.Equal(32, doc.RootElement.GetProperty("input").GetProperty("height").GetInt32());
        Assert.NotEmpty(doc.RootElement.GetProperty("layers").EnumerateArray());
    }

    [Fact]
    public void VerbosePrintsLayersWhereverItStands()
    {
        string cfg = Config();
        var (code, stdout, stderr) = CliRunner.Run("profile", $"app:{cfg}", "--verbose", "--no-latency", "image_size=16");
        Assert.True(code == 0, stderr);
        Assert.Contains("Model profiling with 5 bits (input 1x3x16x16)", stdout);
        Assert.Contains("stage_0_layer_0.body.0", stdout);
        var (code2, stdout2, _) = CliRunner.Run("--verbose", "profile", $"app:{cfg}", "--no-latency");
        Assert.Equal(0, code2);
        Assert.Contains("stage_0_layer_0.body.0", stdout2);
        var (code3, stdout3, _) = CliRunner.Run("profile", $"app:{cfg}", "--no-latency");
        Assert.Equal(0, code3);
        Assert.DoesNotContain("stage_0_layer_0.body.0", stdout3);
        Assert.Contains("Total", stdout3);
    }

    [Fact]
    public void LatencyIsReportedPerBitWidth()
    {
        // a smoke check of the measurement path (no timing assertions)
        var (code, stdout, stderr) = CliRunner.Run("profile", $"app:{Config()}", "--json", "--warmup", "0", "--repeats", "1", "batch_size=2");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var five = doc.RootElement.GetProperty("bits").GetProperty("5");
        Assert.True(five.GetProperty("latency_ms").GetDouble() > 0);
        Assert.True(five.GetProperty("latency_ms_batch").GetDouble() > 0);
        Assert.Equal(2, five.GetProperty("latency_batch_size").GetInt32());
    }

    [Fact]
    public void UnknownOptionIsAUsageError()
    {
        var (code, _, stderr) = CliRunner.Run("profile", $"app:{Config()}", "--nope");
        Assert.Equal(2, code);
        Assert.Contains("unknown option", stderr);
    }
}
