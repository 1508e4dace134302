using AdaBits.Reporting;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits plot RUN_DIR` and `adabits report RUN_DIR`.</summary>
internal static class ReportCommand
{
    const string PlotHelp = """
        usage: adabits plot RUN_DIR

        Writes PNG plots into RUN_DIR/plots/: loss.png and top1.png (training and validation per
        bit-width per epoch, from metrics.jsonl), accuracy_vs_gbitops.png and accuracy_vs_mbytes.png
        (one point per bit-width, from results.json and profile.json) and alpha.png (the learned
        clipping levels per layer and bit-width, from best_model.pt).
        """;

    const string ReportHelp = """
        usage: adabits report RUN_DIR

        Writes the plots (see 'adabits plot --help') and RUN_DIR/report.md: the config summary, the
        per-bit-width table (top-1, top-5, loss, GBitOPs, MB, latency) and the plots.
        """;

    public static int Plot(string[] args)
    {
        if (CliMain.Help(args, PlotHelp)) return 0;
        var run = RunRecords.Read(RunDir(args, "plot"));
        foreach (var f in RunPlots.Write(run)) Console.WriteLine(Path.Combine(run.RunDir, f));
        return 0;
    }

    public static int Report(string[] args)
    {
        if (CliMain.Help(args, ReportHelp)) return 0;
        Console.WriteLine(RunReport.Write(RunDir(args, "report")));
        return 0;
    }

    static string RunDir(string[] args, string command)
    {
        var a = new CliArgs(command, args, new HashSet<string>(), new HashSet<string>());
        if (a.Positional.Count != 1) throw new UsageException($"{command}: expected one RUN_DIR (see '{command} --help')");
        string dir = a.Positional[0];
        if (!Directory.Exists(dir)) throw new UsageException($"{command}: run folder '{dir}' does not exist");
        return dir;
    }
}
