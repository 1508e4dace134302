using System.Globalization;
using AdaBits.IO;
using AdaBits.Plotting;
using AdaBits.Quantization;

namespace AdaBits.Cli.Commands;

internal static class SchemesCommand
{
    const string Help = """
        usage: adabits schemes --bits B [--view activation|weight] [--csv FILE] [--png FILE]

        The quantizer's transfer function for the schemes original, modified and centered at B bits
        (1..31), sampled at 1001 evenly spaced x: on [0, 1] as q(x) (activation view, the default) or
        on [-1, 1] as 2 q((x + 1) / 2) - 1 (weight view). Prints each scheme's levels.

          --csv FILE   write x,original,modified,centered
          --png FILE   plot the three staircases
        """;

    internal static int Run(string[] args)
    {
        if (CliMain.Help(args, Help)) return 0;
        var a = new CliArgs("schemes", args, new HashSet<string> { "--bits", "--view", "--csv", "--png" }, new HashSet<string>());
        a.NoPositional();
        if (!a.Has("--bits")) throw new UsageException("schemes: --bits is required (an integer in 1..31)");
        int bits = a.GetInt("--bits", 0, 1, 31);
        var view = a.GetChoice("--view", "activation", "activation", "weight") == "weight" ? QuantView.Weight : QuantView.Activation;
        var f = TransferFunction.Sample(bits, view);
        foreach (var s in QuantSchemes.All)
        {
            var levels = f.Levels(s);
            string shown = string.Join(" ", levels.Take(16).Select(v => v.ToString("0.####", CultureInfo.InvariantCulture)));
            Console.WriteLine($"{s.Name(),-9} {levels.Length,3} levels: {shown}{(levels.Length > 16 ? " ..." : "")}");
        }
        if (a.Get("--csv") is string csv)
        {
            AtomicFile.WriteAllText(csv, f.ToCsv());
            Console.WriteLine($"wrote {csv}");
        }
        if (a.Get("--png") is string png)
        {
            SchemePlot.SavePng(f, png);
            Console.WriteLine($"wrote {png}");
        }
        return 0;
    }
}
