using System.CommandLine;
using AdaBits.Cli.Bench;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits bench adaptive`: the AdaptiveRunner holding a p95 budget while a background load comes and goes.</summary>
internal sealed class BenchAdaptiveCommand : CliCommand
{
    const string Help = """
        the adaptive runner holding a p95 latency budget under a background load that comes and goes

        usage: adabits bench adaptive [--model NAME | --artifact MODEL.abits] [--batch N] [--seconds S] [--budget-ms MS] [--out DIR]

        Runs back-to-back requests on the integer engine through AdaptiveRunner for --seconds: the first
        third without load, the second with --load-threads threads spinning on the cores, the last
        without again. The budget (a p95 in ms) is --budget-ms, or taken from a short calibration:
        halfway between the p95 of the top and of the lowest bit-width under the load, and at least
        1.2 x the top bit-width's p95 without it. Prints, per time window, the load, the requests, the
        share within budget, the p95 and the bit-widths chosen; then per phase; last budget_ms,
        within_budget, within_budget_load_on and the mean bit-width with the load off and on. --out DIR
        gets adaptive.png (latency and bit-width over time, budget line, load shaded) and adaptive.csv.
        """;

    public override string Parent => "bench";

    public override Command Build()
    {
        var model = CliOptions.Text("--model", "NAME", "Random-weight model (q_mnist_cnn, resnet20, mobilenet_v1, mobilenet_v2; default mobilenet_v1)");
        var artifact = CliOptions.Text("--artifact", "MODEL.abits", "Run this artifact instead of a random-weight model");
        var batch = CliOptions.Int("--batch", "Images per request", 1, 1, 4096);
        var seconds = CliOptions.Int("--seconds", "Length of the run (load off, on, off: a third each)", 30, 3, 3600);
        var window = CliOptions.Int("--window", "Seconds per row of the table", 2, 1, 600);
        var loadThreads = CliOptions.Int("--load-threads", "Spinning threads of the background load (default: all cores)", null, 1, 1024);
        var budget = CliOptions.Text("--budget-ms", "MS", "The p95 budget in ms (default: from a calibration under load)");
        var threads = CliOptions.Int("--threads", "Engine threads, the caller included (default: all cores)", null, 1, 1024);
        var output = CliOptions.Text("--out", "DIR", "Write adaptive.png and adaptive.csv into DIR");
        var command = new Command("adaptive", Help) { model, artifact, batch, seconds, window, loadThreads, budget, threads, output };
        command.SetAction(r =>
        {
            if (r.GetValue(model) is not null && r.GetValue(artifact) is not null)
                throw new UsageException("bench adaptive: give --model or --artifact, not both");
            double? budgetMs = null;
            if (r.GetValue(budget) is string b)
                budgetMs = double.TryParse(b, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v) && v > 0 ? v
                    : throw new UsageException($"bench adaptive: --budget-ms {b} must be a positive number");
            int cores = Environment.ProcessorCount;
            return AdaptiveBench.Run(new AdaptiveBench.Settings(r.GetValue(model) ?? "mobilenet_v1", r.GetValue(batch), r.GetValue(seconds),
                r.GetValue(window), r.GetResult(loadThreads) is { Implicit: false } ? r.GetValue(loadThreads) : cores, budgetMs,
                r.GetResult(threads) is { Implicit: false } ? r.GetValue(threads) : cores, r.GetValue(artifact), r.GetValue(output)));
        });
        return command;
    }
}
