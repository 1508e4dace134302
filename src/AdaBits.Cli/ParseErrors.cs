using System.CommandLine;
using System.CommandLine.Parsing;
using AdaBits.Config;

namespace AdaBits.Cli;

/// <summary>
/// A parse error as one line naming the command and the token, with the nearest command or option when a name
/// is mistyped. System.CommandLine's own error action prints several lines and the help; our errors are one line.
/// </summary>
internal static class ParseErrors
{
    public static string OneLine(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        string path = Path(parse.CommandResult);
        string prefix = path.Length > 0 ? path + ": " : "";
        if (parse.UnmatchedTokens.Count > 0)
        {
            string token = parse.UnmatchedTokens[0];
            if (token.StartsWith('-'))
                return prefix + UnknownOption(token, command);
            if (command.Subcommands.Count > 0)
                return prefix + $"unknown command '{token}'" + Hint(token, command.Subcommands.Select(c => c.Name)) +
                       $" (commands: {string.Join(", ", command.Subcommands.Select(c => c.Name))})";
            return prefix + $"unexpected argument '{token}' (see '{(path.Length > 0 ? path + " " : "")}--help')";
        }
        return prefix + parse.Errors[0].Message.ReplaceLineEndings(" ");
    }

    /// <summary>"unknown option '--nope' (did you mean '--bits'?)", the candidates being the command's own and inherited options.</summary>
    public static string UnknownOption(string token, Command command)
    {
        string name = token.Split('=', 2)[0];
        var names = OptionsOf(command).SelectMany(o => o.Aliases.Prepend(o.Name));
        return $"unknown option '{name}'" + Hint(name, names);
    }

    static IEnumerable<Option> OptionsOf(Command command)
    {
        var seen = new HashSet<Option>();
        foreach (var o in command.Options) if (seen.Add(o)) yield return o;
        foreach (var parent in Ancestors(command))
            foreach (var o in parent.Options.Where(o => o.Recursive)) if (seen.Add(o)) yield return o;
    }

    static IEnumerable<Command> Ancestors(Command command)
    {
        for (var p = command.Parents.OfType<Command>().FirstOrDefault(); p is not null; p = p.Parents.OfType<Command>().FirstOrDefault())
            yield return p;
    }

    static string Hint(string token, IEnumerable<string> candidates) =>
        ConfigKeys.Nearest(token, candidates) is { } near ? $" (did you mean '{near}'?)" : "";

    /// <summary>"bench data" for `adabits bench data ...`; "" for the root.</summary>
    static string Path(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult { Parent: not null } c; r = c.Parent)
            names.Insert(0, c.Command.Name);
        return string.Join(" ", names);
    }
}
