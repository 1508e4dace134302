using AdaBits.Config;
using AdaBits.Modules;
using AdaBits.Study;
using AdaBits.Training;

namespace AdaBits.Tests;

/// <summary>`adabits study`: the statistics and the verdict rule on fixed numbers, the claims' plans, and a miniature study.</summary>
[Collection("Console")]
public class StudyTests() : TempFolderTests("adabits-study-tests-")
{
    /// <summary>The main job's config with three bit-widths and four epochs (planning only reads it).</summary>
    static readonly string[] BaseTokens =
        ["app:" + Path.Combine(Mnist.RepoRoot(), "apps", "mnist", "adabits.yml"), "bits_list=[8, 6, 4]", "num_epochs=4", "random_seed=7"];

    static TrainConfig Load(IReadOnlyList<string> tokens) => ConfigLoader.Load(tokens, _ => { });

    static SeedStats S(params double[] v) => SeedStats.Of(v);

    [Fact]
    public void MeanAndSampleStdMatchHandValues()
    {
        var s = S(0.90, 0.92, 0.94);
        Assert.Equal(0.92, s.Mean, 12);
        Assert.Equal(0.02, s.Std, 12);   // sqrt((0.02² + 0 + 0.02²) / (3 - 1))
        Assert.Equal(3, s.N);
        var two = S(0.5, 0.8);
        Assert.Equal(0.65, two.Mean, 12);
        Assert.Equal(Math.Sqrt(0.045), two.Std, 12);   // ((0.15² * 2) / 1)
        Assert.True(double.IsNaN(S(0.7).Std));   // one seed: no spread, not a spread of zero
        Assert.Equal("0.7000", S(0.7).Text());
        Assert.Equal("0.9200 ± 0.0200", s.Text());
        Assert.Equal(0, S().N);
    }

    [Fact]
    public void PooledNoiseIsTheRootMeanOfTheVariances()
    {
        var c = new BitComparison("4", new SeedStats(0.95, 0.03, 3), new SeedStats(0.90, 0.04, 3));
        Assert.Equal(Math.Sqrt((0.0009 + 0.0016) / 2), c.Noise, 12);
        Assert.Equal(0.05, c.Difference, 12);
        Assert.True(c.Above);   // 0.05 > 0.0354
        Assert.False(new BitComparison("4", new SeedStats(0.92, 0.03, 3), new SeedStats(0.90, 0.04, 3)).Above);   // 0.02 < 0.0354
    }

    static BitComparison Cmp(double variant, double baseline, double std = 0.01, int n = 3) =>
        new("b", new SeedStats(variant, std, n), new SeedStats(baseline, std, n));

    [Fact]
    public void VerdictRuleOnFixedNumbers()
    {
        // better by 0.05 with noise 0.01 at 3 of 4 bit-widths, within noise at the 4th
        Assert.Equal(Outcome.Holds, VerdictRule.Judge(ClaimKind.Better, [Cmp(0.95, 0.90), Cmp(0.95, 0.90), Cmp(0.95, 0.90), Cmp(0.905, 0.90)]));
        // better at exactly half: not more than half
        Assert.Equal(Outcome.Inconclusive, VerdictRule.Judge(ClaimKind.Better, [Cmp(0.95, 0.90), Cmp(0.95, 0.90), Cmp(0.905, 0.90), Cmp(0.90, 0.905)]));
        // all within noise
        Assert.Equal(Outcome.Inconclusive, VerdictRule.Judge(ClaimKind.Better, [Cmp(0.905, 0.90), Cmp(0.90, 0.905)]));
        // worse at 2 of 3
        Assert.Equal(Outcome.DoesNotHold, VerdictRule.Judge(ClaimKind.Better, [Cmp(0.85, 0.90), Cmp(0.85, 0.90), Cmp(0.95, 0.90)]));
        // one seed: the noise is unknown, whatever the gap
        Assert.Equal(Outcome.Inconclusive, VerdictRule.Judge(ClaimKind.Better, [Cmp(0.99, 0.10, double.NaN, 1)]));
        // at least as good: ties count for the claim, worse at more than half refutes it
        Assert.Equal(Outcome.Holds, VerdictRule.Judge(ClaimKind.AtLeastAsGood, [Cmp(0.905, 0.90), Cmp(0.90, 0.905), Cmp(0.85, 0.90)]));
        Assert.Equal(Outcome.DoesNotHold, VerdictRule.Judge(ClaimKind.AtLeastAsGood, [Cmp(0.85, 0.90), Cmp(0.85, 0.90), Cmp(0.90, 0.90)]));
        Assert.Equal(Outcome.Inconclusive, VerdictRule.Judge(ClaimKind.AtLeastAsGood, [Cmp(0.85, 0.90), Cmp(0.90, 0.90)]));
    }

