using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Quantization;

namespace AdaBits.Config;

/// <summary>
/// The typed training configuration: one property per key of the reference's YAML configs (§1.2 of the
/// reference description) plus the port's new keys. Load it with <see cref="ConfigLoader"/>; the loader
/// validates every value, so a constructed instance is consistent. Equality compares the settings only
/// (lists by content), not <see cref="SourcePath"/> or <see cref="Raw"/>.
/// </summary>
internal sealed record TrainConfig
{
    // ---- where it came from ----
    /// <summary>The YAML file as given on the command line (or the name passed to FromYamlText).</summary>
    public string SourcePath { get; init; } = "";
    /// <summary>The effective key -> value map: the file's keys (duplicates resolved, last wins; ignored
    /// keys included), then overrides, then the derived <c>warmup_epochs</c> and the effective <c>lr</c>.
    /// Keys left at their defaults are absent.</summary>
    public IReadOnlyDictionary<string, object?> Raw { get; init; } = new OrderedDictionary<string, object?>();

    // ---- data / run-time ----
    public int BatchSize { get; init; }
    /// <summary>Informational only (the reference used it in batch-size assertions).</summary>
    public int NumGpusPerJob { get; init; } = 1;
    public int? BatchSizePerGpu { get; init; }
    public string Dataset { get; init; } = "";
    public string DatasetDir { get; init; } = "data";
    /// <summary>Null: chosen from the dataset.</summary>
    public string? DataTransforms { get; init; }
    public string? DataLoader { get; init; }
    public int DataLoaderWorkers { get; init; } = 1;
    /// <summary>bad_images: what an unreadable image file in an image-folder data set does: fail (default) or skip.</summary>
    public string BadImages { get; init; } = "fail";
    public bool DropLast { get; init; }
    public bool Normalize { get; init; }
    /// <summary>Null: the transform's default.</summary>
    public int? CropPadding { get; init; }
    /// <summary>Null: the transform's default.</summary>
    public bool? HorizontalFlip { get; init; }
    /// <summary>Use only the first N training images (null: all).</summary>
    public int? TrainLimit { get; init; }
    /// <summary>Use only the first N validation images (null: all).</summary>
    public int? ValLimit { get; init; }
    /// <summary>Null: from the dataset.</summary>
    public int? NumClasses { get; init; }
    public int? ImageSize { get; init; }
    public IReadOnlyList<int> Topk { get; init; } = [1, 5];
    public bool TestOnly { get; init; }
    public int RandomSeed { get; init; }
    public bool UseDiffSeed { get; init; }
    public bool StochValid { get; init; }
    public string LogDir { get; init; } = "";
    /// <summary>log_layout: "default" (a short folder name, <see cref="RunFolder"/>) or "reference" (the original's nested folders).</summary>
    public string LogLayout { get; init; } = RunFolder.DefaultLayout;
    /// <summary>run_dir: the run folder exactly, overriding log_dir and log_layout ("" when not set).</summary>
    public string RunDirOverride { get; init; } = "";
    /// <summary>The reference's module path, e.g. <c>models.q_resnet_cifar</c>.</summary>
    public string Model { get; init; } = "";
    public int? Depth { get; init; }
    public double WidthMult { get; init; } = 1.0;
    public int WidthDivisor { get; init; } = 1;
    public int MinWidth { get; init; } = 1;
    public bool ResetParameters { get; init; } = true;
    /// <summary>init: what reset_parameters does (<see cref="InitScheme"/>).</summary>
    public InitScheme Init { get; init; } = InitSchemes.Default;
    /// <summary>alpha_init: <c>reference</c> (the constants the layers are built with) or <c>mse</c> (AlphaCalibration before the first step).</summary>
    public string AlphaInit { get; init; } = "reference";
    /// <summary>Profiling device tags (<c>gpu</c>, <c>cpu</c>); empty: no profiling.</summary>
    public IReadOnlyList<string> Profiling { get; init; } = [];
    public bool ProfilingOnly { get; init; }
    public bool ModelProfilingVerbose { get; init; }
    public bool Distributed { get; init; }
    public bool DistributedAllReduce { get; init; }
    public string? FpPretrainedFile { get; init; }
    public string PretrainedDir { get; init; } = "";
    public string PretrainedFile { get; init; } = "";
    /// <summary>
    /// Rename the keys of fp_pretrained_file and pretrained_file by position before loading: the model's i-th
    /// state-dict key (PyTorch order) takes the checkpoint's i-th key (file order), as the reference does.
    /// </summary>
    public bool PretrainedModelRemapKeys { get; init; }
    /// <summary><c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Optimizer steps between progress lines.</summary>
    public int LogInterval { get; init; } = 50;
    /// <summary>What a non-finite loss or gradient does: <c>stop</c> (default) or <c>skip_step</c> (drop that update).</summary>
    public string NanPolicy { get; init; } = "stop";
    /// <summary>skip_step: the run stops after this many skipped steps in a row.</summary>
    public int NanMaxSkips { get; init; } = 10;
    /// <summary>Also write latest_checkpoint.pt every N optimizer steps (0: at epoch ends only).</summary>
    public int CheckpointIntervalSteps { get; init; }

