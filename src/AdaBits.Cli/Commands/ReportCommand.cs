using System.CommandLine;
using AdaBits.Reporting;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits plot RUN_DIR`.</summary>
internal sealed class PlotCommand : CliCommand
{
    const string Help = """
        PNG plots of a run folder (losses, accuracy per bit-width, trade-off, alpha)

        Writes PNG plots into RUN_DIR/plots/: loss.png and top1.png (training and validation per
        bit-width per epoch, from metrics.jsonl), accuracy_vs_gbitops.png and accuracy_vs_mbytes.png
        (one point per bit-width, from results.json and profile.json) and alpha.png (the learned
        clipping levels per layer and bit-width, from best_model.pt).
        """;

    public override int Order => 30;

    public override Command Build()
    {
        var command = new Command("plot", Help);
        var runDir = ReportCommand.RunDirArgument(command);
        command.SetAction(r => Plot(r.GetValue(runDir)!));
        return command;
    }

    public static int Plot(string runDir)
    {
        var run = RunRecords.Read(ReportCommand.Existing(runDir, "plot"));
        foreach (var f in RunPlots.Write(run)) Console.WriteLine(Path.Combine(run.RunDir, f));
        return 0;
    }
}

/// <summary>`adabits report RUN_DIR`.</summary>
internal sealed class ReportCommand : CliCommand
{
    const string Help = """
        report.md of a run folder, with its plots

        Writes the plots (see 'adabits plot --help') and RUN_DIR/report.md: the config summary, the
        per-bit-width table (top-1, top-5, loss, GBitOPs, MB, latency) and the plots. RUN_DIR is the
        folder 'adabits train' printed on its first line.
        """;

    public override int Order => 40;

    public override Command Build()
    {
        var command = new Command("report", Help);
        var runDir = RunDirArgument(command);
        command.SetAction(r => Report(r.GetValue(runDir)!));
        return command;
    }

    public static int Report(string runDir)
    {
        Console.WriteLine(RunReport.Write(Existing(runDir, "report")));
        return 0;
    }

    internal static Argument<string> RunDirArgument(Command command)
    {
        var arg = new Argument<string>("RUN_DIR") { Description = "A run folder (the first line 'adabits train' prints)" };
        command.Arguments.Add(arg);
        return arg;
    }

    internal static string Existing(string dir, string command)
    {
        if (!Directory.Exists(dir)) throw new UsageException($"{command}: run folder '{dir}' does not exist");
        return dir;
    }
}
