using System.Text.Json;
using AdaBits.Export;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Quantization;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// ONNX export: ONNX Runtime on the exported graph reproduces the TorchSharp eval forward at the exported
/// bit-width; weights are stored as 4-/8-bit integer codes; wrong bits fail clearly.
/// </summary>
public partial class OnnxExportTests() : TempFolderTests("adabits-onnx-tests-")
{
    internal static QuantOptions MnistOptions => new() { BitsList = [8, 6, 5, 4], SwitchAlpha = true, Rescale = true };

    /// <summary>A few joint training steps on random raw-pixel data, so BN statistics and alphas leave their init.</summary>
    internal static void TrainABit(nn.Module<Tensor, Tensor> model, QuantOptions options, long channels, long size, int steps = 4, int seed = 3)
    {
        manual_seed(seed);
        model.train();
        using var opt = optim.SGD(model.parameters(), 0.05, momentum: 0.9);
        for (int s = 0; s < steps; s++)
        {
            using var scope = NewDisposeScope();
            var x = randint(0, 256, [16, channels, size, size]).to_type(ScalarType.Float32);
            var y = randint(0, 10, [16], dtype: ScalarType.Int64);
            opt.zero_grad();
            foreach (var bits in options.BitsList)
            {
                model.SetBits(bits);
                nn.functional.cross_entropy(model.call(x), y).backward();
            }
            opt.step();
        }
        model.eval();
    }

    /// <summary>
    /// ORT's logits against TorchSharp's, per sample: within 1e-2 of the logit range, and beyond 1e-4 of it for at
    /// most 2 samples (a value at a rounding boundary may pick the neighbouring code in ORT).
    /// </summary>
    internal static void AssertLogitsAgree(float[] expected, float[] actual, int samples)
    {
        Assert.Equal(expected.Length, actual.Length);
        double range = expected.Max() - expected.Min();
        Assert.True(range > 0);
        int classes = expected.Length / samples, over = 0;
        for (int i = 0; i < samples; i++)
        {
            double d = Enumerable.Range(i * classes, classes).Max(j => Math.Abs((double)expected[j] - actual[j]));
            if (d > 1e-4 * range) over++;
            Assert.True(d <= 1e-2 * range, $"sample {i}: max |ORT - torch| = {d:G4}, logits range {range:G4}");
        }
        Assert.True(over <= 2, $"{over} of {samples} samples differ from torch by more than 1e-4 x range {range:G4}");
    }

