using AdaBits.Config;
using AdaBits.Training;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits train app:CFG [bs:N] [key=value ...]`: the reference's train.py.</summary>
internal static class TrainCommand
{
    const string Help = """
        usage: adabits train app:CONFIG.yml [bs:N] [key=value ...]

        Trains the model the config describes (joint adaptive training over bits_list when
        adaptive_training is on) and validates it every epoch. Outputs go to
        <log_dir>/<experiment setting>/: config.yml, train.log, metrics.jsonl, results.json,
        best_model.pt and latest_checkpoint.pt. A run whose folder holds latest_checkpoint.pt
        resumes where it stopped. key=value overrides any config key (value read as YAML),
        e.g. num_epochs=1 train_limit=6400 log_dir=/tmp/run. With test_only: True it only
        evaluates (like 'adabits test').
        """;

    public static int Run(string[] args)
    {
        if (CliMain.Help(args, Help)) return 0;
        var config = ConfigArgs.Load(args);
        if (config.TestOnly) return TestCommand.Evaluate(config, json: false);
        using var log = new RunLog();
        using var stop = StopSignal.Register(log.Line);
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
        var option = tokens.FirstOrDefault(t => t.StartsWith("--", StringComparison.Ordinal) || t.StartsWith('-'));
        if (option is not null) throw new UsageException($"unknown option '{option}'");
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
