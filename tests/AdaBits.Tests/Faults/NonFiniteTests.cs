using AdaBits.Checkpoints;
using AdaBits.Config;
using AdaBits.Modules;
using AdaBits.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Tests.Faults;

/// <summary>The non-finite guard: a diverging run stops with one line and writes no non-finite model; JSON writers take NaN.</summary>
[Collection("Console")]
public class NonFiniteTests() : TempFolderTests("adabits-nan-tests-")
{
    [Fact]
    public void A_diverging_run_stops_in_its_first_epoch_with_one_line_and_no_model_file()
    {
        string cfg = RunFolder.WriteConfig(dir, "diverge");
        var (code, _, err) = CliRunner.Run("train", "app:" + cfg, "lr=1.0e+8");
        Assert.Equal(1, code);
        string line = Assert.Single(err.Trim().Split('\n'));
        Assert.Matches(@"^adabits: error: non-finite ((loss \(\S+\)|gradient) at epoch 1, step \d+/10, [84] bits|weights after the update at epoch 1, step \d+/10): training stopped", line);
        var run = RunFolder.Load(cfg).RunDir;
        Assert.Empty(Directory.GetFiles(run, "*.pt"));
        Assert.False(File.Exists(Path.Combine(run, "metrics.jsonl")));
    }

    [Fact]
    public void Skip_step_drops_non_finite_steps_and_stops_after_nan_max_skips_in_a_row()
    {
        var cfg = RunFolder.Load(RunFolder.WriteConfig(dir, "skip", "nan_policy: skip_step\nnan_max_skips: 3"));
        var log = new StringWriter();
        RunResult Run(Func<long, Bits, bool> corrupt, TrainConfig c)
        {
            using var l = new RunLog(log, interactive: false);
            using var t = new Trainer(c, l, training: true) { CorruptLoss = corrupt };
            return t.Train();
        }
        // steps 3 and 4 (0-based 2, 3) go NaN at 4 bits, step 13 at 8 bits: skipped, and the run ends normally
        var r = Run((step, bits) => step is 2 or 3 && bits == new Bits(4) || step == 12 && bits == new Bits(8), cfg);
        string text = log.ToString();
        Assert.Contains("non-finite loss (NaN) at epoch 1, step 3/10, 4 bits: update skipped (1 in a row, 1 in all)", text);
        Assert.Contains("non-finite loss (NaN) at epoch 1, step 4/10, 4 bits: update skipped (2 in a row, 2 in all)", text);
        Assert.Contains("non-finite loss (NaN) at epoch 2, step 3/10, 8 bits: update skipped (1 in a row, 3 in all)", text);
        Assert.Contains("skipped 3 ", text);   // the progress line counts them
        Assert.All(r.Val.Values, m => Assert.True(double.IsFinite(m.Loss)));
        // the epoch's train loss is the mean over the 8 steps that were kept, not NaN
        var train = File.ReadAllLines(Path.Combine(r.RunDir, "metrics.jsonl")).First();
        Assert.DoesNotContain("null", train);
        Assert.All(CheckpointFile.LoadStateDict(Path.Combine(r.RunDir, Trainer.BestModel)).Values,
            t => Assert.True(!t.is_floating_point() || t.isfinite().all().item<bool>()));

        // three in a row: stopped, at the third
        var three = cfg with { LogDir = Path.Combine(dir, "three") };
        var e = Assert.Throws<NonFiniteException>(() => Run((step, _) => step is >= 4 and <= 6, three));
        Assert.StartsWith("non-finite loss (NaN) at epoch 1, step 7/10, 8 bits: 3 steps in a row skipped (nan_max_skips: 3), training stopped", e.Message);
        Assert.Empty(Directory.GetFiles(three.RunDir, "*.pt"));
    }