    internal static float[] RunOnnx(string path, Tensor input)
    {
        using var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC };
        using var session = new InferenceSession(path, so);
        var data = input.contiguous().data<float>().ToArray();
        var t = new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(data, input.shape.Select(d => (int)d).ToArray());
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(OnnxExporter.InputName, t)]);
        return results.First(r => r.Name == OnnxExporter.OutputName).AsEnumerable<float>().ToArray();
    }

    /// <summary>
    /// Exports at bits and checks ORT against the TorchSharp eval output on 24 random raw-pixel images: per
    /// sample, max |difference| &lt;= 1e-4 x (max - min of the logits). ORT's and libtorch's convolutions sum in
    /// different orders, so their outputs differ in the last float bit; where a value sits that close to a
    /// rounding boundary of an activation quantizer, the two pick neighbouring codes (one activation moves by
    /// one step). At 8 bits that hits a few images in 24 on random pixel data; `flipsAllowed` of them may then
    /// be off by at most 1e-3 x range, with the same top-1 class. At fewer activation bits a flip is rarer but moves
    /// the activation by a larger step: `flipRange` widens that bound.
    /// </summary>
    string ExportAndCompare(nn.Module<Tensor, Tensor> model, QuantOptions options, Bits bits, long channels, long size, string file,
        int flipsAllowed = 0, double flipRange = 1e-3)
    {
        string path = Path.Combine(dir, file);
        OnnxExporter.Export(model, options, bits, (int)channels, (int)size, (int)size, path);
        const int n = 24;
        manual_seed(99);
        using var x = randint(0, 256, [n, channels, size, size]).to_type(ScalarType.Float32);
        model.eval();
        model.SetBits(bits);
        float[] expected;
        using (no_grad())
        using (var y = model.call(x)) expected = y.contiguous().data<float>().ToArray();
        float[] actual = RunOnnx(path, x);
        Assert.Equal(expected.Length, actual.Length);
        int classes = expected.Length / n;
        double range = expected.Max() - expected.Min();
        Assert.True(range > 0);
        var worst = new List<double>();
        for (int i = 0; i < n; i++)
        {
            var e = expected.AsSpan(i * classes, classes).ToArray();
            var a = actual.AsSpan(i * classes, classes).ToArray();
            double d = e.Zip(a, (p, q) => Math.Abs((double)p - q)).Max();
            worst.Add(d);
            if (d > 1e-4 * range)
            {
                Assert.True(d <= flipRange * range, $"{file} sample {i}: max |ORT - torch| = {d:G4}, logits range {range:G4}");
                Assert.Equal(Array.IndexOf(e, e.Max()), Array.IndexOf(a, a.Max()));
            }
        }
        int over = worst.Count(d => d > 1e-4 * range);
        Assert.True(over <= flipsAllowed,
            $"{file}: {over} of {n} samples differ by more than 1e-4 x range {range:G4} (max {worst.Max():G4}; allowed {flipsAllowed})");
        return path;
    }

    [Fact]
    public void QMnistCnn_at_8_and_4_bits_matches_the_torch_eval_forward_and_stores_int8_and_int4_codes()
    {
        var options = MnistOptions;
        manual_seed(1);
        using var model = new QMnistCnn(options);
        TrainABit(model, options, 1, 28);
        // the training moved the clipping levels and BN statistics off their init
        var alpha = ((QConv2d)model.modules().OfType<QConv2d>().ElementAt(1)).alpha;
        Assert.Contains(alpha.data<float>().ToArray(), a => a != 8f);

        string p8 = ExportAndCompare(model, options, 8, 1, 28, "mnist_8.onnx", flipsAllowed: 4);
        string p4 = ExportAndCompare(model, options, 4, 1, 28, "mnist_4.onnx");

        var info8 = OnnxFileInfo.Read(p8);
        var info4 = OnnxFileInfo.Read(p4);
        Assert.Equal(21, info4.Opset);
        Assert.Equal("8", info8.Metadata[OnnxExporter.Keys.Bits]);
        Assert.Equal("4", info4.Metadata[OnnxExporter.Keys.Bits]);
        var codes8 = info8.Initializers.Where(i => i.Name.EndsWith(".weight.codes")).ToList();
        var codes4 = info4.Initializers.Where(i => i.Name.EndsWith(".weight.codes")).ToList();
        Assert.Equal(6, codes8.Count); // head, 4 body convs, classifier
        Assert.All(codes8, i => Assert.Contains(i.DataType, new[] { OnnxDataType.Int8, OnnxDataType.UInt8 }));
        // at 4 bits the body convs are INT4 (packed: half a byte per weight); head and classifier keep 8 bits
        var body4 = codes4.Where(i => i.Name.StartsWith("body.")).ToList();
        Assert.Equal(4, body4.Count);
        Assert.All(body4, i =>
        {
            Assert.Contains(i.DataType, new[] { OnnxDataType.Int4, OnnxDataType.UInt4 });
            Assert.Equal((i.Dims.Aggregate(1L, (a, b) => a * b) + 1) / 2, i.RawBytes);
        });
        Assert.All(codes4.Except(body4), i => Assert.Equal(OnnxDataType.Int8, i.DataType));
        Assert.DoesNotContain(info4.Initializers, i => i.DataType == OnnxDataType.Float && i.Name.EndsWith(".weight"));
        Assert.Contains("QuantizeLinear", info4.OpTypes);
    }

    /// <summary>The other schemes: original/centered weights (unsigned codes + offset), modified/centered activations
    /// (the float staircase), unfused torch ops, weight_only.</summary>
    [Theory]
    [InlineData("original", "centered", true, false)]
    [InlineData("centered", "modified", false, false)]
    [InlineData("modified", "original", true, true)]
    public void Other_schemes_match_the_torch_eval_forward_at_4_bits(string weightsName, string actsName, bool fused, bool weightOnly)
    {
        var weights = QuantSchemes.Parse(weightsName);
        var acts = QuantSchemes.Parse(actsName);
        var options = MnistOptions with { WeightScheme = weights, ActScheme = acts, Fused = fused, WeightOnly = weightOnly };
        manual_seed(4);
        using var model = new QMnistCnn(options);
        TrainABit(model, options, 1, 28, steps: 2);
        string path = ExportAndCompare(model, options, 4, 1, 28, $"mnist_{weights}_{acts}_{fused}_{weightOnly}.onnx");
        var info = OnnxFileInfo.Read(path);
        var body = info.Initializers.Where(i => i.Name.StartsWith("body.") && i.Name.EndsWith(".weight.codes")).ToList();
        Assert.Equal(4, body.Count);
        Assert.All(body, i => Assert.Equal(weights == QuantScheme.Modified ? OnnxDataType.Int4 : OnnxDataType.UInt4, i.DataType));
        Assert.Equal(!weightOnly && acts == QuantScheme.Original, info.OpTypes.Contains("QuantizeLinear"));
    }

    [Fact]
    public void QResNetCifar20_at_4_bits_with_rescale_conv_matches_the_torch_eval_forward()
    {
        var options = new QuantOptions { BitsList = [5, 4], SwitchAlpha = true, RescaleConv = true, Rescale = true };
        manual_seed(2);
        using var model = new QResNetCifar(options, 20);
        TrainABit(model, options, 3, 32, steps: 2);
        string path = ExportAndCompare(model, options, 4, 3, 32, "resnet20_4.onnx");
        var info = OnnxFileInfo.Read(path);
        // body convs at 4 bits: INT4; the head and classifier keep max(bits_list) = 5 bits: int8
        var codes = info.Initializers.Where(i => i.Name.EndsWith(".weight.codes")).ToList();
        Assert.Equal(22, codes.Count); // head, 18 block convs, 2 shortcut projections, classifier
        var low = codes.Where(i => i.Name.StartsWith("stage_")).ToList();
        Assert.Equal(20, low.Count);
        Assert.All(low, i => Assert.Contains(i.DataType, new[] { OnnxDataType.Int4, OnnxDataType.UInt4 }));
        Assert.All(codes.Except(low), i => Assert.Equal(OnnxDataType.Int8, i.DataType));
    }
}

