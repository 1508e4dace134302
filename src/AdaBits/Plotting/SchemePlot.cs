using AdaBits.IO;
using AdaBits.Quantization;
using ScottPlot;

namespace AdaBits.Plotting;

/// <summary>The staircases of the three schemes side by side, one panel each, like the reference's scheme plots.</summary>
internal static class SchemePlot
{
    public static void SavePng(TransferFunction f, string path, int panelWidth = 420, int height = 420)
    {
        var schemes = QuantSchemes.All;
        string view = f.View == QuantView.Activation ? "activation" : "weight";
        string xLabel = f.View == QuantView.Activation ? "input x" : "normalised weight w";
        string yLabel = f.View == QuantView.Activation ? "q(x)" : "2 q((w + 1) / 2) - 1";
        var multi = new Multiplot();
        multi.AddPlots(schemes.Count);
        multi.Layout = new ScottPlot.MultiplotLayouts.Columns();
        double lo = f.View == QuantView.Activation ? 0 : -1;
        for (int i = 0; i < schemes.Count; i++)
        {
            var p = multi.GetPlot(i);
            var s = schemes[i];
            var ident = p.Add.Line(lo, lo, 1, 1);
            ident.LineColor = Colors.Gray.WithAlpha(0.6);
            ident.LinePattern = LinePattern.Dashed;
            ident.LegendText = "identity";
            var line = p.Add.ScatterLine(f.X.Select(v => (double)v).ToArray(), f.Y[s].Select(v => (double)v).ToArray());
            line.LineWidth = 2;
            line.LegendText = $"{s.Name} ({f.Levels(s).Length} levels)";
            p.Title($"{s.Name} scheme, {f.Bits}-bit {view}");
            p.XLabel(xLabel);
            p.YLabel(yLabel);
            p.Axes.SetLimits(lo - 0.05, 1.05, lo - 0.05, 1.05);
            p.ShowLegend(Alignment.UpperLeft);
        }
        AtomicFile.Write(path, tmp => multi.SavePng(tmp, panelWidth * schemes.Count, height));
    }
}
