using AdaBits.Cli;
using AdaBits.Cli.Commands;

return CliMain.Run(args);

namespace AdaBits.Cli
{
    internal static class CliMain
    {
        internal const string Usage = """
            adabits: one model, many bit-widths (SAT + AdaBits on TorchSharp)

            usage: adabits <command> [options]

            commands:
              train     train a model from a YAML config (app:CFG [bs:N] [key=value ...])
              test      evaluate a checkpoint at every bit-width of the config
              plot      PNG plots of a run folder (losses, accuracy per bit-width, trade-off, alpha)
              report    report.md of a run folder, with its plots
              data      fetch a data set (data fetch mnist|fashion-mnist)
              schemes   the quantizer's transfer function of the three schemes (CSV, PNG)
              bench     benchmarks (quant-overhead)
              profile   params, MACs, BitOPs, bytes and latency per bit-width (app:CFG [--verbose] [--json])
              export    write a checkpoint as ONNX at one or every bit-width (or as safetensors)
              eval-onnx run an exported ONNX model on the validation set, compared with TorchSharp
              mpi-check under mpirun: checks of the MPI set-up and of data-parallel training

            'adabits <command> --help' describes a command. Add --verbose for stack traces.
            """;

        static readonly Dictionary<string, Func<string[], int>> Commands = new()
        {
            ["train"] = TrainCommand.Run,
            ["test"] = TestCommand.Run,
            ["plot"] = ReportCommand.Plot,
            ["report"] = ReportCommand.Report,
            ["data"] = DataCommand.Run,
            ["schemes"] = SchemesCommand.Run,
            ["bench"] = BenchCommand.Run,
            ["profile"] = ProfileCommand.Run,
            ["export"] = ExportCommand.Run,
            ["eval-onnx"] = EvalOnnxCommand.Run,
            ["mpi-check"] = MpiCheckCommand.Run,
        };

        /// <summary>Commands that read --verbose themselves (it still turns on stack traces for them too).</summary>
        static readonly HashSet<string> SeeVerbose = ["profile"];

        internal static int Run(string[] args)
        {
            bool verbose = args.Contains("--verbose");
            args = args.Where(a => a != "--verbose").ToArray();
            // wherever --verbose stood (before or after the command), such a command gets it as its own flag
            if (verbose && args.Length > 0 && SeeVerbose.Contains(args[0])) args = [.. args, "--verbose"];
            try
            {
                if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
                {
                    Console.WriteLine(Usage);
                    return args.Length == 0 ? 2 : 0;
                }
                if (!Commands.TryGetValue(args[0], out var command))
                    throw new UsageException($"unknown command '{args[0]}' (commands: {string.Join(", ", Commands.Keys)})");
                AdaBits.Runtime.MallocTuning.Apply();
                return command(args[1..]);
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

        static string RankPrefix() =>
            AdaBits.Distributed.World.Joined ? $"rank {AdaBits.Distributed.World.Process.Rank}: " : "";

        static string OneLine(Exception e)
        {
            var inner = e is AggregateException { InnerException: { } i } ? i : e;
            return inner.Message.ReplaceLineEndings(" ");
        }

        /// <summary>Prints a command's help and returns true when --help or -h was asked for.</summary>
        internal static bool Help(string[] args, string text)
        {
            if (!args.Contains("--help") && !args.Contains("-h")) return false;
            Console.WriteLine(text);
            return true;
        }
    }
}