/// <summary>The export and eval-onnx commands end to end on a real MNIST subset, and the deploy snippet.</summary>
[Collection("Console")]
public class OnnxCliTests() : TempFolderTests("adabits-onnx-cli-tests-")
{
    /// <summary>A short real training run (2560 MNIST images, bits [8, 4]); returns (config, best_model.pt).</summary>
    (string Config, string Checkpoint) TrainSmallModel()
    {
        string cfg = WriteConfig("mnist.yml", "[8, 4]");
        var (code, _, err) = CliRunner.Run("train", "app:" + cfg);
        Assert.True(code == 0, err);
        string ckpt = Directory.GetFiles(Path.Combine(dir, "run"), "best_model.pt", SearchOption.AllDirectories).Single();
        return (cfg, ckpt);
    }

    string WriteConfig(string name, string bitsList)
    {
        string cfg = Path.Combine(dir, name);
        File.WriteAllText(cfg, $"""
            dataset: MNIST
            dataset_dir: {Mnist.Dir}
            data_loader_workers: 1
            num_classes: 10
            topk: [1, 5]
            normalize: False
            num_epochs: 1
            optimizer: sgd
            momentum: 0.9
            weight_decay: 0.00004
            nesterov: True
            lr: 0.05
            lr_scheduler: cos_annealing_iter
            random_seed: 5
            batch_size: 64
            model: models.q_mnist_cnn
            reset_parameters: True
            adaptive_training: True
            bits_list: {bitsList}
            weight_quant_scheme: modified
            act_quant_scheme: original
            switch_alpha: True
            rescale: True
            log_dir: {Path.Combine(dir, "run")}
            train_limit: 2560
            val_limit: 500
            log_interval: 1000
            """);
        return cfg;
    }

