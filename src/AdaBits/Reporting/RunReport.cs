using System.Globalization;
using System.Text;
using AdaBits.Config;
using AdaBits.Modules;
using AdaBits.IO;
using AdaBits.Quantization;

namespace AdaBits.Reporting;

/// <summary>report.md of a run folder: config summary, the per-bit-width table and the plots.</summary>
internal static class RunReport
{
    public const string FileName = "report.md";

    /// <summary>Writes the plots and report.md; returns the report's path.</summary>
    public static string Write(string runDir, AtomicWriter? writer = null)
    {
        writer ??= AtomicWriter.Default;
        var run = RunRecords.Read(runDir);
        var plots = RunPlots.Write(run, writer);
        string configPath = Path.Combine(runDir, "config.yml");
        TrainConfig? config = File.Exists(configPath) ? ConfigLoader.Load(["app:" + configPath], _ => { }) : null;
        string path = Path.Combine(runDir, FileName);
        writer.WriteAllText(path, Markdown(run, config, plots));
        return path;
    }

    static string Markdown(RunRecords run, TrainConfig? c, IReadOnlyList<string> plots)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# Training report").AppendLine();
        if (c is not null)
        {
            sb.AppendLine("| setting | value |").AppendLine("|---|---|");
            void Row(string k, object v) => sb.AppendLine(ci, $"| {k} | {v} |");
            Row("model", c.Model + (c.Depth is int d ? $" (depth {d})" : ""));
            Row("data set", $"{c.Dataset}" + (c.TrainLimit is int t ? $" (first {t} training images)" : "") + (c.ValLimit is int v ? $" (first {v} validation images)" : ""));
            Row("bits_list", Bits.ListToString(c.Quant.BitsList) + (c.AdaptiveTraining ? ", joint adaptive training" : ", single bit-width"));
            Row("quantization", $"weights {c.Quant.WeightScheme.Name}, activations {c.Quant.ActScheme.Name}, clamp {Py(c.Quant.Clamp)}, rescale {Py(c.Quant.Rescale)}, rescale_conv {Py(c.Quant.RescaleConv)} ({c.Quant.RescaleType.ToString().ToLowerInvariant()})");
            Row("switchable", $"BN {Py(c.Quant.SwitchBn)}, alpha {Py(c.Quant.SwitchAlpha)}");
            Row("optimisation", string.Create(ci, $"{c.Optimizer}, lr {c.Lr} ({c.LrScheduler}), momentum {c.Momentum}, weight decay {(decimal)c.WeightDecay}, batch {c.BatchSize}, {c.NumEpochs} epochs"));
            if (c.FpPretrainEpochs > 0)
                Row("two-stage", $"{c.FpPretrainEpochs} full-precision epochs first (fp_pretrain/, its own report), then the {c.NumEpochs} joint epochs above from its expanded best model");
            if (c.Distill != "none")
                Row("distillation", string.Create(ci, $"{c.Distill} teacher, weight {c.DistillWeight}, temperature {c.DistillTemperature}"));
            Row("seed", c.RandomSeed);
            sb.AppendLine();
        }
        if (run.BestEpoch is int best)
            sb.AppendLine("Best epoch: " + best.ToString(ci) + (run.Seconds is double s ? $"; training took {TimeSpan.FromSeconds(s):h\\:mm\\:ss}." : ".")).AppendLine();
        sb.AppendLine("| bits | top-1 | top-5 | loss | GBitOPs | MB | latency (ms, batch 1) |").AppendLine("|---|---|---|---|---|---|---|");
        foreach (var b in run.Summary)
            sb.AppendLine(ci, $"| {b.Bits} | {F(b.Top1, "F4")} | {F(b.Top5, "F4")} | {F(b.Loss, "F4")} | {F(b.GBitOps, "F4")} | {F(b.MBytes, "F4")} | {F(b.LatencyMs, "F3")} |");
        sb.AppendLine();
        if (!run.HasProfile) sb.AppendLine("(No profile.json in this folder: GBitOPs, MB and latency are not available.)").AppendLine();
        foreach (var p in plots)
            sb.AppendLine(ci, $"![{Path.GetFileNameWithoutExtension(p).Replace('_', ' ')}]({p.Replace('\\', '/')})").AppendLine();
        return sb.ToString();
    }

    static string Py(bool b) => b ? "True" : "False";

    static string F(double? v, string format) => v is double d ? d.ToString(format, CultureInfo.InvariantCulture) : "-";
}
