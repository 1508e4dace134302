using System.Text.RegularExpressions;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Quantization;

namespace AdaBits.Config;

/// <summary>
/// Turns the effective key -> value map into a <see cref="TrainConfig"/>, checking every value's type and
/// range. Each error names where the value came from (the file, or the override) and the key.
/// </summary>
internal sealed partial class ConfigBinder(IReadOnlyDictionary<string, object?> raw, IReadOnlyDictionary<string, string> origins, string sourceName)
{
    const string IntType = "an integer", NumberType = "a number", BoolType = "True or False", StringType = "a string";

    string Origin(string key) => origins.TryGetValue(key, out var o) ? o : sourceName;

    ConfigException TypeError(string key, string expected, object? value)
    {
        string hint = value is string s && ExponentWithoutDot().IsMatch(s)
            ? $" (PyYAML reads YAML 1.1, where a float needs a dot and a signed exponent: write {ConfigHints.YamlFloat(s)})"
            : "";
        return new($"{Origin(key)}: key '{key}' expects {expected}, got {Describe(value)}{hint}");
    }

    [GeneratedRegex(@"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$")]
    private static partial Regex ExponentWithoutDot();

    internal ConfigException Invalid(string key, string problem) => new($"{Origin(key)}: key '{key}' {problem}");

    ConfigException Missing(string key) => new($"{sourceName}: missing required key '{key}'");

    /// <summary>How a value is shown in messages: strings quoted, others as Python prints them.</summary>
    internal static string Describe(object? value) => value switch
    {
        null => "null",
        string s => "'" + EscapeControl(s) + "'",
        System.Collections.IDictionary => "a mapping",
        _ => YamlText.PythonRepr(value),
    };

