using System.CommandLine;
using System.Globalization;
using AdaBits.IO;
using AdaBits.Plotting;
using AdaBits.Quantization;

namespace AdaBits.Cli.Commands;

internal sealed class SchemesCommand : CliCommand
{
    const string Help = """
        the quantizer's transfer function of the three schemes (CSV, PNG)

        The quantizer's transfer function for the schemes original, modified and centered at B bits
        (1..31), sampled at 1001 evenly spaced x: on [0, 1] as q(x) (activation view, the default) or
        on [-1, 1] as 2 q((x + 1) / 2) - 1 (weight view). Prints each scheme's levels.
        """;

    public override int Order => 60;

    public override Command Build()
    {
        var bits = CliOptions.Int("--bits", "The bit-width B", null, 1, 31, required: true);
        var view = CliOptions.Choice("--view", "activation: q(x) on [0, 1]; weight: on [-1, 1]", "activation", "activation", "weight");
        var csv = CliOptions.Text("--csv", "FILE", "Write x,original,modified,centered");
        var png = CliOptions.Text("--png", "FILE", "Plot the three staircases");
        var command = new Command("schemes", Help) { bits, view, csv, png };
        command.SetAction(r => Run(r.GetValue(bits), r.GetValue(view) == "weight" ? QuantView.Weight : QuantView.Activation,
            r.GetValue(csv), r.GetValue(png)));
        return command;
    }

    internal static int Run(int bits, QuantView view, string? csvFile, string? pngFile)
    {
        var f = TransferFunction.Sample(bits, view);
        foreach (var s in QuantSchemes.All)
        {
            var levels = f.Levels(s);
            string shown = string.Join(" ", levels.Take(16).Select(v => v.ToString("0.####", CultureInfo.InvariantCulture)));
            Console.WriteLine($"{s.Name,-9} {levels.Length,3} levels: {shown}{(levels.Length > 16 ? " ..." : "")}");
        }
        if (csvFile is string csv)
        {
            AtomicFile.WriteAllText(csv, f.ToCsv());
            Console.WriteLine($"wrote {csv}");
        }
        if (pngFile is string png)
        {
            SchemePlot.SavePng(f, png);
            Console.WriteLine($"wrote {png}");
        }
        return 0;
    }
}