    [Fact]
    public void Export_all_then_eval_onnx_agrees_with_torchsharp_and_prints_json_and_the_deploy_snippet_classifies()
    {
        var (cfg, ckpt) = TrainSmallModel();
        string outDir = Path.Combine(dir, "onnx");
        var (code, stdout, err) = CliRunner.Run("export", ckpt, "app:" + cfg, "--format", "onnx", "--bits", "all", "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Equal(["model_4bit.onnx", "model_8bit.onnx"], Directory.GetFiles(outDir).Select(f => Path.GetFileName(f)!).Order().ToArray());
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp*"));
        var meta = OnnxFileInfo.Read(Path.Combine(outDir, "model_4bit.onnx")).Metadata;
        Assert.Equal("4", meta["bits"]);
        Assert.Equal(Path.GetFullPath(ckpt), meta["checkpoint"]);
        Assert.Equal(Path.GetFullPath(cfg), meta["config"]);

        foreach (int bits in new[] { 8, 4 })
        {
            var (c, o, e) = CliRunner.Run("eval-onnx", Path.Combine(outDir, $"model_{bits}bit.onnx"), "app:" + cfg, "val_limit=2000", "--json");
            Assert.True(c == 0, e);
            var json = JsonDocument.Parse(o.Trim()).RootElement;
            Assert.Equal(bits, json.GetProperty("bits").GetInt32());
            Assert.Equal(2000, json.GetProperty("samples").GetInt32());
            double top1 = json.GetProperty("top1").GetDouble(), top5 = json.GetProperty("top5").GetDouble();
            Assert.InRange(top1, 0.5, 1.0);   // a model that learned something (2560 images)
            Assert.InRange(top5, top1, 1.0);
            Assert.True(json.GetProperty("agreement").GetDouble() >= 0.999, o);
        }

        // the deploy snippet on 64 validation images gives the TorchSharp model's classes
        var (_, val) = AdaBits.Data.MnistFamily.Load("MNIST", Mnist.Dir);
        const int n = 64;
        using var loader = new AdaBits.Data.DataLoader(val.Take(n), n, false, false,
            AdaBits.Data.TransformSpec.ForName("mnist", "MNIST", false, 0, false).ForValidation(), 0, 0);
        var (x, _) = loader.Epoch(0).First();
        using var _x = x;
        float[] pixels = x.contiguous().data<float>().ToArray();
        Assert.Equal(255f, pixels.Max());   // raw pixel values, as the model was trained on
        int[] predicted = DeploySnippet.Classify(Path.Combine(outDir, "model_4bit.onnx"), pixels, n);

        var config = AdaBits.Config.ConfigLoader.Load(["app:" + cfg], _ => { });
        using var model = AdaBits.Training.ModelFactory.Create(config, 1, 10);
        AdaBits.Checkpoints.CheckpointFile.LoadInto(model,
            AdaBits.Checkpoints.CheckpointFile.StateDictOf(AdaBits.Checkpoints.CheckpointFile.Load(ckpt), ckpt), ckpt);
        model.eval();
        model.SetBits(4);
        using (no_grad())
        using (var y = model.call(x))
            Assert.Equal(y.argmax(1).data<long>().Select(v => (int)v).ToArray(), predicted);
    }

    [Fact]
    public void Export_with_bits_not_in_bits_list_fails_naming_the_bits_and_the_list()
    {
        var options = OnnxExportTests.MnistOptions;
        using var model = new QMnistCnn(options);
        var e = Assert.Throws<ArgumentException>(() =>
            OnnxExporter.Export(model, options, 3, 1, 28, 28, Path.Combine(dir, "m.onnx")));
        Assert.Contains("bits 3", e.Message);
        Assert.Contains("[8, 6, 5, 4]", e.Message);
        Assert.False(File.Exists(Path.Combine(dir, "m.onnx")));

        // the command line: one line on stderr, exit code 2, no file
        string ckpt = Path.Combine(dir, "m.pt");
        AdaBits.Checkpoints.CheckpointFile.Save(ckpt, new System.Collections.Hashtable { ["model"] = AdaBits.Checkpoints.CheckpointFile.ModelState(model) });
        string cfg = WriteConfig("m.yml", "[8, 6, 5, 4]");
        var (code, _, err) = CliRunner.Run("export", ckpt, "app:" + cfg, "--bits", "3", "--out", Path.Combine(dir, "m.onnx"));
        Assert.True(code == 2, err);
        Assert.Equal("adabits: export: bits 3 is not in bits_list [8, 6, 5, 4]", err.Trim());
        Assert.False(File.Exists(Path.Combine(dir, "m.onnx")));

        // and a valid export of the same checkpoint, plus the safetensors form
        (code, _, err) = CliRunner.Run("export", ckpt, "app:" + cfg, "--bits", "6", "--out", Path.Combine(dir, "m6.onnx"));
        Assert.True(code == 0, err);
        Assert.Equal("6", OnnxFileInfo.Read(Path.Combine(dir, "m6.onnx")).Metadata["bits"]);
        (code, _, err) = CliRunner.Run("export", ckpt, "app:" + cfg, "--format", "safetensors", "--out", Path.Combine(dir, "m.safetensors"));
        Assert.True(code == 0, err);
        var loaded = TorchSharp.PyBridge.Safetensors.LoadStateDict(Path.Combine(dir, "m.safetensors"));
        Assert.Equal(model.state_dict().Keys.Order(), loaded.Keys.Order());
    }
}
