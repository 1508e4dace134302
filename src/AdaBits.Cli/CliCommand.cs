using System.CommandLine;

namespace AdaBits.Cli;

/// <summary>
/// One `adabits` command. Every non-abstract subclass in this assembly is found and added to the command
/// line, so a new command is one new file: a subclass whose <see cref="Build"/> declares its arguments and
/// options and sets its action. <see cref="Parent"/> makes it a subcommand (`bench engine`: Parent "bench").
/// </summary>
internal abstract class CliCommand
{
    /// <summary>The parent command's path ("bench"), or null for a top-level command.</summary>
    public virtual string? Parent => null;

    /// <summary>Where the command stands in the help's list (then by name).</summary>
    public virtual int Order => 100;

    public abstract Command Build();

    /// <summary>Every command, built afresh (a command line holds parse state: one per run).</summary>
    internal static IEnumerable<CliCommand> All() => typeof(CliCommand).Assembly.GetTypes()
        .Where(t => t.IsSubclassOf(typeof(CliCommand)) && !t.IsAbstract)
        .Select(t => (CliCommand)Activator.CreateInstance(t, nonPublic: true)!)
        .OrderBy(c => c.Order).ThenBy(c => c.GetType().Name, StringComparer.Ordinal);
}
