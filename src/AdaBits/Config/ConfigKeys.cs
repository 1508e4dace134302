namespace AdaBits.Config;

/// <summary>The keys a config may hold: those <see cref="TrainConfig"/> reads, in the order
/// <see cref="TrainConfig.ToYaml"/> writes them, and those accepted for compatibility and ignored.</summary>
public static class ConfigKeys
{
    /// <summary>Every key that has a <see cref="TrainConfig"/> property.</summary>
    public static readonly IReadOnlyList<string> Known =
    [
        // data / run-time
        "batch_size", "num_gpus_per_job", "batch_size_per_gpu", "dataset", "dataset_dir", "data_transforms",
        "data_loader", "data_loader_workers", "bad_images", "drop_last", "normalize", "crop_padding", "horizontal_flip",
        "train_limit", "val_limit", "num_classes", "image_size", "topk", "test_only", "random_seed",
        "use_diff_seed", "stoch_valid", "log_dir", "log_layout", "run_dir", "model", "depth", "width_mult", "width_divisor", "min_width",
        "reset_parameters", "init", "profiling", "profiling_only", "model_profiling_verbose", "distributed",
        "distributed_all_reduce", "fp_pretrained_file", "pretrained_dir", "pretrained_file",
        "pretrained_model_remap_keys", "device", "log_interval", "fused", "nan_policy", "nan_max_skips",
        "checkpoint_interval_steps",
        // optimisation
        "optimizer", "lr", "momentum", "nesterov", "weight_decay", "optim_decay", "optim_eps", "lr_scheduler",
        "num_epochs", "warmup_epochs", "multistep_lr_milestones", "multistep_lr_gamma", "exp_decaying_lr_gamma",
        "exp_decaying_period", "warm_restart",
        // quantization
        "bits_list", "adaptive_training", "weight_only", "weight_quant_scheme", "act_quant_scheme", "clamp",
        "rescale", "rescale_conv", "rescale_type", "switchbn", "stats_sharing", "switch_alpha", "pact_fp",
        "double_side",
        // two-stage training and distillation across bit-widths
        "fp_pretrain_epochs", "distill", "distill_weight", "distill_temperature",
    ];

    /// <summary>Keys of the reference's configs that nothing reads: accepted with a warning.</summary>
    public static readonly IReadOnlyList<string> Ignored =
        ["num_cpus_per_job", "memory_per_job", "gpu_type", "resume", "bn_calib", "unbiased", "exp_decaying_gamma"];

    public static readonly IReadOnlyList<string> Optimizers = ["sgd", "rmsprop"];

    /// <summary>distill: which output teaches each bit-width in the joint step (see Training/Distillation.cs).</summary>
    public static readonly IReadOnlyList<string> DistillModes = ["none", "highest", "fp", "recursive"];

    public static readonly IReadOnlyList<string> LrSchedulers =
    [
        "multistep", "multistep_iter", "exp_decaying", "exp_decaying_iter", "linear_decaying", "cos_annealing",
        "cos_annealing_iter",
    ];

    static readonly HashSet<string> KnownSet = new(Known, StringComparer.Ordinal);
    static readonly HashSet<string> IgnoredSet = new(Ignored, StringComparer.Ordinal);

    public static bool IsKnown(string key) => KnownSet.Contains(key);
    public static bool IsIgnored(string key) => IgnoredSet.Contains(key);

    /// <summary>The key a common synonym stands for (learning_rate: lr), else the known or ignored key nearest to <paramref name="key"/> by edit distance, when it is within
    /// max(2, len/3) edits; else null.</summary>
    public static string? Suggest(string key) => Nearest(key, Known.Concat(Ignored));

    /// <summary>The candidate nearest to <paramref name="key"/> by edit distance, when it is within max(2, len/3) edits;
    /// else null (config keys here, command and option names on the command line).</summary>
    public static string? Nearest(string key, IEnumerable<string> candidates)
    {
        if (ConfigHints.Synonym(key) is { } synonym) return synonym;
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