    [Fact]
    public void ClaimsPlanTheirVariants()
    {
        var c = Load(BaseTokens);
        var c1 = StudyClaims.Find("c1")!.Plan(c);
        var individual = c1.Variants.Single(v => v.Name == "individual");
        Assert.Equal(["adaptive_training=False bits_list=[8]", "adaptive_training=False bits_list=[6]", "adaptive_training=False bits_list=[4]"],
            individual.Parts.Select(p => string.Join(" ", p.Overrides)));
        Assert.Equal([new Bits(6)], individual.Parts[1].Reports!);
        Assert.Equal("individual", c1.Baseline);

        var c3 = StudyClaims.Find("C3")!.Plan(c);
        Assert.All(c3.Variants, v => Assert.Contains("bits_list=[8, 6, 4, 3, 2]", v.Parts[0].Overrides));
        Assert.Equal([new Bits(3), new Bits(2)], c3.Judged);

        // C5: the same epochs in all, split between the stages; one epoch cannot be split
        var c5 = StudyClaims.Find("C5")!.Plan(c);
        Assert.Equal(["fp_pretrain_epochs=2", "num_epochs=2"], c5.Variants.Single(v => v.Name == "two-stage").Parts[0].Overrides);
        Assert.Equal(["fp_pretrain_epochs=0", "num_epochs=4"], c5.Variants.Single(v => v.Name == "from scratch").Parts[0].Overrides);
        Assert.NotNull(StudyClaims.Find("C5")!.Plan(c with { NumEpochs = 1 }).Skipped);

        // C6: the fp teacher needs 32 bits in the list; judged below the highest bit-width
        var c6 = StudyClaims.Find("C6")!.Plan(c);
        Assert.Equal(["distill=fp", "bits_list=[32, 8, 6, 4]"], c6.Variants.Single(v => v.Name == "fp").Parts[0].Overrides);
        Assert.Equal([new Bits(6), new Bits(4)], c6.Judged);
        Assert.Equal(["highest", "fp", "recursive"], c6.Claimed.Select(v => v.Name));
    }

    [Fact]
    public void PlanSharesIdenticalRunsAndOrdersThemSeedMajor()
    {
        var c = Load(BaseTokens);
        var plan = StudyPlan.Make(c, BaseTokens, Load, [StudyClaims.Find("C2")!, StudyClaims.Find("C4")!], 2, Path.Combine(dir, "s"));
        // C2 on (switch_alpha=True) and C4 on (rescale=True) are both the config itself: one run per seed
        Assert.Equal(6, plan.Runs.Count);
        Assert.Equal([7, 7, 7, 8, 8, 8], plan.Runs.Select(r => r.Seed));
        Assert.Equal(plan.Runs.Count, plan.Runs.Select(r => r.Dir).Distinct().Count());
        Assert.Equal(["C2 on", "C4 on"], plan.Uses(plan.Runs[0]));
        Assert.All(plan.Runs, r => Assert.StartsWith(Path.Combine(dir, "s", "runs", $"seed{r.Seed}-"), r.Config.RunDir));
        var again = StudyPlan.Make(c, BaseTokens, Load, [StudyClaims.Find("C4")!], 1, Path.Combine(dir, "s"));
        Assert.Contains(again.Runs[0].Dir, plan.Runs.Select(r => r.Dir));   // another --only finds the same folders
    }