    // ---- optimisation ----
    /// <summary><c>sgd</c> or <c>rmsprop</c>.</summary>
    public string Optimizer { get; init; } = "sgd";
    /// <summary>The effective base learning rate: <see cref="BaseLr"/> scaled by batch_size/256 when
    /// batch_size &gt; 256 (the reference's batch-size rule).</summary>
    public double Lr { get; init; }
    /// <summary>The learning rate as configured, before the batch-size rule; <see cref="ToYaml"/> writes this.</summary>
    public double BaseLr { get; init; }
    public double Momentum { get; init; }
    public bool Nesterov { get; init; }
    public double WeightDecay { get; init; }
    /// <summary>RMSprop smoothing (alpha).</summary>
    public double OptimDecay { get; init; } = 0.9;
    public double OptimEps { get; init; } = 1e-8;
    public string LrScheduler { get; init; } = "multistep";
    public int NumEpochs { get; init; }
    /// <summary>Derived: 5 when batch_size &gt; 256, else 0 (a configured value is overwritten).</summary>
    public int WarmupEpochs { get; init; }
    public IReadOnlyList<int> MultistepLrMilestones { get; init; } = [];
    public double MultistepLrGamma { get; init; } = 0.1;
    public double? ExpDecayingLrGamma { get; init; }
    public int ExpDecayingPeriod { get; init; } = 1;
    /// <summary>SGDR restarts for cos_annealing_iter (the reference's test.py only).</summary>
    public bool WarmRestart { get; init; }

    // ---- quantization ----
    /// <summary>The settings every quantized layer reads (bits_list, the schemes, clamp, rescale*, switchbn,
    /// stats_sharing, switch_alpha, weight_only, fused): held here, handed to the model as they are.</summary>
    public QuantOptions Quant { get; init; } = new();
    public bool AdaptiveTraining { get; init; }
    public bool PactFp { get; init; }
    public bool DoubleSide { get; init; }

    // ---- two-stage training and distillation ----
    /// <summary>fp_pretrain_epochs: epochs of full-precision pre-training (stage 1, in the run folder's
    /// <c>fp_pretrain/</c>) before the joint training of num_epochs epochs; 0: none.</summary>
    public int FpPretrainEpochs { get; init; }
    /// <summary>distill: <c>none</c>, <c>highest</c>, <c>fp</c> or <c>recursive</c> (the teacher of each bit-width in the joint step).</summary>
    public string Distill { get; init; } = "none";
    /// <summary>distill_weight w: a student's loss is (1 - w) CE + w T^2 KL(teacher || student) at temperature T.</summary>
    public double DistillWeight { get; init; } = 0.5;
    /// <summary>distill_temperature T (&gt; 0).</summary>
    public double DistillTemperature { get; init; } = 1.0;

