using System.Text.RegularExpressions;
using AdaBits.Config;
using AdaBits.Training;

namespace AdaBits.Tests.Faults;

/// <summary>Short MNIST runs for the fault tests: a config file per run folder, and its outputs read back for comparison.</summary>
internal static partial class RunFolder
{
    /// <summary>2 epochs of 10 steps (640 images, batch 64) at 8 and 4 bits.</summary>
    public static string WriteConfig(string dir, string name, string extra = "", int epochs = 2, int trainLimit = 640, int valLimit = 256)
    {
        string path = Path.Combine(dir, name + ".yml");
        File.WriteAllText(path, $"""
            dataset: MNIST
            dataset_dir: {Mnist.Dir}
            data_loader_workers: 1
            num_classes: 10
            topk: [1, 5]
            num_epochs: {epochs}
            optimizer: sgd
            momentum: 0.9
            weight_decay: 0.00004
            nesterov: True
            lr: 0.05
            lr_scheduler: cos_annealing_iter
            random_seed: 7
            batch_size: 64
            model: models.q_mnist_cnn
            switch_alpha: True
            log_dir: {Path.Combine(dir, name)}
            adaptive_training: True
            bits_list: [8, 4]
            train_limit: {trainLimit}
            val_limit: {valLimit}
            log_interval: 1
            {extra}
            """);
        return path;
    }

    public static TrainConfig Load(string configPath, params string[] overrides) =>
        ConfigLoader.Load(["app:" + configPath, .. overrides], _ => { });

    /// <summary>Trains (or resumes) the run of a config, quietly; `setup` sets test hooks.</summary>
    public static RunResult Train(TrainConfig cfg, Action<Trainer>? setup = null, AdaBits.IO.AtomicWriter? writer = null)
    {
        using var log = new RunLog(TextWriter.Null, interactive: false);
        using var t = writer is null ? new Trainer(cfg, log, training: true) : new Trainer(cfg, log, training: true) { Writer = writer };
        setup?.Invoke(t);
        return t.Train();
    }

    /// <summary>
    /// metrics.jsonl and results.json of a run folder with their "seconds" fields blanked: wall times differ
    /// between any two runs, interrupted or not; every other byte must be equal.
    /// </summary>
    public static (string Metrics, string Results) Outputs(string runDir) =>
        (Blank(File.ReadAllText(Path.Combine(runDir, RunOutputs.MetricsFile))),
         Blank(File.ReadAllText(Path.Combine(runDir, RunOutputs.ResultsFile))));

    static string Blank(string json) => Seconds().Replace(json, "\"seconds\":_");

    [GeneratedRegex(@"""seconds"":\s*[-0-9.eE+]+")]
    private static partial Regex Seconds();
}
