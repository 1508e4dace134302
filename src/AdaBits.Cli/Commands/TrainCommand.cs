using System.CommandLine;
using AdaBits.Config;
using AdaBits.Training;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits train app:CFG [bs:N] [key=value ...]`: the reference's train.py.</summary>
internal sealed class TrainCommand : CliCommand
{
    const string Help = """
        train a model from a YAML config (app:CFG [bs:N] [key=value ...])

        Trains the model the config describes (joint adaptive training over bits_list when
        adaptive_training is on) and validates it every epoch. The run folder, printed first, is
        <log_dir>/<config file stem>-<8 hex digits of the experiment setting's hash> (log_layout:
        reference: the original's nested <log_dir>/<experiment setting>/; run_dir=PATH: exactly PATH).
        It gets config.yml, train.log, metrics.jsonl, results.json, best_model.pt and
        latest_checkpoint.pt. A run whose folder holds latest_checkpoint.pt resumes where it stopped
        (a run begun under the reference layout is found and continued there). key=value overrides
        any config key (value read as YAML), e.g. num_epochs=1 train_limit=6400 log_dir=/tmp/run.
        With test_only: True it only evaluates (like 'adabits test').
        """;

    public override int Order => 10;

    public override Command Build()
    {
        var command = new Command("train", Help);
        var tokens = CliOptions.ConfigTokens(command);
        command.SetAction(r => Run(r.GetValue(tokens)!));
        return command;
    }

    public static int Run(string[] args)
    {
        var config = ConfigArgs.Load(args);
        bool olderLayout = config.LogLayout == RunFolder.DefaultLayout && string.IsNullOrEmpty(config.RunDirOverride)
            && config.RunDir == RunFolder.ReferencePath(config);
        var world = AdaBits.Distributed.World.Process;
        if (world.IsRoot)
            Console.WriteLine($"run folder: {config.RunDir}" + (olderLayout ? " (a run begun under log_layout: reference: resumed there)" : ""));
        if (config.TestOnly) return TestCommand.Evaluate(config, json: false);
        // mpirun hands each rank a pseudo-terminal and interleaves their output: live lines redrawn in place would garble it
        using var log = world.IsDistributed ? new RunLog(Console.Out, interactive: false) : new RunLog();
        // Not under MPI: mpirun answers a dead rank with SIGTERM to the others, which sit in an all-reduce that
        // never returns, so a graceful stop would leave them running; there a signal ends the rank at once and
        // the last (epoch or checkpoint_interval_steps) checkpoint is what resumes.
        using var stop = world.IsDistributed ? null : StopSignal.Register(log.Line);
        using var trainer = new Trainer(config, log, training: true) { Stop = stop };
        try { trainer.Train(); }
        catch (TrainingStopped e) { return e.ExitCode; }   // the log has said where it stopped
        return 0;
    }
}

/// <summary>The config tokens shared by train and test: app:, bs: and key=value; warnings go to stderr.</summary>
internal static class ConfigArgs
{
    public static TrainConfig Load(IEnumerable<string> args)
    {
        var tokens = args.ToList();
        try
        {
            return ConfigLoader.Load(tokens, w => Console.Error.WriteLine($"adabits: warning: {w}"));
        }
        catch (ConfigException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
