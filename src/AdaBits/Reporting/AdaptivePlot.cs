using AdaBits.IO;
using ScottPlot;

namespace AdaBits.Reporting;

/// <summary>One request of an adaptive run: when it started (s), its latency, the bit-width it ran at, whether the load was on.</summary>
internal sealed record AdaptiveSample(double Seconds, double Ms, int Bits, bool Load);

/// <summary>
/// The PNG of `adabits bench adaptive`: request latency over time with the budget line, and below it the
/// bit-width the runner chose; the spans where the background load ran are shaded in both.
/// </summary>
internal static class AdaptivePlot
{
    public static void Write(string path, IReadOnlyList<AdaptiveSample> samples, double budgetMs, IReadOnlyList<(double From, double To)> loadSpans,
        string title, AtomicWriter? writer = null)
    {
        writer ??= AtomicWriter.Default;
        var multi = new Multiplot();
        multi.AddPlots(2);
        multi.Layout = new ScottPlot.MultiplotLayouts.Rows();
        double[] t = samples.Select(s => s.Seconds).ToArray();

        var lat = multi.GetPlot(0);
        Shade(lat, loadSpans);
        var points = lat.Add.ScatterPoints(t, samples.Select(s => s.Ms).ToArray());
        points.MarkerSize = 3;
        points.LegendText = "request latency";
        var budget = lat.Add.HorizontalLine(budgetMs);
        budget.LineWidth = 2;
        budget.LinePattern = LinePattern.Dashed;
        budget.LegendText = $"p95 budget {budgetMs:F2} ms";
        double top = samples.Count == 0 ? budgetMs : Math.Max(budgetMs, AdaBits.Profiling.LatencyStats.Quantile(samples.Select(s => s.Ms).Order().ToArray(), 0.995));
        lat.Axes.SetLimitsY(0, top * 1.3);
        lat.Title(title);
        lat.YLabel("latency (ms)");
        lat.ShowLegend(Alignment.UpperRight);

        var bits = multi.GetPlot(1);
        Shade(bits, loadSpans);
        var line = bits.Add.ScatterLine(t, samples.Select(s => (double)s.Bits).ToArray());
        line.ConnectStyle = ConnectStyle.StepHorizontal;
        line.LineWidth = 2;
        line.MarkerSize = 0;
        line.LegendText = "bit-width chosen";
        bits.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        var range = samples.Count == 0 ? (2, 8) : (samples.Min(s => s.Bits), samples.Max(s => s.Bits));
        bits.Axes.SetLimitsY(range.Item1 - 0.5, range.Item2 + 0.5);
        bits.XLabel("time (s); shaded: background load on");
        bits.YLabel("bits");
        bits.ShowLegend(Alignment.LowerRight);
        writer.Write(path, tmp => multi.SavePng(tmp, 1100, 700));
    }

    static void Shade(Plot p, IReadOnlyList<(double From, double To)> spans)
    {
        foreach (var (from, to) in spans)
        {
            var span = p.Add.HorizontalSpan(from, to);
            span.FillStyle.Color = Colors.Orange.WithAlpha(0.15);
            span.LineStyle.Width = 0;
        }
    }
}
