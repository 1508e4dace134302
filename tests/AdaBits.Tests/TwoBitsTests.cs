using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using AdaBits.Checkpoints;
using AdaBits.Config;
using AdaBits.Data;
using AdaBits.Modules;
using AdaBits.Training;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// 2 bits in the list: joint training of [8, 6, 5, 4, 3, 2] with centered weights, end to end through the CLI:
/// train (profile, plots, report), profile, ONNX export of every bit-width and the integer engine, both checked
/// against the TorchSharp eval forward at 2 bits.
/// </summary>
[Collection("Console")]
public class TwoBitsTests() : TempFolderTests("adabits-two-bits-tests-")
{
    static readonly string[] Widths = ["8", "6", "5", "4", "3", "2"];

    [Fact]
    public void Joint_training_down_to_2_bits_trains_profiles_reports_exports_and_infers()
    {
        // the fault tests' short MNIST config (duplicate keys: the last wins), 10 steps of 64
        string cfg = AdaBits.Tests.Faults.RunFolder.WriteConfig(dir, "two_bits",
            "bits_list: [8, 6, 5, 4, 3, 2]\nweight_quant_scheme: centered\nlog_interval: 1000", epochs: 1, trainLimit: 640, valLimit: 256);
        var (code, stdout, err) = CliRunner.Run("train", "app:" + cfg);
        Assert.True(code == 0, err);
        string run = ConfigLoader.Load(["app:" + cfg], _ => { }).RunDir;
        var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, RunOutputs.ResultsFile))).RootElement.GetProperty("val");
        var profile = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "profile.json"))).RootElement.GetProperty("bits");
        foreach (var b in Widths)
        {
            Assert.True(results.GetProperty(b).GetProperty("top1").GetDouble() > 0, $"{b} bits");
            Assert.True(profile.TryGetProperty(b, out _), $"profile.json has no {b} bits");
        }
        // fewer bits, fewer bit operations, down to 2
        var gbitops = Widths.Select(b => profile.GetProperty(b).GetProperty("gbitops").GetDouble()).ToArray();
        Assert.True(gbitops.Zip(gbitops.Skip(1)).All(p => p.First > p.Second), string.Join(", ", gbitops));
        string report = File.ReadAllText(Path.Combine(run, "report.md"));
        Assert.Contains("| 2 | ", report);
        Assert.Contains("| 3 | ", report);
        foreach (var png in new[] { "loss.png", "top1.png", "alpha.png", "accuracy_vs_gbitops.png" })
            Assert.True(new FileInfo(Path.Combine(run, "plots", png)).Length > 10_000, png);

        (code, stdout, err) = CliRunner.Run("profile", "app:" + cfg, "--no-latency", "--json");
        Assert.True(code == 0, err);
        Assert.Equal(gbitops[^1], JsonDocument.Parse(stdout).RootElement.GetProperty("bits").GetProperty("2").GetProperty("gbitops").GetDouble());

        string ckpt = Path.Combine(run, Trainer.BestModel);
        string onnx = Path.Combine(dir, "onnx");
        (code, _, err) = CliRunner.Run("export", ckpt, "app:" + cfg, "--format", "onnx", "--bits", "all", "--out", onnx);
        Assert.True(code == 0, err);
        Assert.Equal(Widths.Select(b => $"model_{b}bit.onnx").Order(), Directory.GetFiles(onnx).Select(f => Path.GetFileName(f)!).Order());
        (code, stdout, err) = CliRunner.Run("eval-onnx", Path.Combine(onnx, "model_2bit.onnx"), "app:" + cfg, "--json");
        Assert.True(code == 0, err);
        var onnxEval = JsonDocument.Parse(stdout.Trim()).RootElement;
        Assert.Equal(2, onnxEval.GetProperty("bits").GetInt32());
        Assert.True(onnxEval.GetProperty("agreement").GetDouble() >= 0.99, stdout);

        string artifact = Path.Combine(dir, "model.abits");
        (code, stdout, err) = CliRunner.Run("export", ckpt, "app:" + cfg, "--format", "engine", "--out", artifact);
        Assert.True(code == 0, err);
        Assert.Contains("[8, 6, 5, 4, 3, 2]", stdout);

        // the engine at 2 and 3 bits classifies the 256 validation images as the TorchSharp eval forward does
        var config = ConfigLoader.Load(["app:" + cfg], _ => { });
        using var model = ModelFactory.Create(config, 1, 10);
        CheckpointFile.LoadInto(model, CheckpointFile.StateDictOf(CheckpointFile.Load(ckpt), ckpt), ckpt);
        var (_, val) = MnistFamily.Load("MNIST", Mnist.Dir);
        using var loader = new DataLoader(val.Take(256), 256, false, false, TransformSpec.ForName("mnist", "MNIST", false, 0, false).ForValidation(), 0, 0);
        var (x, y) = loader.Epoch(0).First();
        using var _x = x;
        using var _y = y;
        foreach (int bits in new[] { 3, 2 })
        {
            model.eval();
            model.SetBits(bits);
            double torchTop1;
            using (no_grad())
            using (var logits = model.call(x))
                torchTop1 = logits.argmax(1).eq(y).sum().item<long>() / 256.0;
            Assert.Equal(results.GetProperty(bits.ToString()).GetProperty("top1").GetDouble(), torchTop1, 6);
            (code, stdout, err) = CliRunner.Run("infer", artifact, "--bits", bits.ToString(), "--threads", "2", "app:" + cfg);
            Assert.True(code == 0, err);
            var m = Regex.Match(stdout, @"256 validation images: top1 ([0-9.]+)");
            Assert.True(m.Success, stdout);
            // one boundary flip in 256 images at most (the engine sums in another order than libtorch)
            Assert.InRange(double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), torchTop1 - 0.0040, torchTop1 + 0.0040);
        }
    }
}
