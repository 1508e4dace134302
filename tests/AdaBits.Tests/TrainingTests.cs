using System.Text.Json;
using AdaBits.Config;
using AdaBits.Training;

namespace AdaBits.Tests;

/// <summary>End-to-end training on a real MNIST subset: accuracy floors, outputs, test command, resume, errors.</summary>
[Collection("Console")]
public class TrainingTests() : TempFolderTests("adabits-train-tests-")
{
    string WriteConfig(string name, int epochs, int trainLimit, int valLimit, string? dataDir = null, string extra = "")
    {
        string path = Path.Combine(dir, name + ".yml");
        File.WriteAllText(path, $"""
            dataset: MNIST
            dataset_dir: {dataDir ?? Mnist.Dir}
            data_loader_workers: 1
            num_classes: 10
            topk: [1, 5]
            num_epochs: {epochs}
            optimizer: sgd
            momentum: 0.9
            weight_decay: 0.00004
            nesterov: True
            lr: 0.05
            lr_scheduler: cos_annealing_iter
            random_seed: 7
            batch_size: 64
            model: models.q_mnist_cnn
            reset_parameters: True
            switch_alpha: True
            rescale: True
            log_dir: {Path.Combine(dir, name)}
            adaptive_training: True
            bits_list: [8, 4]
            train_limit: {trainLimit}
            val_limit: {valLimit}
            log_interval: 1000
            {extra}
            """);
        return path;
    }

    static JsonElement Json(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    [Fact]
    public void Short_training_on_real_mnist_beats_a_floor_at_every_bit_width_and_test_reproduces_it()
    {
        string cfgPath = WriteConfig("short", epochs: 1, trainLimit: 6400, valLimit: 1000);
        var (code, stdout, stderr) = CliRunner.Run("train", "app:" + cfgPath);
        Assert.True(code == 0, stderr);
        var cfg = ConfigLoader.Load(["app:" + cfgPath]);
        string run = cfg.RunDir;
        Assert.Equal($"run folder: {run}", stdout.Split('\n')[0].TrimEnd('\r'));   // first, before data loading
        Assert.Equal(Path.Combine(dir, "short"), Path.GetDirectoryName(run));  // one level under log_dir,
        Assert.Matches("^short-[0-9a-f]{8}$", Path.GetFileName(run));           // shell-safe
        foreach (var f in new[] { "config.yml", "train.log", "metrics.jsonl", "results.json", "best_model.pt", "latest_checkpoint.pt" })
            Assert.True(File.Exists(Path.Combine(run, f)), f);

        var results = Json(Path.Combine(run, "results.json"));
        Assert.Equal(1, results.GetProperty("best_epoch").GetInt32());
        Assert.Equal("[8,4]", results.GetProperty("bits_list").GetRawText().Replace(" ", ""));
        foreach (var bits in new[] { "8", "4" })
        {
            var v = results.GetProperty("val").GetProperty(bits);
            Assert.True(v.GetProperty("top1").GetDouble() >= 0.85, $"{bits} bits: top1 {v.GetProperty("top1")}");
            Assert.True(v.GetProperty("top5").GetDouble() >= v.GetProperty("top1").GetDouble());
        }
        var lines = File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(4, lines.Count); // 1 epoch x (train, val) x 2 bit-widths
        Assert.Equal(["train", "train", "val", "val"], lines.Select(l => l.GetProperty("phase").GetString()!).ToArray());
        Assert.Contains("loss", stdout);

        Assert.Contains("| 4 | ", File.ReadAllText(Path.Combine(run, "report.md")));
        foreach (var (png, width, height) in new[] { ("loss.png", 1100, 450), ("top1.png", 1100, 450), ("alpha.png", 800, 560) })
        {
            var bytes = File.ReadAllBytes(Path.Combine(run, "plots", png));
            Assert.True(bytes.Length > 10_000, png);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
            Assert.Equal(width, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
            Assert.Equal(height, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        }

        var (tcode, tout, terr) = CliRunner.Run("test", "app:" + cfgPath, "--json");
        Assert.True(tcode == 0, terr);
        var val = JsonDocument.Parse(tout).RootElement;
        foreach (var bits in new[] { "8", "4" })
            foreach (var key in new[] { "top1", "top5", "loss" })
                Assert.Equal(results.GetProperty("val").GetProperty(bits).GetProperty(key).GetDouble(),
                    val.GetProperty(bits).GetProperty(key).GetDouble());
    }

    [Fact]
    public void A_run_stopped_after_epoch_one_and_resumed_ends_with_the_same_metrics()
    {
        RunResult Full(string name, int? stopAfter)
        {
            var cfg = ConfigLoader.Load(["app:" + WriteConfig(name, epochs: 2, trainLimit: 1024, valLimit: 512)]);
            using var log = new RunLog(TextWriter.Null, interactive: false);
            using var t = new Trainer(cfg, log, training: true) { StopAfterEpochs = stopAfter };
            return t.Train();
        }
        var a = Full("a", null);
        Assert.Throws<OperationCanceledException>(() => Full("b", 1));
        var b = Full("b", null);
        Assert.Equal(a.BestEpoch, b.BestEpoch);
        foreach (var (bits, m) in a.Val)
        {
            Assert.Equal(m.Loss, b.Val[bits].Loss);
            Assert.Equal(m.TopError[1], b.Val[bits].TopError[1]);
        }
        static List<string> Metrics(string runDir) => File.ReadAllLines(Path.Combine(runDir, "metrics.jsonl"))
            .Select(l => { var e = JsonDocument.Parse(l).RootElement; return $"{e.GetProperty("epoch")} {e.GetProperty("phase")} {e.GetProperty("bits")} {e.GetProperty("loss")} {e.GetProperty("top1_error")} {e.GetProperty("lr")}"; })
            .ToList();
        Assert.Equal(Metrics(a.RunDir), Metrics(b.RunDir));
    }

    [Fact]
    public void Bad_config_and_corrupt_data_fail_with_one_line_and_write_no_checkpoint()
    {
        string bad = WriteConfig("bad", 1, 256, 128, extra: "bit_list: [4]");
        var (code, _, err) = CliRunner.Run("train", "app:" + bad);
        Assert.NotEqual(0, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("bit_list", err);
        Assert.False(Directory.Exists(Path.Combine(dir, "bad")));

        string data = Path.Combine(dir, "corrupt");
        Directory.CreateDirectory(data);
        foreach (var f in new[] { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" })
            File.WriteAllBytes(Path.Combine(data, f), File.ReadAllBytes(Path.Combine(Mnist.Dir, f)).AsSpan(0, 4000).ToArray());
        string cfg = WriteConfig("corrupt", 1, 256, 128, dataDir: data);
        (code, _, err) = CliRunner.Run("train", "app:" + cfg);
        Assert.NotEqual(0, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("ubyte", err);
        Assert.Empty(Directory.Exists(Path.Combine(dir, "corrupt")) ? Directory.GetFiles(Path.Combine(dir, "corrupt"), "*.pt", SearchOption.AllDirectories) : []);
    }
}
