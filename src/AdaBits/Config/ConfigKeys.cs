using System.Globalization;
using System.Text.RegularExpressions;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Quantization;
using static AdaBits.Config.KeyTypes;

namespace AdaBits.Config;

/// <summary>
/// The keys a config may hold, each declared once (<see cref="All"/>): in the order <see cref="TrainConfig.ToYaml"/>
/// writes them, with their type, range, doc and setting; and the keys accepted for compatibility and ignored.
/// Adding a key is one entry here plus the property it sets (in <see cref="TrainConfig"/>, or in
/// <see cref="QuantOptions"/> for what the quantized layers read) and its use.
/// </summary>
internal static partial class ConfigKeys
{
    static ConfigKey<T> Key<T>(string name, KeyType<T> type, Func<TrainConfig, T> get, Func<TrainConfig, T, TrainConfig> set, string doc,
        bool required = false, IReadOnlyList<Rule<T>>? rules = null, IReadOnlyList<string>? synonyms = null) =>
        new(name, type, get, set, doc) { Required = required, Rules = rules ?? [], Synonyms = synonyms ?? [] };

    /// <summary>A setting of the <see cref="QuantOptions"/> the config holds.</summary>
    static ConfigKey<T> Quant<T>(string name, KeyType<T> type, Func<QuantOptions, T> get, Func<QuantOptions, T, QuantOptions> set, string doc,
        bool required = false, IReadOnlyList<Rule<T>>? rules = null, IReadOnlyList<string>? synonyms = null) =>
        Key(name, type, c => get(c.Quant), (c, v) => c with { Quant = set(c.Quant, v) }, doc, required, rules, synonyms);