    /// <summary>Every setting at its default (required keys empty): what binding starts from.</summary>
    public static readonly TrainConfig Defaults = new();

    /// <summary>
    /// The reference's experiment-setting folder (§5.11), nested folders joined with the OS separator:
    /// <c>bits_list_[5, 4, 3]/adaptive_True/.../pact_fp_False</c>.
    /// </summary>
    public string ExperimentSetting => string.Join(Path.DirectorySeparatorChar,
    [
        "bits_list_" + Bits.ListToString(Quant.BitsList),
        "adaptive_" + Py(AdaptiveTraining),
        "weight_only_" + Py(Quant.WeightOnly),
        "stats_sharing_" + Py(Quant.StatsSharing),
        // Reference bug 12 fixed: the reference wrote `fp_pretrained_file is not None`, so `''` gave
        // fp_pretrained_True while nothing was loaded. Here the flag is true iff a file is actually used.
        "fp_pretrained_" + Py(!string.IsNullOrEmpty(FpPretrainedFile)),
        "clamp_" + Py(Quant.Clamp),
        "rescale_" + Py(Quant.Rescale),
        "rescale_conv_" + Py(Quant.RescaleConv),
        "rescale_type_" + (Quant.RescaleType == RescaleType.Stddev ? "stddev" : "constant"),
        "switchbn_" + Py(Quant.SwitchBn),
        $"weight_{Quant.WeightScheme.Name}_act_{Quant.ActScheme.Name}",
        "switch_alpha_" + Py(Quant.SwitchAlpha),
        "pact_fp_" + Py(PactFp),
        // this port's additions, only when used: the reference's settings (and their folders) stay as they were
        .. (FpPretrainEpochs > 0 ? new[] { $"fp_pretrain_epochs_{FpPretrainEpochs}" } : []),
        .. (Distill != "none" ? new[] { $"distill_{Distill}" } : []),
        .. (AlphaInit != "reference" ? new[] { $"alpha_init_{AlphaInit}" } : []),
    ]);

    /// <summary>Where a run writes (see <see cref="RunFolder.Resolve"/>): run_dir, else log_dir/&lt;config stem&gt;-&lt;setting hash&gt;,
    /// or log_dir/&lt;experiment setting&gt; with log_layout: reference.</summary>
    public string RunDir => RunFolder.Resolve(this);

    static string Py(bool b) => b ? "True" : "False";

    /// <summary>
    /// Every setting as YAML that PyYAML and <see cref="ConfigLoader"/> read back into an equal config.
    /// <c>lr</c> is written as configured (<see cref="BaseLr"/>), so loading the output applies the batch-size
    /// rule once and gives the same effective lr; <c>warmup_epochs</c> is written with its derived value.
    /// Ignored compatibility keys are not written.
    /// </summary>
    public string ToYaml() => ConfigYamlWriter.Write(this);

    // ---- equality: the settings of every key (as written) and the effective lr; not SourcePath or Raw ----
    public bool Equals(TrainConfig? other) =>
        ReferenceEquals(this, other) || other is not null && Lr.Equals(other.Lr) && !Differences(other).Any();

    public override int GetHashCode() => HashCode.Combine(BatchSize, Dataset, Model, Lr, NumEpochs, LogDir, Quant.BitsList.Count);

    /// <summary>The keys whose settings differ, with both values (for test messages).</summary>
    public IEnumerable<string> Differences(TrainConfig other)
    {
        if (!Lr.Equals(other.Lr)) yield return $"effective lr: {YamlText.PythonRepr(Lr)} vs {YamlText.PythonRepr(other.Lr)}";
        foreach (var key in ConfigKeys.All)
        {
            string a = YamlText.Format(key.Written(this)), b = YamlText.Format(key.Written(other));
            if (a != b) yield return $"{key.Name}: {a} vs {b}";
        }
    }
}