    [Fact]
    public void Guard_counts_skips_in_a_row_and_resets_on_a_finite_step()
    {
        var lines = new List<string>();
        var skip = new NonFiniteGuard(NonFiniteGuard.SkipStep, 3, lines.Add);
        skip.OnNonFinite("loss (NaN)", 1, 4, 10, "4 bits");
        skip.OnNonFinite("loss (NaN)", 1, 5, 10, "4 bits");
        skip.OnFiniteStep();
        skip.OnNonFinite("gradient", 1, 7, 10, "8 bits");
        Assert.Equal(1, skip.SkipsInRow);
        Assert.Equal(3, skip.Skipped);
        Assert.Equal("non-finite gradient at epoch 1, step 7/10, 8 bits: update skipped (1 in a row, 3 in all)", lines[^1]);
        skip.OnNonFinite("gradient", 1, 8, 10, "8 bits");
        var e = Assert.Throws<NonFiniteException>(() => skip.OnNonFinite("gradient", 1, 9, 10, "8 bits"));
        Assert.Contains("3 steps in a row", e.Message);
        var stop = new NonFiniteGuard(NonFiniteGuard.Stop, 3, lines.Add);
        Assert.StartsWith("non-finite loss (Infinity) at epoch 2, step 1/5, [8, 4] bits: training stopped",
            Assert.Throws<NonFiniteException>(() => stop.OnNonFinite("loss (Infinity)", 2, 1, 5, "[8, 4] bits")).Message);
    }

    [Fact]
    public void Gradient_and_state_checks_see_one_bad_element()
    {
        using var lin = nn.Linear(3, 2);
        var ps = lin.parameters().ToArray();
        Assert.True(NonFiniteGuard.GradientsFinite(ps));   // no gradients yet
        using (var y = lin.call(ones(1, 3)).sum()) y.backward();
        Assert.True(NonFiniteGuard.GradientsFinite(ps));
        using (no_grad()) ps[0].grad!.index_put_(float.NaN, 1, 2);
        Assert.False(NonFiniteGuard.GradientsFinite(ps));
        using (no_grad()) ps[0].grad!.index_put_(float.PositiveInfinity, 1, 2);
        Assert.False(NonFiniteGuard.GradientsFinite(ps));

        Assert.Null(NonFiniteGuard.NonFiniteState(lin));
        using (no_grad()) lin.bias!.index_put_(float.NegativeInfinity, 1);
        Assert.Equal("bias", NonFiniteGuard.NonFiniteState(lin));
        Assert.Contains("'bias' is not finite", Assert.Throws<NonFiniteException>(() => NonFiniteGuard.CheckState(lin, 3)).Message);
    }

    [Fact]
    public void Buffer_snapshot_puts_back_bn_statistics_a_dropped_step_changed()
    {
        using var bn = nn.BatchNorm2d(2);
        bn.train();
        var restore = NonFiniteGuard.SnapshotBuffers(bn);
        float[] before = Ref.F(bn.running_mean!);
        using (var x = full(new long[] { 2, 2, 3, 3 }, float.NaN)) bn.call(x).Dispose();
        Assert.True(float.IsNaN(Ref.F(bn.running_mean!)[0]));
        restore();
        Assert.Equal(before, Ref.F(bn.running_mean!));
    }

    [Fact]
    public void Metrics_results_and_saved_best_metrics_take_non_finite_numbers()
    {
        var m = new BitsMetrics(double.NaN, new Dictionary<int, double> { [1] = 0.9, [5] = double.PositiveInfinity }, 64);
        string line = RunOutputs.MetricsLine(1, "val", new Bits(8), m, double.NaN, 1.5);
        Assert.Equal("""{"epoch":1,"phase":"val","bits":"8","loss":null,"top1_error":0.9,"top5_error":null,"lr":null,"seconds":1.5}""", line);
        string results = Path.Combine(dir, "results.json");
        RunOutputs.WriteResults(results, [new Bits(8)], 1, new Dictionary<Bits, BitsMetrics> { [new(8)] = m }, double.NaN);
        Assert.Contains("\"loss\": null", File.ReadAllText(results));
        var back = Trainer.ParseMetrics(Trainer.MetricsJson(new Dictionary<Bits, BitsMetrics> { [new(8)] = m }));
        Assert.True(double.IsNaN(back[new Bits(8)].Loss));
        Assert.Equal(double.PositiveInfinity, back[new Bits(8)].TopError[5]);
        Assert.Equal(0.9, back[new Bits(8)].TopError[1]);

        // the report and its plots read null figures back without failing
        File.WriteAllLines(Path.Combine(dir, RunOutputs.MetricsFile), [line.Replace("\"val\"", "\"train\""), line]);
        string report = AdaBits.Reporting.RunReport.Write(dir);
        Assert.Contains("| 8 |", File.ReadAllText(report));
    }
}
