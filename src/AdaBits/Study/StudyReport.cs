using System.Globalization;
using System.Text;
using AdaBits.IO;
using AdaBits.Modules;
using AdaBits.Reporting;
using AdaBits.Training;
using ScottPlot;

namespace AdaBits.Study;

/// <summary>
/// study.md of a study folder: the setting, the verdict rule, per claim its variants, a table (mean ± standard
/// deviation of top-1 over seeds per bit-width, wall time per seed), a plot and the verdict; then every sub-run.
/// </summary>
internal static class StudyReport
{
    public const string FileName = "study.md";
    const string PlotsFolder = "plots";

    /// <summary>Writes the plots and study.md (each atomically); returns study.md's path.</summary>
    public static string Write(StudyPlan plan, IReadOnlyList<SubRunResult> results, string command, AtomicWriter? writer = null)
    {
        writer ??= AtomicWriter.Default;
        var claims = StudyResults.Of(plan, results);
        var plots = new Dictionary<string, List<string>>();
        foreach (var c in claims)
        {
            var files = plots[c.Plan.Claim.Id] = [];
            files.Add(Save(writer, plan.Dir, $"{c.Plan.Claim.Id}.png", Top1VsBits(c), 800, 500));
            if (c.Plan.Claim.Id == "C4") files.Add(Save(writer, plan.Dir, "C4_curves.png", Curves(plan, c, results), 900, 550));
        }
        string path = Path.Combine(plan.Dir, FileName);
        writer.WriteAllText(path, Markdown(plan, results, claims, plots, command));
        return path;
    }

