using AdaBits.IO;
using ScottPlot;

namespace AdaBits.Reporting;

/// <summary>
/// The PNG plots of a run folder (plots/): loss and top-1 per bit-width per epoch, accuracy against
/// GBitOPs and model size (one point per bit-width), and the learned clipping levels.
/// </summary>
internal static class RunPlots
{
    public const string Folder = "plots";

    /// <summary>Writes every plot the records allow; returns the file names written (relative to the run folder).</summary>
    public static IReadOnlyList<string> Write(RunRecords run, AtomicWriter? writer = null)
    {
        writer ??= AtomicWriter.Default;
        var written = new List<string>();
        string dir = Path.Combine(run.RunDir, Folder);
        Directory.CreateDirectory(dir);
        Save(writer, written, dir, "loss.png", PerEpoch(run, "loss", "loss (cross-entropy)", r => r.Loss, Alignment.UpperRight));
        Save(writer, written, dir, "top1.png", PerEpoch(run, "top-1 accuracy", "top-1 accuracy", r => 1 - r.Top1Error, Alignment.LowerRight));
        if (run.Summary.All(s => s.Top1 is not null && s.GBitOps is not null))
        {
            Save(writer, written, dir, "accuracy_vs_gbitops.png", TradeOff(run, s => s.GBitOps!.Value, "GBitOPs per image", "Accuracy against compute (BitOPs)"));
            Save(writer, written, dir, "accuracy_vs_mbytes.png", TradeOff(run, s => s.MBytes!.Value, "model size (MB)", "Accuracy against model size"));
        }
        var alphas = run.ClippingLevels();
        if (alphas.Count > 0) Save(writer, written, dir, "alpha.png", ClippingLevels(run, alphas));
        return written;
    }

    static void Save(AtomicWriter writer, List<string> written, string dir, string name, (Multiplot Plot, int Width, int Height) p)
    {
        writer.Write(Path.Combine(dir, name), tmp => p.Plot.SavePng(tmp, p.Width, p.Height));
        written.Add(Path.Combine(Folder, name));
    }

    static (Multiplot, int, int) PerEpoch(RunRecords run, string what, string yLabel, Func<EpochRecord, double> value, Alignment legend)
    {
        var multi = new Multiplot();
        string[] phases = ["train", "val"];
        multi.AddPlots(phases.Length);
        multi.Layout = new ScottPlot.MultiplotLayouts.Columns();
        for (int i = 0; i < phases.Length; i++)
        {
            var p = multi.GetPlot(i);
            foreach (var bits in run.BitsOrder)
            {
                var rows = run.Epochs.Where(e => e.Phase == phases[i] && e.Bits == bits).OrderBy(e => e.Epoch).ToList();
                if (rows.Count == 0) continue;
                var line = p.Add.ScatterLine(rows.Select(r => (double)r.Epoch).ToArray(), rows.Select(value).ToArray());
                line.LegendText = $"{bits} bits";
                line.LineWidth = 2;
                line.MarkerSize = 6;
            }
            p.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
            p.Title($"{(phases[i] == "train" ? "Training" : "Validation")} {what} per bit-width");
            p.XLabel("epoch");
            p.YLabel(yLabel);
            p.ShowLegend(legend);
        }
        return (multi, 1100, 450);
    }

    static (Multiplot, int, int) TradeOff(RunRecords run, Func<BitsSummary, double> x, string xLabel, string title)
    {
        var multi = new Multiplot();
        multi.AddPlots(1);
        var p = multi.GetPlot(0);
        var points = run.Summary.ToList();
        var line = p.Add.ScatterLine(points.Select(x).ToArray(), points.Select(s => s.Top1!.Value).ToArray());
        line.LineWidth = 1;
        line.MarkerSize = 9;
        line.LegendText = "best model, validation top-1";
        foreach (var s in points)
        {
            var label = p.Add.Text($"{s.Bits} bits", x(s), s.Top1!.Value);
            label.LabelFontSize = 13;
            label.OffsetY = -8;
        }
        p.Axes.Margins(0.2, 0.2);
        p.Title(title);
        p.XLabel(xLabel);
        p.YLabel("top-1 accuracy");
        p.ShowLegend(Alignment.LowerRight);
        return (multi, 700, 500);
    }

    static (Multiplot, int, int) ClippingLevels(RunRecords run, IReadOnlyList<(string Layer, float[] Alpha)> alphas)
    {
        var multi = new Multiplot();
        multi.AddPlots(1);
        var p = multi.GetPlot(0);
        int entries = alphas.Max(a => a.Alpha.Length);
        for (int j = 0; j < entries; j++)
        {
            var xs = new List<double>();
            var ys = new List<double>();
            for (int i = 0; i < alphas.Count; i++)
            {
                var a = alphas[i].Alpha;
                if (a.Length == 1 && j > 0) continue;
                xs.Add(i);
                ys.Add(a[Math.Min(j, a.Length - 1)]);
            }
            var line = p.Add.ScatterLine(xs.ToArray(), ys.ToArray());
            line.LegendText = entries == 1 ? "shared alpha" : $"{(j < run.BitsOrder.Count ? run.BitsOrder[j] : j.ToString())} bits";
            line.LineWidth = 2;
            line.MarkerSize = 6;
        }
        p.Axes.Bottom.SetTicks(Enumerable.Range(0, alphas.Count).Select(i => (double)i).ToArray(),
            alphas.Select(a => ShortName(a.Layer)).ToArray());
        p.Axes.Bottom.TickLabelStyle.Rotation = 45;
        p.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        p.Title("Learned clipping levels |alpha| per layer and bit-width");
        p.XLabel("layer");
        p.YLabel("|alpha|");
        p.ShowLegend(Alignment.UpperLeft);
        return (multi, Math.Max(800, 60 * alphas.Count), 560);
    }

    static string ShortName(string layer) => layer.Replace("stage_", "s").Replace("_layer_", "l").Replace(".body", "").Replace("classifier", "fc");
}