    /// <summary>A run folder with the given validation top-1 per bit-width and seconds, as a finished run leaves it.</summary>
    static void FakeRun(SubRun run, double seconds, params (int Bits, double Top1)[] top1)
    {
        Directory.CreateDirectory(run.Dir);
        var val = top1.ToDictionary(t => new Bits(t.Bits), t => new BitsMetrics(0.1, new Dictionary<int, double> { [1] = 1 - t.Top1, [5] = 0 }, 100));
        RunOutputs.AppendMetrics(run.Dir, val.Select(p => RunOutputs.MetricsLine(1, "val", p.Key, p.Value, 0.1, 1)));
        RunOutputs.WriteResults(Path.Combine(run.Dir, RunOutputs.ResultsFile), [.. val.Keys], 1, val, seconds);
    }

    [Fact]
    public void AggregatesFinishedRunsIntoTableAndVerdict()
    {
        var c = Load(BaseTokens);
        var plan = StudyPlan.Make(c, BaseTokens, Load, [StudyClaims.Find("C2")!], 3, Path.Combine(dir, "s"));
        double[] on = [0.96, 0.97, 0.98], off = [0.90, 0.91, 0.92];
        for (int k = 0; k < 3; k++)
        {
            var claim = plan.Claims[0];
            FakeRun(plan.RunOf(claim, claim.Variants[0], claim.Variants[0].Parts[0], k)!, 10 + k, (8, on[k]), (6, on[k]), (4, off[k]));
            FakeRun(plan.RunOf(claim, claim.Variants[1], claim.Variants[1].Parts[0], k)!, 20, (8, off[k]), (6, off[k]), (4, off[k]));
        }
        var lines = new List<string>();
        var results = new StudyRunner(plan, lines.Add).Run();   // every sub-run has results.json: nothing is trained
        Assert.All(results, r => Assert.Equal(SubRunStatus.Skipped, r.Status));
        Assert.Equal(6, lines.Count(l => l.Contains("skipped")));

        var claimResult = StudyResults.Of(plan, results).Single();
        var rowOn = claimResult.Rows.Single(r => r.Variant.Name == "on");
        Assert.Equal(0.97, rowOn.Top1["8"].Mean, 9);
        Assert.Equal(0.01, rowOn.Top1["8"].Std, 9);
        Assert.Equal(0.91, rowOn.Top1["4"].Mean, 9);
        Assert.Equal(11, rowOn.Seconds.Mean, 9);
        // on is better by 0.06 (noise 0.01) at 8 and 6 bits, equal at 4: better at 2 of 3
        var verdict = claimResult.Verdicts.Single();
        Assert.Equal(Outcome.Holds, verdict.Outcome);
        Assert.Contains("holds for on vs off (better at 2, worse at 0, within noise at 1 of 3 judged bit-widths", claimResult.Sentence);

        string md = File.ReadAllText(StudyReport.Write(plan, results, "adabits study test"));
        Assert.Contains("| on | 0.9700 ± 0.0100 | 0.9700 ± 0.0100 | 0.9100 ± 0.0100 | 0:11 |", md);
        Assert.Contains("| off | 0.9100 ± 0.0100 | 0.9100 ± 0.0100 | 0.9100 ± 0.0100 | 0:20 |", md);
        Assert.Contains("| C2 switchable clipping levels | on: holds |", md);
        Assert.True(File.Exists(Path.Combine(dir, "s", "plots", "C2.png")));
    }

    [Fact]
    public void SubRunConsoleKeepsValidationLinesAndTheLiveBar()
    {
        var forwarded = new List<string>();
        var terminal = new StringWriter();
        using (var log = new RunLog(new SubRunConsole(forwarded.Add, terminal, "[2/5] "), interactive: true, width: 60))
        {
            log.Line("profile: 8 bits 0.1 GBitOPs");
            log.Progress("epoch 1/2 step 3/10");
            log.Line("1.5s\ttrain\t8 bits\t1/2: loss: 0.500");
            log.Line("0.5s\tval\t8 bits\t1/2: loss: 0.400");
            log.Line("resumed from x: 1 of 2 epochs done");
        }
        Assert.Equal(["0.5s val 8 bits 1/2: loss: 0.400", "resumed from x: 1 of 2 epochs done"], forwarded);
        Assert.Equal("\r[2/5] " + "epoch 1/2 step 3/10".PadRight(59) + Environment.NewLine, terminal.ToString());

        var plain = new List<string>();
        using (var log = new RunLog(new SubRunConsole(plain.Add, null, ""), interactive: false))
            log.Progress("epoch 1/2 step 3/10");
        Assert.Empty(plain);   // not a terminal: the sub-run's step lines stay in its train.log
    }

