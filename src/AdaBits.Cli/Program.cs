using System.CommandLine;
using AdaBits.Cli;

return CliMain.Run(args);

namespace AdaBits.Cli
{
    /// <summary>
    /// The `adabits` command line on System.CommandLine: every <see cref="CliCommand"/> is a subcommand; a parse
    /// error is one line and exit code 2, any other error one line and exit code 1 (a stack trace with --verbose).
    /// </summary>
    internal static class CliMain
    {
        internal const string Title = "adabits: one model, many bit-widths (SAT + AdaBits on TorchSharp)";

        internal static int Run(string[] args)
        {
            bool verbose = args.Contains("--verbose");
            if (args is ["help", .. var rest]) args = [.. rest, "--help"];   // `adabits help [command]`
            var root = Build();
            var invocation = new InvocationConfiguration
            {
                Output = Console.Out, Error = Console.Error, EnableDefaultExceptionHandler = false,
            };
            try
            {
                // `app:`, `bs:` and `key=value` are the original's tokens; `@file` is a config token too, never a response file
                var parse = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
                if (parse.Errors.Count > 0) throw new UsageException(ParseErrors.OneLine(parse));
                AdaBits.Runtime.MallocTuning.Apply();
                return parse.Invoke(invocation);
            }
            catch (UsageException e)
            {
                Console.Error.WriteLine($"adabits: {e.Message}");
                AdaBits.Distributed.World.AbortIfJoined(2);
                return 2;
            }
            catch (Exception e) when (!verbose)
            {
                Console.Error.WriteLine($"adabits: error: {RankPrefix()}{OneLine(e)}");
                // one rank's failure ends every rank of the job at once (they would wait in the next collective)
                AdaBits.Distributed.World.AbortIfJoined(1);
                return 1;
            }
            catch (Exception e) when (AdaBits.Distributed.World.Joined)
            {
                Console.Error.WriteLine(e);   // --verbose: the stack trace, then the same abort
                AdaBits.Distributed.World.AbortIfJoined(1);
                return 1;
            }
        }

        /// <summary>The command tree. The root is a plain command named "adabits" (a RootCommand takes the name of the
        /// executable, AdaBits.Cli), with the help and version options a RootCommand has.</summary>
        internal static Command Build()
        {
            var root = new Command("adabits", Title) { new System.CommandLine.Help.HelpOption(), new VersionOption() };
            root.Options.Add(new Option<bool>("--verbose")
            {
                Recursive = true, Description = "Print stack traces on errors (profile: also one line per layer)",
            });
            var built = new Dictionary<string, Command>();
            // parents before their subcommands ("bench" before "bench data"), each level in Order
            foreach (var c in CliCommand.All().OrderBy(c => c.Parent is null ? 0 : 1 + c.Parent.Count(ch => ch == ' ')))
            {
                var command = c.Build();
                if (c.Parent is null)
                {
                    root.Subcommands.Add(command);
                    built[command.Name] = command;
                }
                else
                {
                    if (!built.TryGetValue(c.Parent, out var parent))
                        throw new InvalidOperationException($"{c.GetType().Name}: parent command '{c.Parent}' does not exist");
                    parent.Subcommands.Add(command);
                    built[c.Parent + " " + command.Name] = command;
                }
            }
            foreach (var command in built.Values) command.SetActionIfMissing();
            RootHelp.Install(root);
            root.SetAction(r =>
            {
                RootHelp.Write(root, Console.Out);
                return 2;
            });
            return root;
        }

        /// <summary>A command with subcommands but no action of its own (`bench`): a usage error naming them.</summary>
        static void SetActionIfMissing(this Command command)
        {
            if (command.Action is not null || command.Subcommands.Count == 0) return;
            command.SetAction(int (ParseResult r) => throw new UsageException(
                $"{command.Name}: name one of: {string.Join(", ", command.Subcommands.Select(s => s.Name))} (see '{command.Name} --help')"));
        }

        static string RankPrefix() =>
            AdaBits.Distributed.World.Joined ? $"rank {AdaBits.Distributed.World.Process.Rank}: " : "";

        static string OneLine(Exception e)
        {
            var inner = e is AggregateException { InnerException: { } i } ? i : e;
            return inner.Message.ReplaceLineEndings(" ");
        }
    }
}
