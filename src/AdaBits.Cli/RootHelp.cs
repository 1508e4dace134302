using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace AdaBits.Cli;

/// <summary>
/// `adabits --help`: the commands with the first line of each description (the generated help would print
/// every command's whole description there). A command's own `--help` is System.CommandLine's generated help.
/// </summary>
internal sealed class RootHelp(SynchronousCommandLineAction generated) : SynchronousCommandLineAction
{
    public override bool ClearsParseErrors => true;

    public static void Install(Command root)
    {
        var help = root.Options.OfType<HelpOption>().Single();
        if (help.Action is SynchronousCommandLineAction generated) help.Action = new RootHelp(generated);
    }

    public override int Invoke(ParseResult parse)
    {
        if (parse.CommandResult.Parent is not null) return generated.Invoke(parse);
        Write(parse.CommandResult.Command, parse.InvocationConfiguration.Output);
        return 0;
    }

    public static void Write(Command root, TextWriter output)
    {
        var rows = new List<(string Name, string Summary)>();
        void Add(Command c, string prefix)
        {
            rows.Add((prefix + c.Name, (c.Description ?? "").Split('\n')[0].Trim()));
            foreach (var s in c.Subcommands) Add(s, prefix + c.Name + " ");
        }
        foreach (var c in root.Subcommands) Add(c, "");
        int width = rows.Max(r => r.Name.Length) + 2;
        output.WriteLine(root.Description);
        output.WriteLine();
        output.WriteLine("usage: adabits <command> [options]");
        output.WriteLine();
        output.WriteLine("commands:");
        foreach (var (name, summary) in rows) output.WriteLine("  " + name.PadRight(width) + summary);
        output.WriteLine();
        output.WriteLine("options:");
        foreach (var o in root.Options)
            output.WriteLine("  " + o.Name.PadRight(width) + o.Description);
        output.WriteLine();
        output.WriteLine("'adabits <command> --help' describes a command and its options.");
    }
}