    [Fact]
    public void BadInputIsOneLineAndExitTwo()
    {
        var (code, _, err) = CliRunner.Run("study", "app:none.yml", "--only", "C2,C9");
        Assert.Equal(2, code);
        Assert.Equal("adabits: study: --only: unknown claim 'C9' (expected some of C1, C2, C3, C4, C5, C6)", err.Trim());
        (code, _, err) = CliRunner.Run("study", "app:none.yml", "--seeds", "0");
        Assert.Equal(2, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("--seeds must be in 1..1000, got 0", err);
    }

    [Fact]
    public void MiniatureStudyWritesStudyMdAndSkipsFinishedRunsWhenRunAgain()
    {
        string outDir = Path.Combine(dir, "study");
        string[] args = ["study", "app:" + Path.Combine(Mnist.RepoRoot(), "apps", "mnist", "adabits.yml"), $"dataset_dir={Mnist.Dir}",
            "num_epochs=2", "train_limit=256", "val_limit=256", "log_interval=1000", "--seeds", "1", "--only", "C2,C4", "--out", outDir];
        var (code, stdout, stderr) = CliRunner.Run(args);
        Assert.True(code == 0, stdout + stderr);
        // C2 on and C4 on are the config itself: 3 sub-runs, not 4
        Assert.Contains("3 sub-runs for C2, C4, 1 seed(s)", stdout);
        Assert.Contains("study: sub-run 3/3", stdout);
        Assert.Contains("about", stdout);   // the ETA, once a sub-run has finished
        string md = File.ReadAllText(Path.Combine(outDir, "study.md"));
        foreach (var section in new[] { "## C2: switchable clipping levels", "## C4: SAT rescaling", "## Verdict rule", "| variant | 8 bits | 6 bits | 5 bits | 4 bits | wall time per seed |" })
            Assert.Contains(section, md);
        Assert.Contains("**Verdict:** C2 at this budget: inconclusive for on vs off (fewer than 2 seeds", md);
        Assert.Contains("**Verdict:** C4 at this budget: inconclusive for on vs off", md);
        foreach (var png in new[] { "C2.png", "C4.png", "C4_curves.png" })
        {
            Assert.Contains($"](plots/{png})", md);
            var bytes = File.ReadAllBytes(Path.Combine(outDir, "plots", png));
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        }
        var runs = Directory.GetDirectories(Path.Combine(outDir, "runs"));
        Assert.Equal(3, runs.Length);
        var written = runs.ToDictionary(r => r, r => File.GetLastWriteTimeUtc(Path.Combine(r, "results.json")));

        (code, stdout, stderr) = CliRunner.Run(args);
        Assert.True(code == 0, stdout + stderr);
        Assert.Equal(3, stdout.Split('\n').Count(l => l.Contains("done before") && l.Contains("skipped")));
        Assert.DoesNotContain(": training", stdout);
        Assert.All(runs, r => Assert.Equal(written[r], File.GetLastWriteTimeUtc(Path.Combine(r, "results.json"))));
        Assert.Equal(md.Replace("trained", "done before"), File.ReadAllText(Path.Combine(outDir, "study.md")));

        // a sub-run stopped after its last checkpoint but before results.json resumes there, and only it runs
        string results = Path.Combine(runs[0], RunOutputs.ResultsFile);
        string before = File.ReadAllText(results);
        File.Delete(results);
        (code, stdout, stderr) = CliRunner.Run(args);
        Assert.True(code == 0, stdout + stderr);
        Assert.Equal(2, stdout.Split('\n').Count(l => l.Contains("skipped")));
        Assert.Contains("resumed from", stdout);
        // the metrics are those of the uninterrupted run; only the wall time may differ
        Assert.Equal(WithoutSeconds(before), WithoutSeconds(File.ReadAllText(results)));
    }

    static string WithoutSeconds(string json) =>
        System.Text.RegularExpressions.Regex.Replace(json, "\"seconds\": [0-9.eE+-]+", "\"seconds\": _");
}
