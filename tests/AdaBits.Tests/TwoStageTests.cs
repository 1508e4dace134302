using System.Security.Cryptography;
using System.Text.Json;
using AdaBits.Checkpoints;
using AdaBits.Config;
using AdaBits.Training;
using Runs = AdaBits.Tests.Faults.RunFolder;

namespace AdaBits.Tests;

/// <summary>
/// fp_pretrain_epochs (stage 1 at full precision, then joint training from its expanded best model) and distill, on
/// short MNIST runs of 5 steps per epoch: stage 2 is exactly a run from fp_pretrained_file; a run stopped anywhere
/// in either stage resumes to the outputs of an uninterrupted one; bad combinations are one-line config errors.
/// </summary>
[Collection("Console")]
public class TwoStageTests() : TempFolderTests("adabits-two-stage-tests-")
{
    string Config(string name, string extra, int epochs) =>
        Runs.WriteConfig(dir, name, extra, epochs: epochs, trainLimit: 320, valLimit: 128);

    static void AssertSameModel(string a, string b)
    {
        var x = CheckpointFile.LoadStateDict(a);
        var y = CheckpointFile.LoadStateDict(b);
        Assert.Equal(x.Keys.Order(), y.Keys.Order());
        foreach (var (key, t) in x)
            Assert.True(t.shape.SequenceEqual(y[key].shape) && t.eq(y[key]).all().item<bool>(), $"{key} differs between {a} and {b}");
    }