    static Rule<T> Above0<T>() => new("be > 0", v => AsDouble(v) > 0);
    static Rule<T> AtLeast0<T>() => new("be >= 0", v => AsDouble(v) >= 0);
    static Rule<string> OneOf(IReadOnlyList<string> allowed) => new($"be one of {string.Join(", ", allowed)}", allowed.Contains);
    static Rule<double> FiniteAbove0 => new("be a finite number > 0", v => v > 0 && double.IsFinite(v));
    static double AsDouble<T>(T v) => Convert.ToDouble(v, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(cpu|cuda|cuda:[0-9]+)$")]
    private static partial Regex DeviceRx();

    public static readonly IReadOnlyList<string> Optimizers = ["sgd", "rmsprop"];

    /// <summary>distill: which output teaches each bit-width in the joint step (see Training/Distillation.cs).</summary>
    public static readonly IReadOnlyList<string> DistillModes = ["none", "highest", "fp", "recursive"];

    public static readonly IReadOnlyList<string> LrSchedulers =
    [
        "multistep", "multistep_iter", "exp_decaying", "exp_decaying_iter", "linear_decaying", "cos_annealing",
        "cos_annealing_iter",
    ];

    static readonly KeyType<QuantScheme> Scheme = Named(QuantSchemes.Names,
        n => QuantSchemes.Parse(n), s => s.Name);

    /// <summary>Every key that has a setting, in the order config.yml lists them.</summary>
    public static readonly IReadOnlyList<ConfigKey> All =
    [
        // ---- data / run-time ----
        Key("batch_size", Int, c => c.BatchSize, (c, v) => c with { BatchSize = v },
            "images per optimizer step over all processes; > 256 scales lr by batch_size/256 and sets 5 warm-up epochs", required: true, rules: [Above0<int>()], synonyms: ["batch", "batchsize", "bs"]),
        Key("num_gpus_per_job", Int, c => c.NumGpusPerJob, (c, v) => c with { NumGpusPerJob = v },
            "informational (the reference's batch-size assertions)", rules: [Above0<int>()]),
        Key("batch_size_per_gpu", NullableInt, c => c.BatchSizePerGpu, (c, v) => c with { BatchSizePerGpu = v },
            "informational (the reference's batch-size assertions)", rules: [Above0<int?>()]),
        Key("dataset", Text, c => c.Dataset, (c, v) => c with { Dataset = v },
            "MNIST, FashionMNIST, CIFAR10, CIFAR100, CINIC10, imagenet1k, imagenet1k_val50k or an image folder", required: true),
        Key("dataset_dir", Text, c => c.DatasetDir, (c, v) => c with { DatasetDir = v },
            "root folder of the data sets", synonyms: ["data_dir", "data_root"]),
        Key("data_transforms", NullableText, c => c.DataTransforms, (c, v) => c with { DataTransforms = v },
            "training and validation transforms (null: chosen from the dataset)"),
        Key("data_loader", NullableText, c => c.DataLoader, (c, v) => c with { DataLoader = v },
            "loader name of the reference's configs (null: chosen from the dataset)"),
        Key("data_loader_workers", Int, c => c.DataLoaderWorkers, (c, v) => c with { DataLoaderWorkers = v },
            "threads decoding and augmenting batches", rules: [AtLeast0<int>()], synonyms: ["workers", "num_workers"]),
        Key("bad_images", Text, c => c.BadImages, (c, v) => c with { BadImages = v },
            "an unreadable file in an image folder: fail, or skip it", rules: [OneOf(["fail", "skip"])]),
        Key("drop_last", Bool, c => c.DropLast, (c, v) => c with { DropLast = v },
            "drop the last incomplete batch (training and validation)"),
        Key("normalize", Bool, c => c.Normalize, (c, v) => c with { Normalize = v },
            "True: mean/std normalisation; False: the model sees round(255 x)"),
        Key("crop_padding", NullableInt, c => c.CropPadding, (c, v) => c with { CropPadding = v },
            "padding of the random crop (null: the transform's default)", rules: [AtLeast0<int?>()]),
        Key("horizontal_flip", NullableBool, c => c.HorizontalFlip, (c, v) => c with { HorizontalFlip = v },
            "random horizontal flips (null: the transform's default)"),
        Key("train_limit", NullableInt, c => c.TrainLimit, (c, v) => c with { TrainLimit = v },
            "use only the first N training images (null: all)", rules: [Above0<int?>()]),
        Key("val_limit", NullableInt, c => c.ValLimit, (c, v) => c with { ValLimit = v },
            "use only the first N validation images (null: all)", rules: [Above0<int?>()]),
        Key("num_classes", NullableInt, c => c.NumClasses, (c, v) => c with { NumClasses = v },
            "classifier outputs (null: from the dataset)", rules: [Above0<int?>()], synonyms: ["classes"]),
        Key("image_size", NullableInt, c => c.ImageSize, (c, v) => c with { ImageSize = v },
            "height and width of the profiling input (null: from the dataset)", rules: [Above0<int?>()]),
        Key("topk", IntList, c => c.Topk, (c, v) => c with { Topk = v },
            "the top-k errors tracked", rules: [new("be a non-empty list of integers >= 1", v => v.Count > 0 && v.All(k => k >= 1))]),
        Key("test_only", Bool, c => c.TestOnly, (c, v) => c with { TestOnly = v },
            "profile, evaluate once on the validation set and stop"),
        Key("random_seed", Int, c => c.RandomSeed, (c, v) => c with { RandomSeed = v },
            "seed of every random source", synonyms: ["seed"]),
        Key("use_diff_seed", Bool, c => c.UseDiffSeed, (c, v) => c with { UseDiffSeed = v },
            "seed random_seed + rank in each process (unless stoch_valid)"),
        Key("stoch_valid", Bool, c => c.StochValid, (c, v) => c with { StochValid = v },
            "disables use_diff_seed"),
        Key("log_dir", Text, c => c.LogDir, (c, v) => c with { LogDir = v },
            "folder under which run folders are made", required: true, synonyms: ["output_dir", "out_dir", "save_dir"]),
        Key("log_layout", Text, c => c.LogLayout, (c, v) => c with { LogLayout = v },
            "run folder name: default (config stem and setting hash) or reference (the original's nested folders)", rules: [OneOf([RunFolder.DefaultLayout, RunFolder.ReferenceLayout])]),
        Key("run_dir", Text, c => c.RunDirOverride, (c, v) => c with { RunDirOverride = v },
            "the run folder exactly, overriding log_dir and log_layout ('' : not set)"),
        Key("model", Text, c => c.Model, (c, v) => c with { Model = v },
            "the reference's module path, e.g. models.q_resnet_cifar", required: true, rules: [new("name a model", v => v.Length > 0)], synonyms: ["arch"]),
        Key("depth", NullableInt, c => c.Depth, (c, v) => c with { Depth = v },
            "ResNet depth: 20, 56 or 110", rules: [Above0<int?>()]),
        Key("width_mult", Number, c => c.WidthMult, (c, v) => c with { WidthMult = v },
            "MobileNet channel multiplier", rules: [Above0<double>()]),
        Key("width_divisor", Int, c => c.WidthDivisor, (c, v) => c with { WidthDivisor = v },
            "round_width's divisor (no model uses it, as in the reference)", rules: [Above0<int>()]),
        Key("min_width", Int, c => c.MinWidth, (c, v) => c with { MinWidth = v },
            "round_width's minimum (no model uses it, as in the reference)", rules: [Above0<int>()]),
        Key("reset_parameters", Bool, c => c.ResetParameters, (c, v) => c with { ResetParameters = v },
            "apply the models' initialisation (init)"),
        Key("init", Named(InitSchemes.Names, InitSchemes.Parse, s => s.Name()), c => c.Init, (c, v) => c with { Init = v },
            "what reset_parameters does: reference, or sat_scale (the classifier at SAT's rescaled scale)"),
        Key("alpha_init", Text, c => c.AlphaInit, (c, v) => c with { AlphaInit = v },
            "PACT clipping levels at the first step: reference (8.0, linear 10.0), or mse (per bit-width, the level with the least quantization error on one training batch)",
            rules: [OneOf(Training.AlphaCalibration.Modes)]),
        Key("profiling", Tags, c => c.Profiling, (c, v) => c with { Profiling = v },
            "device tags to profile for before training (False: none)"),
        Key("profiling_only", Bool, c => c.ProfilingOnly, (c, v) => c with { ProfilingOnly = v },
            "profile and stop"),
        Key("model_profiling_verbose", Bool, c => c.ModelProfilingVerbose, (c, v) => c with { ModelProfilingVerbose = v },
            "print a line per layer when profiling"),
        Key("distributed", Bool, c => c.Distributed, (c, v) => c with { Distributed = v },
            "data-parallel training over MPI ranks"),
        Key("distributed_all_reduce", Bool, c => c.DistributedAllReduce, (c, v) => c with { DistributedAllReduce = v },
            "the reference's manual all-reduce of gradients and metrics"),
        Key("fp_pretrained_file", NullableText, c => c.FpPretrainedFile, (c, v) => c with { FpPretrainedFile = v },
            "full-precision checkpoint to start from, expanded to every bit-width"),
        Key("pretrained_dir", Text, c => c.PretrainedDir, (c, v) => c with { PretrainedDir = v },
            "folder of pretrained_file"),
        Key("pretrained_file", Text, c => c.PretrainedFile, (c, v) => c with { PretrainedFile = v },
            "checkpoint loaded strictly from pretrained_dir/<experiment setting>/ ('' : none)"),
        Key("pretrained_model_remap_keys", Bool, c => c.PretrainedModelRemapKeys, (c, v) => c with { PretrainedModelRemapKeys = v },
            "rename a loaded checkpoint's keys by position"),
        Key("device", Text, c => c.Device, (c, v) => c with { Device = v },
            "cpu, cuda or cuda:N", rules: [new("be cpu, cuda or cuda:N", DeviceRx().IsMatch)]),
        Key("log_interval", Int, c => c.LogInterval, (c, v) => c with { LogInterval = v },
            "optimizer steps between progress lines", rules: [Above0<int>()]),
        Quant("fused", Bool, q => q.Fused, (q, v) => q with { Fused = v },
            "use the fused CPU kernels where they apply"),
        Key("nan_policy", Text, c => c.NanPolicy, (c, v) => c with { NanPolicy = v },
            "a non-finite loss or gradient: stop, or skip_step (drop that update)", rules: [OneOf(["stop", "skip_step"])]),
        Key("nan_max_skips", Int, c => c.NanMaxSkips, (c, v) => c with { NanMaxSkips = v },
            "skip_step: stop after this many skipped steps in a row", rules: [Above0<int>()]),
        Key("checkpoint_interval_steps", Int, c => c.CheckpointIntervalSteps, (c, v) => c with { CheckpointIntervalSteps = v },
            "also write latest_checkpoint.pt every N optimizer steps (0: at epoch ends only)", rules: [AtLeast0<int>()]),

        // ---- optimisation ----
        Key("optimizer", Text, c => c.Optimizer, (c, v) => c with { Optimizer = v },
            "sgd or rmsprop", required: true, rules: [OneOf(Optimizers)], synonyms: ["optim"]),
        Key("lr", Number, c => c.BaseLr, (c, v) => c with { BaseLr = v, Lr = v },
            "base learning rate as configured (before the batch-size rule)", required: true, rules: [FiniteAbove0], synonyms: ["learning_rate", "base_lr"]),
        Key("momentum", Number, c => c.Momentum, (c, v) => c with { Momentum = v },
            "SGD or RMSprop momentum", rules: [AtLeast0<double>()]),
        Key("nesterov", Bool, c => c.Nesterov, (c, v) => c with { Nesterov = v },
            "SGD with Nesterov momentum"),
        Key("weight_decay", Number, c => c.WeightDecay, (c, v) => c with { WeightDecay = v },
            "L2 on conv (not depthwise) and linear weights", rules: [AtLeast0<double>()], synonyms: ["wd"]),
        Key("optim_decay", Number, c => c.OptimDecay, (c, v) => c with { OptimDecay = v },
            "RMSprop smoothing (alpha)", rules: [AtLeast0<double>()]),
        Key("optim_eps", Number, c => c.OptimEps, (c, v) => c with { OptimEps = v },
            "RMSprop epsilon", rules: [AtLeast0<double>()]),
        Key("lr_scheduler", Text, c => c.LrScheduler, (c, v) => c with { LrScheduler = v },
            "learning-rate schedule", required: true, rules: [OneOf(LrSchedulers)], synonyms: ["scheduler", "lr_schedule"]),
        Key("num_epochs", Int, c => c.NumEpochs, (c, v) => c with { NumEpochs = v },
            "epochs of (joint) training", required: true, rules: [Above0<int>()], synonyms: ["epochs", "max_epochs", "n_epochs"]),
        Key("warmup_epochs", Int, c => c.WarmupEpochs, (c, v) => c with { WarmupEpochs = v },
            "derived by the batch-size rule (5 when batch_size > 256, else 0); a configured value is replaced"),
        Key("multistep_lr_milestones", IntList, c => c.MultistepLrMilestones, (c, v) => c with { MultistepLrMilestones = v },
            "multistep*: epochs at which lr decays (required by those schedules)", synonyms: ["milestones"]),
        Key("multistep_lr_gamma", Number, c => c.MultistepLrGamma, (c, v) => c with { MultistepLrGamma = v },
            "multistep*: decay factor", synonyms: ["gamma"]),
        Key("exp_decaying_lr_gamma", NullableNumber, c => c.ExpDecayingLrGamma, (c, v) => c with { ExpDecayingLrGamma = v },
            "exp_decaying: factor per period (required by that schedule)"),
        Key("exp_decaying_period", Int, c => c.ExpDecayingPeriod, (c, v) => c with { ExpDecayingPeriod = v },
            "exp_decaying: epochs between decays", rules: [Above0<int>()]),
        Key("warm_restart", Bool, c => c.WarmRestart, (c, v) => c with { WarmRestart = v },
            "SGDR restarts for cos_annealing_iter (the reference's test.py only)"),

        // ---- quantization ----
        Quant("bits_list", BitsList, q => q.BitsList, (q, v) => q with { BitsList = v },
            "bit-widths trained jointly, in training order; the last is the model's default", required: true, synonyms: ["bits", "bit_widths"]),
        Key("adaptive_training", Bool, c => c.AdaptiveTraining, (c, v) => c with { AdaptiveTraining = v },
            "every batch trains every bit-width of bits_list (False: only the last)"),
        Quant("weight_only", Bool, q => q.WeightOnly, (q, v) => q with { WeightOnly = v },
            "quantize weights only; activations stay full precision"),
        Quant("weight_quant_scheme", Scheme, q => q.WeightScheme, (q, v) => q with { WeightScheme = v },
            "weight quantizer levels: original, modified or centered"),
        Quant("act_quant_scheme", Scheme, q => q.ActScheme, (q, v) => q with { ActScheme = v },
            "activation quantizer levels: original, modified or centered"),
        Quant("clamp", Bool, q => q.Clamp, (q, v) => q with { Clamp = v },
            "tanh-normalise full-precision weights"),
        Quant("rescale", Bool, q => q.Rescale, (q, v) => q with { Rescale = v },
            "SAT rescaling of linear layers"),
        Quant("rescale_conv", Bool, q => q.RescaleConv, (q, v) => q with { RescaleConv = v },
            "SAT rescaling of conv layers"),
        Quant("rescale_type", Named(["constant", "stddev"], n => n == "stddev" ? RescaleType.Stddev : RescaleType.Constant,
                t => t == RescaleType.Stddev ? "stddev" : "constant"), q => q.RescaleType, (q, v) => q with { RescaleType = v },
            "SAT rescaling target: constant or stddev"),
        Quant("switchbn", Bool, q => q.SwitchBn, (q, v) => q with { SwitchBn = v },
            "one BN copy per bit-width (False: always copy 0)"),
        Quant("stats_sharing", Bool, q => q.StatsSharing, (q, v) => q with { StatsSharing = v },
            "share BN affine parameters across bit-widths"),
        Quant("switch_alpha", Bool, q => q.SwitchAlpha, (q, v) => q with { SwitchAlpha = v },
            "one PACT clipping level per bit-width (False: one shared)"),
        Key("pact_fp", Bool, c => c.PactFp, (c, v) => c with { PactFp = v },
            "MobileNet: clip activations with PACT even at full precision"),
        Key("double_side", Bool, c => c.DoubleSide, (c, v) => c with { DoubleSide = v },
            "MobileNet V2: signed activation quantization where the reference uses it"),

        // ---- two-stage training and distillation across bit-widths ----
        Key("fp_pretrain_epochs", Int, c => c.FpPretrainEpochs, (c, v) => c with { FpPretrainEpochs = v },
            "epochs of full-precision pre-training (stage 1, in fp_pretrain/) before the joint training", rules: [AtLeast0<int>()]),
        Key("distill", Text, c => c.Distill, (c, v) => c with { Distill = v },
            "the teacher of each bit-width in the joint step: none, highest, fp or recursive", rules: [OneOf(DistillModes)]),
        Key("distill_weight", Number, c => c.DistillWeight, (c, v) => c with { DistillWeight = v },
            "w: a student's loss is (1 - w) CE + w T^2 KL(teacher || student)", rules: [new("be a number in [0, 1]", v => v is >= 0 and <= 1)]),
        Key("distill_temperature", Number, c => c.DistillTemperature, (c, v) => c with { DistillTemperature = v },
            "T of distill_weight's KL term", rules: [FiniteAbove0]),
    ];

    /// <summary>The names of <see cref="All"/>, in order.</summary>
    public static readonly IReadOnlyList<string> Known = All.Select(k => k.Name).ToArray();

    /// <summary>Keys of the reference's configs that nothing reads: accepted with a warning.</summary>
    public static readonly IReadOnlyList<string> Ignored =
        ["num_cpus_per_job", "memory_per_job", "gpu_type", "resume", "bn_calib", "unbiased", "exp_decaying_gamma"];

    static readonly Dictionary<string, ConfigKey> ByName = All.ToDictionary(k => k.Name, StringComparer.Ordinal);
    static readonly HashSet<string> IgnoredSet = new(Ignored, StringComparer.Ordinal);
    static readonly Dictionary<string, string> BySynonym =
        All.SelectMany(k => k.Synonyms.Select(s => (s, k.Name))).ToDictionary(p => p.s, p => p.Name, StringComparer.OrdinalIgnoreCase);

    public static bool IsKnown(string key) => ByName.ContainsKey(key);
    public static bool IsIgnored(string key) => IgnoredSet.Contains(key);
    internal static ConfigKey? Find(string key) => ByName.GetValueOrDefault(key);

    /// <summary>The key a common synonym stands for (learning_rate: lr), else the known or ignored key nearest to
    /// <paramref name="key"/> by edit distance (see <see cref="Nearest"/>); else null.</summary>
    public static string? Suggest(string key) =>
        BySynonym.TryGetValue(key, out var known) ? known : Nearest(key, Known.Concat(Ignored));

    /// <summary>The candidate nearest to <paramref name="key"/> by edit distance, when it is within max(2, len/3) edits;
    /// else null (config keys here, command and option names on the command line).</summary>
    public static string? Nearest(string key, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string candidate in candidates)
        {
            int d = EditDistance(key, candidate);
            if (d < bestDistance) (best, bestDistance) = (candidate, d);
        }
        return bestDistance <= Math.Max(2, key.Length / 3) ? best : null;
    }

    /// <summary>Levenshtein distance (insert, delete, substitute; each costs 1).</summary>
    public static int EditDistance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