    /// <summary>Control characters as Python's repr shows them, so a message stays one line whatever the value holds.</summary>
    static string EscapeControl(string s)
    {
        if (!s.Any(char.IsControl)) return s;
        var b = new System.Text.StringBuilder(s.Length + 8);
        foreach (char c in s)
            b.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) => $"\\x{(int)c:x2}",
                _ => c.ToString(),
            });
        return b.ToString();
    }

    bool TryGet(string key, out object? value) => raw.TryGetValue(key, out value);

    // ---- converters: value (not null) -> T, or a type error ----
    int AsInt(string key, object? v, string expected = IntType) => v switch
    {
        long l when l is >= int.MinValue and <= int.MaxValue => (int)l,
        long => throw Invalid(key, $"expects {expected}, got {v} (out of range)"),
        _ => throw TypeError(key, expected, v),
    };

    double AsDouble(string key, object? v) => v switch
    {
        double d => d,
        long l => l,
        _ => throw TypeError(key, NumberType, v),
    };

    bool AsBool(string key, object? v) => v is bool b ? b : throw TypeError(key, BoolType, v);

    string AsString(string key, object? v) => v is string s ? s : throw TypeError(key, StringType, v);

    IReadOnlyList<int> AsIntList(string key, object? v)
    {
        const string expected = "a list of integers, e.g. [1, 5]";
        if (v is not List<object?> list) throw TypeError(key, expected, v);
        return list.Select(e => e is long ? AsInt(key, e, expected) : throw TypeError(key, expected, v)).ToArray();
    }

    // ---- readers: required, with default, nullable ----
    T Req<T>(string key, Func<string, object?, T> conv)
    {
        if (!TryGet(key, out var v)) throw Missing(key);
        if (v is null) throw new ConfigException($"{Origin(key)}: required key '{key}' has no value");
        return conv(key, v);
    }

    T Opt<T>(string key, T fallback, Func<string, object?, T> conv)
    {
        if (!TryGet(key, out var v)) return fallback;
        return conv(key, v);
    }

    T? Nullable<T>(string key, Func<string, object?, T> conv) where T : struct
    {
        if (!TryGet(key, out var v) || v is null) return null;
        return conv(key, v);
    }

    string? NullableString(string key)
    {
        if (!TryGet(key, out var v) || v is null) return null;
        return AsString(key, v);
    }

    int Positive(string key, int value) => value > 0 ? value : throw Invalid(key, $"must be > 0, got {value}");
    int NonNegative(string key, int value) => value >= 0 ? value : throw Invalid(key, $"must be >= 0, got {value}");
    int? Positive(string key, int? value) => value is null ? null : Positive(key, value.Value);
    double NonNegative(string key, double value) =>
        value >= 0 ? value : throw Invalid(key, $"must be >= 0, got {YamlText.PythonRepr(value)}");

    string OneOf(string key, string value, IReadOnlyList<string> allowed) =>
        allowed.Contains(value) ? value : throw Invalid(key, $"must be one of {string.Join(", ", allowed)}, got '{value}'");

    [GeneratedRegex(@"^(cpu|cuda|cuda:[0-9]+)$")]
    private static partial Regex DeviceRx();

    IReadOnlyList<string> Profiling()
    {
        if (!TryGet("profiling", out var v) || v is null or false) return [];
        const string expected = "a list of device tags, e.g. [gpu] (or False)";
        if (v is not List<object?> list) throw TypeError("profiling", expected, v);
        return list.Select(e => e is string s ? s : throw TypeError("profiling", expected, v)).ToArray();
    }

    IReadOnlyList<Bits> BitsList()
    {
        const string key = "bits_list";
        const string expected = "a list of bit-widths, each an integer or a [weight_bits, activation_bits] pair, e.g. [8, 6, 4]";
        object? v = Req(key, (_, x) => x);
        if (v is not List<object?> list || list.Count == 0) throw TypeError(key, expected, v);
        var bits = new List<Bits>();
        foreach (object? e in list)
        {
            Bits b = e switch
            {
                long => new Bits(AsInt(key, e, expected) is var n && n >= 0 ? n : throw Invalid(key, $"entries must be >= 0, got {e}")),
                List<object?> { Count: 2 } pair when pair.All(p => p is long) =>
                    pair.Cast<long>().Any(p => p < 0 || p > int.MaxValue)
                        ? throw Invalid(key, $"entries must be >= 0, got {YamlText.PythonRepr(pair)}")
                        : new Bits((int)(long)pair[0]!, (int)(long)pair[1]!),
                _ => throw TypeError(key, expected, v),
            };
            bits.Add(b);
        }
        return bits;
    }

    QuantScheme Scheme(string key, string fallback)
    {
        string name = Opt(key, fallback, AsString);
        try { return QuantSchemes.Parse(name, key); }
        catch (ArgumentException) { throw Invalid(key, $"must be one of original, modified, centered, got '{name}'"); }
    }

    /// <summary>Reads every known key (ignoring the derived warmup_epochs beyond a type check) and checks
    /// the values; lr is the configured one (the batch-size rule is applied by the loader).</summary>
    public TrainConfig Bind()
    {
        string optimizer = OneOf("optimizer", Req("optimizer", AsString), ConfigKeys.Optimizers);
        string scheduler = OneOf("lr_scheduler", Req("lr_scheduler", AsString), ConfigKeys.LrSchedulers);
        double lr = Req("lr", AsDouble);
        if (!(lr > 0) || double.IsInfinity(lr)) throw Invalid("lr", $"must be a finite number > 0, got {YamlText.PythonRepr(lr)}");
        var milestones = Opt("multistep_lr_milestones", [], AsIntList);
        if (scheduler.StartsWith("multistep") && !TryGet("multistep_lr_milestones", out _))
            throw new ConfigException($"{sourceName}: missing required key 'multistep_lr_milestones' (needed by lr_scheduler '{scheduler}')");
        double? expGamma = Nullable("exp_decaying_lr_gamma", AsDouble);
        if (scheduler == "exp_decaying" && expGamma is null)
            throw new ConfigException($"{sourceName}: missing required key 'exp_decaying_lr_gamma' (needed by lr_scheduler 'exp_decaying')");
        string device = Opt("device", "cpu", AsString);
        if (!DeviceRx().IsMatch(device)) throw Invalid("device", $"must be cpu, cuda or cuda:N, got '{device}'");
        var topk = Opt("topk", [1, 5], AsIntList);
        if (topk.Count == 0 || topk.Any(k => k < 1)) throw Invalid("topk", $"must be a non-empty list of integers >= 1, got {YamlText.PythonRepr(topk)}");
        double widthMult = Opt("width_mult", 1.0, AsDouble);
        if (!(widthMult > 0)) throw Invalid("width_mult", $"must be > 0, got {YamlText.PythonRepr(widthMult)}");
        string rescaleType = OneOf("rescale_type", Opt("rescale_type", "constant", AsString), ["constant", "stddev"]);
        Opt("warmup_epochs", 0, (k, v) => AsInt(k, v)); // derived by the loader; only its type is checked here

        var config = new TrainConfig
        {
            SourcePath = sourceName,
            BatchSize = Positive("batch_size", Req("batch_size", (k, v) => AsInt(k, v))),
            NumGpusPerJob = Positive("num_gpus_per_job", Opt("num_gpus_per_job", 1, (k, v) => AsInt(k, v))),
            BatchSizePerGpu = Positive("batch_size_per_gpu", Nullable("batch_size_per_gpu", (k, v) => AsInt(k, v))),
            Dataset = Req("dataset", AsString),
            DatasetDir = Opt("dataset_dir", "data", AsString),
            DataTransforms = NullableString("data_transforms"),
            DataLoader = NullableString("data_loader"),
            BadImages = OneOf("bad_images", Opt("bad_images", "fail", AsString), ["fail", "skip"]),
            DataLoaderWorkers = NonNegative("data_loader_workers", Opt("data_loader_workers", 1, (k, v) => AsInt(k, v))),
            DropLast = Opt("drop_last", false, AsBool),
            Normalize = Opt("normalize", false, AsBool),
            CropPadding = Nullable("crop_padding", (k, v) => NonNegative(k, AsInt(k, v))),
            HorizontalFlip = Nullable("horizontal_flip", AsBool),
            TrainLimit = Positive("train_limit", Nullable("train_limit", (k, v) => AsInt(k, v))),
            ValLimit = Positive("val_limit", Nullable("val_limit", (k, v) => AsInt(k, v))),
            NumClasses = Positive("num_classes", Nullable("num_classes", (k, v) => AsInt(k, v))),
            ImageSize = Positive("image_size", Nullable("image_size", (k, v) => AsInt(k, v))),
            Topk = topk,
            TestOnly = Opt("test_only", false, AsBool),
            RandomSeed = Opt("random_seed", 0, (k, v) => AsInt(k, v)),
            UseDiffSeed = Opt("use_diff_seed", false, AsBool),
            StochValid = Opt("stoch_valid", false, AsBool),
            LogDir = Req("log_dir", AsString),
            LogLayout = OneOf("log_layout", Opt("log_layout", RunFolder.DefaultLayout, AsString), [RunFolder.DefaultLayout, RunFolder.ReferenceLayout]),
            RunDirOverride = Opt("run_dir", "", AsString),
            Model = Req("model", AsString) is { Length: > 0 } model ? model : throw Invalid("model", "must name a model, got ''"),
            Depth = Positive("depth", Nullable("depth", (k, v) => AsInt(k, v))),
            WidthMult = widthMult,
            WidthDivisor = Positive("width_divisor", Opt("width_divisor", 1, (k, v) => AsInt(k, v))),
            MinWidth = Positive("min_width", Opt("min_width", 1, (k, v) => AsInt(k, v))),
            ResetParameters = Opt("reset_parameters", true, AsBool),
            Init = InitSchemes.Parse(OneOf("init", Opt("init", InitSchemes.Default.Name(), AsString), InitSchemes.Names)),
            Profiling = Profiling(),
            ProfilingOnly = Opt("profiling_only", false, AsBool),
            ModelProfilingVerbose = Opt("model_profiling_verbose", false, AsBool),
            Distributed = Opt("distributed", false, AsBool),
            DistributedAllReduce = Opt("distributed_all_reduce", false, AsBool),
            FpPretrainedFile = NullableString("fp_pretrained_file"),
            PretrainedDir = Opt("pretrained_dir", "", AsString),
            PretrainedFile = Opt("pretrained_file", "", AsString),
            PretrainedModelRemapKeys = Opt("pretrained_model_remap_keys", false, AsBool),
            Device = device,
            LogInterval = Positive("log_interval", Opt("log_interval", 50, (k, v) => AsInt(k, v))),
            Fused = Opt("fused", true, AsBool),
            NanPolicy = OneOf("nan_policy", Opt("nan_policy", "stop", AsString), ["stop", "skip_step"]),
            NanMaxSkips = Positive("nan_max_skips", Opt("nan_max_skips", 10, (k, v) => AsInt(k, v))),
            CheckpointIntervalSteps = NonNegative("checkpoint_interval_steps", Opt("checkpoint_interval_steps", 0, (k, v) => AsInt(k, v))),

            Optimizer = optimizer,
            Lr = lr,
            BaseLr = lr,
            Momentum = NonNegative("momentum", Opt("momentum", 0.0, AsDouble)),
            Nesterov = Opt("nesterov", false, AsBool),
            WeightDecay = NonNegative("weight_decay", Opt("weight_decay", 0.0, AsDouble)),
            OptimDecay = NonNegative("optim_decay", Opt("optim_decay", 0.9, AsDouble)),
            OptimEps = NonNegative("optim_eps", Opt("optim_eps", 1e-8, AsDouble)),
            LrScheduler = scheduler,
            NumEpochs = Positive("num_epochs", Req("num_epochs", (k, v) => AsInt(k, v))),
            MultistepLrMilestones = milestones,
            MultistepLrGamma = Opt("multistep_lr_gamma", 0.1, AsDouble),
            ExpDecayingLrGamma = expGamma,
            ExpDecayingPeriod = Positive("exp_decaying_period", Opt("exp_decaying_period", 1, (k, v) => AsInt(k, v))),
            WarmRestart = Opt("warm_restart", false, AsBool),

            BitsList = BitsList(),
            AdaptiveTraining = Opt("adaptive_training", false, AsBool),
            WeightOnly = Opt("weight_only", false, AsBool),
            WeightQuantScheme = Scheme("weight_quant_scheme", "modified"),
            ActQuantScheme = Scheme("act_quant_scheme", "original"),
            Clamp = Opt("clamp", true, AsBool),
            Rescale = Opt("rescale", true, AsBool),
            RescaleConv = Opt("rescale_conv", false, AsBool),
            RescaleType = rescaleType == "stddev" ? RescaleType.Stddev : RescaleType.Constant,
            SwitchBn = Opt("switchbn", true, AsBool),
            StatsSharing = Opt("stats_sharing", false, AsBool),
            SwitchAlpha = Opt("switch_alpha", false, AsBool),
            PactFp = Opt("pact_fp", false, AsBool),
            DoubleSide = Opt("double_side", false, AsBool),

            FpPretrainEpochs = NonNegative("fp_pretrain_epochs", Opt("fp_pretrain_epochs", 0, (k, v) => AsInt(k, v))),
            Distill = OneOf("distill", Opt("distill", "none", AsString), ConfigKeys.DistillModes),
            DistillWeight = InUnitInterval("distill_weight", Opt("distill_weight", 0.5, AsDouble)),
            DistillTemperature = Opt("distill_temperature", 1.0, AsDouble) is var t && t > 0 && double.IsFinite(t)
                ? t : throw Invalid("distill_temperature", $"must be a finite number > 0, got {YamlText.PythonRepr(t)}"),
        };
        CheckTwoStage(config);
        CheckDistill(config);
        return config;
    }

    double InUnitInterval(string key, double value) =>
        value is >= 0 and <= 1 ? value : throw Invalid(key, $"must be a number in [0, 1], got {YamlText.PythonRepr(value)}");

    void CheckTwoStage(TrainConfig c)
    {
        if (c.FpPretrainEpochs == 0) return;
        // stage 2 starts from the expanded stage-1 model: a file loaded on top of it would make stage 1 pointless
        if (!string.IsNullOrEmpty(c.FpPretrainedFile))
            throw Invalid("fp_pretrain_epochs", $"= {c.FpPretrainEpochs} trains the full-precision model itself: it cannot be combined with fp_pretrained_file '{c.FpPretrainedFile}' (set one of them)");
        if (!string.IsNullOrEmpty(c.PretrainedFile))
            throw Invalid("fp_pretrain_epochs", $"= {c.FpPretrainEpochs} trains the full-precision model itself: it cannot be combined with pretrained_file '{c.PretrainedFile}' (set one of them)");
    }

    void CheckDistill(TrainConfig c)
    {
        if (c.Distill == "none") return;
        if (!c.AdaptiveTraining)
            throw Invalid("distill", $"'{c.Distill}' distils between the bit-widths of the joint step: it needs adaptive_training: True (or distill: none)");
        if (c.BitsList.Distinct().Count() < 2)
            throw Invalid("distill", $"'{c.Distill}' needs at least two bit-widths in bits_list, got {Bits.ListToString(c.BitsList)}");
        if (c.Distill == "fp" && !c.BitsList.Any(b => b.Weight >= 32 && b.Activation >= 32))
            throw Invalid("distill", $"'fp' takes the full-precision output as the teacher: bits_list must hold 32, got {Bits.ListToString(c.BitsList)} (or use distill: highest)");
    }
}
