using AdaBits.Profiling;
using AdaBits.Training;
using TorchSharp;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits profile app:CFG [key=value ...]`: params, MACs, BitOPs, bytes and latency per bit-width.</summary>
internal static class ProfileCommand
{
    const string Help = """
        usage: adabits profile app:CONFIG.yml [bs:N] [key=value ...] [--verbose | --verbose-layers] [--json]
                               [--no-latency] [--warmup N] [--repeats N]

        Profiles the config's model at every bit-width of bits_list, as the reference's profiler does:
        params, MACs, BitOPs (in 1e9, B) and storage (MB) of one eval forward of a random 1xCxHxW
        input, where H = W = image_size if set, else the data set's (28 MNIST, 32 CIFAR, 224 ImageNet;
        the data set itself is not loaded). Totals count convs, linears and average pools (the
        reference's totals); batch norm is counted on its own line, outside the totals. Latency is the
        median eval-forward time at batch 1 and at batch_size, after warm-up (default 2 warm-up and 5
        timed forwards; --no-latency skips it).
          --verbose, --verbose-layers   one line per layer (also with model_profiling_verbose: True)
          --json                        print only a JSON document: {"input", "bits": {"<bits>": ...}, "layers"}
        """;

    static readonly HashSet<string> Options = ["--warmup", "--repeats"];
    static readonly HashSet<string> Flags = ["--verbose", "--verbose-layers", "--json", "--no-latency"];

    public static int Run(string[] args)
    {
        if (CliMain.Help(args, Help)) return 0;
        var a = new CliArgs("profile", args, Options, Flags);
        int warmup = a.GetInt("--warmup", 2, 0, 1000), repeats = a.GetInt("--repeats", 5, 1, 10000);
        bool json = a.Has("--json"), latency = !a.Has("--no-latency");
        var config = ConfigArgs.Load(a.Positional);
        bool verbose = a.Has("--verbose") || a.Has("--verbose-layers") || config.ModelProfilingVerbose;

        var (channels, size) = ProfileInput.FromConfig(config);
        int batch = Math.Max(config.BatchSize, 1);
        torch.manual_seed(config.RandomSeed);
        using var model = ModelFactory.Create(config, channels, config.NumClasses ?? 10);

        var results = ModelProfiler.ProfileEach(model, config.BitsList, channels, size, size, batch, latency, warmup, repeats,
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