    static string Sha(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public void Stage_two_equals_a_run_from_fp_pretrained_file_on_the_stage_one_model_bitwise()
    {
        var two = Runs.Load(Config("two", "fp_pretrain_epochs: 1", epochs: 1));
        // one step into stage 2 (steps count over both stages): its checkpoint holds the expanded model after one joint step
        Assert.Throws<TrainingStopped>(() => Runs.Train(two, t => t.StopAfterSteps = 6));
        string stage1 = Path.Combine(two.RunDir, TwoStage.FpStage, Trainer.BestModel);
        Assert.True(File.Exists(stage1));
        var stage1Config = ConfigLoader.Load(["app:" + Path.Combine(two.RunDir, TwoStage.FpStage, "config.yml")], _ => { });
        Assert.Equal(Bits32, stage1Config.Quant.BitsList);
        Assert.Equal(0, stage1Config.FpPretrainEpochs);

        var file = Runs.Load(Config("file", $"fp_pretrained_file: {stage1}", epochs: 1));
        Assert.Throws<TrainingStopped>(() => Runs.Train(file, t => t.StopAfterSteps = 1));
        AssertSameModel(Path.Combine(two.RunDir, Trainer.LatestCheckpoint), Path.Combine(file.RunDir, Trainer.LatestCheckpoint));

        var a = Runs.Train(two);
        var b = Runs.Train(file);
        AssertSameModel(Path.Combine(a.RunDir, Trainer.BestModel), Path.Combine(b.RunDir, Trainer.BestModel));
        Assert.Equal(Runs.Outputs(b.RunDir).Metrics, Runs.Outputs(a.RunDir).Metrics.Replace("{\"stage\":\"joint\",", "{"));
        foreach (var (bits, m) in b.Val) Assert.Equal(m.Loss, a.Val[bits].Loss);

        var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(a.RunDir, RunOutputs.ResultsFile))).RootElement;
        Assert.Equal("joint", results.GetProperty("stage").GetString());
        var fp = results.GetProperty("fp_pretrain");
        Assert.Equal(1, fp.GetProperty("best_epoch").GetInt32());
        Assert.True(fp.GetProperty("val").GetProperty("32").GetProperty("top1").GetDouble() > 0);
        string log = File.ReadAllText(Path.Combine(a.RunDir, "train.log"));
        Assert.Contains("stage 1 of 2: full-precision pre-training", log);
        Assert.Contains("\tfp_pretrain 1/1: loss", log);   // stage 1's epochs, in the run folder's log too
        Assert.Contains("stage 2 of 2: joint training at [8, 4] for num_epochs = 1, from stage 1's best model", log);
    }

    static readonly AdaBits.Modules.Bits[] Bits32 = [32];

    [Fact]
    public void Runs_stopped_in_stage_one_or_two_resume_to_an_uninterrupted_runs_outputs()
    {
        // 2 + 2 epochs of 5 steps: steps 1-10 are stage 1, 11-20 stage 2; distillation exercises the saved KL sums too,
        // and alpha_init: mse runs once, where stage 2 starts (a resumed stage 2 takes its levels from the checkpoint)
        const string extra = "fp_pretrain_epochs: 2\ndistill: highest\ndistill_temperature: 2.0\nalpha_init: mse";
        var full = Runs.Train(Runs.Load(Config("full", extra, epochs: 2)));
        var expected = (Runs.Outputs(full.RunDir), Runs.Outputs(Path.Combine(full.RunDir, TwoStage.FpStage)));
        var metrics = File.ReadAllLines(Path.Combine(full.RunDir, RunOutputs.MetricsFile)).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(8, metrics.Count);
        Assert.All(metrics, m => Assert.Equal("joint", m.GetProperty("stage").GetString()));
        // the 4-bit student's train lines carry the KL term, the 8-bit teacher's and the validation lines do not
        Assert.True(metrics.Single(m => m.GetProperty("epoch").GetInt32() == 1 && m.GetProperty("phase").GetString() == "train"
            && m.GetProperty("bits").GetString() == "4").GetProperty("distill_kl").GetDouble() > 0);
        Assert.All(metrics.Where(m => m.GetProperty("bits").GetString() == "8" || m.GetProperty("phase").GetString() == "val"),
            m => Assert.False(m.TryGetProperty("distill_kl", out _)));
        Assert.All(File.ReadAllLines(Path.Combine(full.RunDir, TwoStage.FpStage, RunOutputs.MetricsFile)),
            l => Assert.StartsWith("{\"stage\":\"fp_pretrain\",", l));

        foreach (long[] stops in new[] { new long[] { 3 }, [13], [7, 16] })
        {
            string name = "stop" + string.Join("_", stops);
            var cfg = Runs.Load(Config(name, extra, epochs: 2));
            string stage1Latest = Path.Combine(cfg.RunDir, TwoStage.FpStage, Trainer.LatestCheckpoint);
            foreach (long k in stops)
            {
                var e = Assert.Throws<TrainingStopped>(() => Runs.Train(cfg, t => t.StopAfterSteps = k));
                Assert.Contains($"step {(k - 1) % 5 + 1}/5", e.Message);
                Assert.Contains(k <= 10 ? Path.Combine(TwoStage.FpStage, Trainer.LatestCheckpoint) : Path.Combine(Path.GetFileName(cfg.RunDir), Trainer.LatestCheckpoint), e.Message);
            }
            string? stage1Before = stops[^1] > 10 ? Sha(stage1Latest) : null;
            var r = Runs.Train(cfg);
            if (stage1Before is not null)
            {
                Assert.Equal(stage1Before, Sha(stage1Latest));   // stage 1 was not trained again
                Assert.Contains("stage 1 of 2 (full precision, 2 epochs) is done", File.ReadAllText(Path.Combine(r.RunDir, "train.log")));
            }
            Assert.Equal(expected, (Runs.Outputs(r.RunDir), Runs.Outputs(Path.Combine(r.RunDir, TwoStage.FpStage))));
        }
    }

    /// <summary>A small valid adaptive MNIST config (also used by AlphaCalibrationTests).</summary>
    internal const string Minimal = """
        batch_size: 128
        dataset: MNIST
        log_dir: ./results
        model: models.q_mnist_cnn
        optimizer: sgd
        lr: 0.1
        lr_scheduler: cos_annealing_iter
        num_epochs: 10
        bits_list: [8, 4]
        adaptive_training: True
        """;

    static string Error(params string[] overrides) =>
        Assert.Throws<ConfigException>(() => ConfigLoader.FromYamlText(Minimal, "apps/x.yml", overrides, _ => { })).Message;

    [Fact]
    public void Bad_two_stage_and_distill_settings_are_one_line_errors_naming_the_key()
    {
        var ok = ConfigLoader.FromYamlText(Minimal, "apps/x.yml", ["fp_pretrain_epochs=2", "distill=recursive", "distill_weight=0.3", "distill_temperature=4"], _ => { });
        Assert.Equal((2, "recursive", 0.3, 4.0), (ok.FpPretrainEpochs, ok.Distill, ok.DistillWeight, ok.DistillTemperature));
        var defaults = ConfigLoader.FromYamlText(Minimal, "apps/x.yml", [], _ => { });
        Assert.Equal((0, "none", 0.5, 1.0), (defaults.FpPretrainEpochs, defaults.Distill, defaults.DistillWeight, defaults.DistillTemperature));
        Assert.Equal(ok, ConfigLoader.FromYamlText(ok.ToYaml(), "apps/x.yml", [], _ => { }));
        Assert.NotEqual(RunFolder.SettingHash(defaults), RunFolder.SettingHash(ok));

        foreach (var (overrides, key, says) in new (string[], string, string)[]
        {
            (["fp_pretrain_epochs=2", "fp_pretrained_file=fp.pt"], "fp_pretrain_epochs", "fp_pretrained_file 'fp.pt'"),
            (["fp_pretrain_epochs=2", "pretrained_file=m.pt"], "fp_pretrain_epochs", "pretrained_file 'm.pt'"),
            (["fp_pretrain_epochs=-1"], "fp_pretrain_epochs", ">= 0"),
            (["distill=teacher"], "distill", "none, highest, fp, recursive"),
            (["distill=highest", "adaptive_training=False"], "distill", "adaptive_training: True"),
            (["distill=fp"], "distill", "must hold 32"),
            (["distill=recursive", "bits_list=[4]"], "distill", "at least two bit-widths"),
            (["distill_weight=1.5"], "distill_weight", "[0, 1]"),
            (["distill_temperature=0"], "distill_temperature", "> 0"),
        })
        {
            string message = Error(overrides);
            Assert.DoesNotContain('\n', message);
            Assert.Contains($"key '{key}'", message);
            Assert.Contains(says, message);
        }
        Assert.Equal("fp", ConfigLoader.FromYamlText(Minimal, "apps/x.yml", ["distill=fp", "bits_list=[32, 8, 4]"], _ => { }).Distill);

        string cfg = Config("bad", "fp_pretrain_epochs: 1\nfp_pretrained_file: x.pt", epochs: 1);
        var (code, _, err) = CliRunner.Run("train", "app:" + cfg);
        Assert.NotEqual(0, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("fp_pretrain_epochs", err);
        Assert.False(Directory.Exists(Path.Combine(dir, "bad")));
    }
}
