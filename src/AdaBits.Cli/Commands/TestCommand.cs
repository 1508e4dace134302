using System.CommandLine;
using AdaBits.Config;
using AdaBits.Training;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits test app:CFG [pretrained_file=PATH] [--json]`: evaluates a checkpoint at every bit-width.</summary>
internal sealed class TestCommand : CliCommand
{
    const string Help = """
        evaluate a checkpoint at every bit-width of the config

        Evaluates a checkpoint on the config's validation set at every bit-width of bits_list
        and prints a table (--json: the "val" object of results.json). The checkpoint is
        pretrained_file (a path, or the reference's pretrained_dir/<setting>/<file>), else
        best_model.pt in the run folder (as train names it; see 'adabits train --help').
        pretrained_model_remap_keys=True renames pretrained_file's keys by position onto the
        model's (the reference's key remap).
        """;

    public override int Order => 20;

    public override Command Build()
    {
        var command = new Command("test", Help);
        var tokens = CliOptions.ConfigTokens(command);
        var json = CliOptions.Flag("--json", "Print only the \"val\" object of results.json");
        command.Options.Add(json);
        command.SetAction(r => Run(r.GetValue(tokens)!, r.GetValue(json)));
        return command;
    }

    public static int Run(string[] args, bool json)
    {
        var config = ConfigArgs.Load(args);
        return Evaluate(config, json);
    }

    public static int Evaluate(TrainConfig config, bool json)
    {
        string checkpoint = string.IsNullOrEmpty(config.PretrainedFile)
            ? Path.Combine(config.RunDir, Trainer.BestModel)
            : Trainer.PretrainedPath(config);
        if (!File.Exists(checkpoint))
            throw new FileNotFoundException($"checkpoint '{checkpoint}' not found (train first, or pass pretrained_file=PATH)");
        using var log = new RunLog(json ? TextWriter.Null : null);
        using var trainer = new Trainer(config, log, training: false);
        // the key remap is for pretrained_file (an external checkpoint), never for our own best_model.pt
        trainer.LoadWeights(checkpoint, remapKeys: config.PretrainedModelRemapKeys && !string.IsNullOrEmpty(config.PretrainedFile));
        var val = trainer.Evaluate();
        if (json)
        {
            Console.WriteLine(RunOutputs.ValJson(val));
            return 0;
        }
        Console.WriteLine($"checkpoint: {checkpoint}");
        var ks = val.Values.First().TopError.Keys.Order().ToList();
        Console.WriteLine($"{"bits",-8}" + string.Concat(ks.Select(k => $"{"top" + k,10}")) + $"{"loss",10}");
        foreach (var (bits, m) in val)
            Console.WriteLine($"{bits,-8}" + string.Concat(ks.Select(k => $"{m.Accuracy(k),10:F4}")) + $"{m.Loss,10:F4}");
        return 0;
    }
}
