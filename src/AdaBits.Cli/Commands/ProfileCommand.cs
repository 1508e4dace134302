using System.CommandLine;
using AdaBits.Profiling;
using AdaBits.Training;
using TorchSharp;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits profile app:CFG [key=value ...]`: params, MACs, BitOPs, bytes and latency per bit-width.</summary>
internal sealed class ProfileCommand : CliCommand
{
    const string Help = """
        params, MACs, BitOPs, bytes and latency per bit-width (app:CFG [--verbose] [--json])

        Profiles the config's model at every bit-width of bits_list, as the reference's profiler does:
        params, MACs, BitOPs (in 1e9, B) and storage (MB) of one eval forward of a random 1xCxHxW
        input, where H = W = image_size if set, else the data set's (28 MNIST, 32 CIFAR, 224 ImageNet;
        the data set itself is not loaded). Totals count convs, linears and average pools (the
        reference's totals); batch norm is counted on its own line, outside the totals. Latency is the
        median eval-forward time at batch 1 and at batch_size, after warm-up (default 2 warm-up and 5
        timed forwards; --no-latency skips it). --verbose (wherever it stands) or --verbose-layers
        prints one line per layer (also with model_profiling_verbose: True).
        """;

    public override int Order => 80;

    public override Command Build()
    {
        var command = new Command("profile", Help);
        var tokens = CliOptions.ConfigTokens(command);
        var layers = CliOptions.Flag("--verbose-layers", "One line per layer (as --verbose)");
        var json = CliOptions.Flag("--json", "Print only a JSON document: {\"input\", \"bits\": {\"<bits>\": ...}, \"layers\"}");
        var noLatency = CliOptions.Flag("--no-latency", "Skip the latency measurement");
        var warmup = CliOptions.Int("--warmup", "Warm-up forwards", 2, 0, 1000);
        var repeats = CliOptions.Int("--repeats", "Timed forwards", 5, 1, 10000);
        command.Options.Add(layers);
        command.Options.Add(json);
        command.Options.Add(noLatency);
        command.Options.Add(warmup);
        command.Options.Add(repeats);
        command.SetAction(r => Run(r.GetValue(tokens)!, r.GetValue<bool>("--verbose") || r.GetValue(layers), r.GetValue(json),
            !r.GetValue(noLatency), r.GetValue(warmup), r.GetValue(repeats)));
        return command;
    }

    public static int Run(string[] args, bool verboseLayers, bool json, bool latency, int warmup, int repeats)
    {
        var config = ConfigArgs.Load(args);
        bool verbose = verboseLayers || config.ModelProfilingVerbose;

        var (channels, size) = ProfileInput.FromConfig(config);
        int batch = Math.Max(config.BatchSize, 1);
        torch.manual_seed(config.RandomSeed);
        using var model = ModelFactory.Create(config, channels, config.NumClasses ?? 10);

        var results = ModelProfiler.ProfileEach(model, config.Quant.BitsList, channels, size, size, batch, latency, warmup, repeats,
            (profile, timing) =>
            {
                if (!json)
                {
                    Console.WriteLine(ProfileReport.Text(profile, verbose, timing));
                    Console.Out.Flush();
                }
                else
                    foreach (var w in profile.Warnings) Console.Error.WriteLine($"adabits: warning: {w}");
            });
        if (json) Console.WriteLine(ProfileReport.Json(results));
        return 0;
    }
}