    static string Markdown(StudyPlan plan, IReadOnlyList<SubRunResult> results, IReadOnlyList<ClaimResult> claims,
        Dictionary<string, List<string>> plots, string command)
    {
        var ci = CultureInfo.InvariantCulture;
        var b = plan.Base;
        var sb = new StringBuilder();
        sb.AppendLine($"# Study: {b.SourcePath}").AppendLine();
        sb.AppendLine($"Command: `{command}`").AppendLine();
        sb.AppendLine($"Model {b.Model}{(b.Depth is int d ? $" (depth {d})" : "")}, data set {b.Dataset}" +
            (b.TrainLimit is int t ? $" (first {t} training images" : " (all training images") +
            (b.ValLimit is int v ? $", first {v} validation images)" : ", all validation images)") +
            $", {b.NumEpochs} epoch(s) per run, batch size {b.BatchSize}, bits_list {Bits.ListToString(b.Quant.BitsList)}. " +
            $"Seeds: random_seed {b.RandomSeed}..{b.RandomSeed + plan.Seeds - 1} ({plan.Seeds}). " +
            $"{results.Count} sub-runs, {RunOutputs.Duration(results.Where(r => r.Records is not null).Sum(r => r.Seconds))} of training in all. " +
            "Top-1 is the validation top-1 of each run's best model (results.json).").AppendLine();
        sb.AppendLine("## Verdict rule").AppendLine().AppendLine(VerdictRule.Text).AppendLine();
        sb.AppendLine("## Summary").AppendLine().AppendLine("| claim | verdict |").AppendLine("|---|---|");
        foreach (var c in plan.Claims)
        {
            var r = claims.FirstOrDefault(x => x.Plan == c);
            string verdict = r is null ? $"not run: {c.Skipped}" : string.Join("; ", r.Verdicts.Select(v => $"{v.Variant.Name}: {VerdictRule.Name(v.Outcome)}"));
            sb.AppendLine($"| {c.Claim.Id} {c.Claim.Title} | {verdict} |");
        }
        sb.AppendLine();
        foreach (var c in plan.Claims)
        {
            sb.AppendLine($"## {c.Claim.Id}: {c.Claim.Title}").AppendLine();
            sb.AppendLine($"Claim: {c.Claim.Statement}.").AppendLine();
            var r = claims.FirstOrDefault(x => x.Plan == c);
            if (r is null)
            {
                sb.AppendLine($"Not run: {c.Skipped}.").AppendLine();
                continue;
            }
            sb.AppendLine("Variants (overrides on top of the config): " + string.Join("; ", c.Variants.Select(v => $"**{v.Name}** `{v.OverridesText}`")) +
                $". Baseline: {c.Baseline}. Judged at {Bits.ListToString(c.Judged)} bits. {c.Notes}").AppendLine();
            sb.AppendLine("| variant | " + string.Join(" | ", r.BitsOrder.Select(x => $"{x} bits")) + " | wall time per seed |");
            sb.AppendLine("|---|" + string.Concat(r.BitsOrder.Select(_ => "---|")) + "---|");
            foreach (var row in r.Rows)
                sb.AppendLine($"| {row.Variant.Name} | " + string.Join(" | ", r.BitsOrder.Select(x => row.Top1[x].Text())) + $" | {Duration(row.Seconds)} |");
            sb.AppendLine();
            sb.AppendLine("Top-1: mean ± sample standard deviation over the seeds that finished (one value: one seed).").AppendLine();
            foreach (var p in plots[c.Claim.Id]) sb.AppendLine($"![{c.Claim.Id}]({p})").AppendLine();
            sb.AppendLine($"**Verdict:** {r.Sentence}").AppendLine();
        }
        sb.AppendLine("## Sub-runs").AppendLine().AppendLine("| run folder | serves | seed | overrides | status | seconds | top-1 |").AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            string top1 = r.Records is null ? r.Error ?? "" : string.Join(", ", r.Records.Summary.Select(s => $"{s.Bits}: {(s.Top1 is double x ? x.ToString("F4", ci) : "?")}"));
            string status = r.Status switch { SubRunStatus.Skipped => "done before", SubRunStatus.Trained => "trained", _ => "failed" };
            sb.AppendLine($"| {StudyPlan.RunsFolder}/{r.Run.Name} | {string.Join(", ", plan.Uses(r.Run))} | {r.Run.Seed} | `{string.Join(" ", r.Run.Overrides)}` | {status} | " +
                (r.Records is null ? "" : r.Seconds.ToString("F1", ci)) + $" | {top1.Replace("|", "\\|")} |");
        }
        return sb.ToString();
    }

    static string Duration(SeedStats s) => s.N == 0 ? "–" : RunOutputs.Duration(s.Mean);

    static string Save(AtomicWriter writer, string dir, string name, Plot plot, int width, int height)
    {
        writer.Write(Path.Combine(dir, PlotsFolder, name), tmp => plot.SavePng(tmp, width, height));
        return $"{PlotsFolder}/{name}";
    }

    /// <summary>Top-1 against bit-width, one line per variant, error bars of one standard deviation.</summary>
    static Plot Top1VsBits(ClaimResult c)
    {
        var plot = new Plot();
        int m = c.BitsOrder.Count, n = c.Rows.Count;
        for (int i = 0; i < n; i++)
        {
            var row = c.Rows[i];
            double offset = n == 1 ? 0 : 0.15 * (i - (n - 1) / 2.0);   // side by side, so the error bars do not hide each other
            var points = Enumerable.Range(0, m).Where(j => row.Top1[c.BitsOrder[j]].N > 0).ToList();
            if (points.Count == 0) continue;
            double[] xs = points.Select(j => j + offset).ToArray();
            double[] ys = points.Select(j => row.Top1[c.BitsOrder[j]].Mean).ToArray();
            double[] es = points.Select(j => row.Top1[c.BitsOrder[j]].Std is double s && double.IsFinite(s) ? s : 0).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = row.Variant.Name;
            line.LineWidth = 2;
            line.MarkerSize = 8;
            var bars = plot.Add.ErrorBar(xs, ys, es);
            bars.Color = line.Color;
        }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, m).Select(j => (double)j).ToArray(), c.BitsOrder.Select(x => $"{x} bits").ToArray());
        plot.Axes.Margins(0.1, 0.15);
        plot.Title($"{c.Plan.Claim.Id}: {c.Plan.Claim.Title} (validation top-1, mean ± std over seeds)");
        plot.XLabel("bit-width");
        plot.YLabel("top-1 accuracy");
        plot.ShowLegend(Alignment.LowerLeft);
        return plot;
    }

    /// <summary>Validation top-1 per epoch, one line per variant and bit-width, averaged over the seeds (from metrics.jsonl).</summary>
    static Plot Curves(StudyPlan plan, ClaimResult c, IReadOnlyList<SubRunResult> results)
    {
        var byRun = results.Where(r => r.Records is not null).ToDictionary(r => r.Run, r => r.Records!);
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        foreach (var row in c.Rows)
            for (int j = 0; j < c.BitsOrder.Count; j++)
            {
                string bits = c.BitsOrder[j];
                var epochs = new SortedDictionary<int, List<double>>();
                foreach (var part in row.Variant.Parts)
                    for (int k = 0; k < plan.Seeds; k++)
                    {
                        if (plan.RunOf(c.Plan, row.Variant, part, k) is not { } run || !byRun.TryGetValue(run, out var records)) continue;
                        foreach (var e in records.Epochs.Where(e => e.Phase == "val" && e.Bits == bits))
                            (epochs.TryGetValue(e.Epoch, out var l) ? l : epochs[e.Epoch] = []).Add(1 - e.Top1Error);
                    }
                if (epochs.Count == 0) continue;
                var line = plot.Add.ScatterLine(epochs.Keys.Select(x => (double)x).ToArray(), epochs.Values.Select(v => v.Average()).ToArray());
                line.LegendText = $"{row.Variant.Name}, {bits} bits";
                line.LineWidth = 2;
                line.MarkerSize = 6;
                line.Color = palette.GetColor(j);   // a colour per bit-width, a line pattern per variant
                if (row != c.Rows[0])
                {
                    line.LinePattern = LinePattern.Dashed;
                    line.MarkerShape = MarkerShape.OpenSquare;   // also tells the variants apart when there is one epoch
                }
            }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.Title($"{c.Plan.Claim.Id}: validation top-1 per epoch (mean over seeds)");
        plot.XLabel("epoch");
        plot.YLabel("top-1 accuracy");
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }
}
