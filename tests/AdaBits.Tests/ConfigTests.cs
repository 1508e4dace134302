using AdaBits.Config;
using AdaBits.Modules;
using AdaBits.Quantization;

namespace AdaBits.Tests;

/// <summary>The config system: PyYAML-compatible reading, keys, defaults, overrides, errors, ToYaml.</summary>
public class ConfigTests() : TempFolderTests("adabits-config-tests-")
{
    readonly List<string> warnings = [];

    // Reconstructions of the reference's three shipped configs (§1.5), with their duplicate keys
    // (model: '' then the real one; data_transforms twice for ImageNet) and never-read keys.
    const string CifarYaml = """
        # =========================== Basic Settings ===========================
        # machine info
        num_gpus_per_job: 4  # number of gpus each job need
        num_cpus_per_job: 63
        memory_per_job: 200
        gpu_type: "nvidia-tesla-p100"

        # data
        dataset: CIFAR10
        data_transforms: cifar
        data_loader: cifar
        dataset_dir: /path/to/data
        data_loader_workers: 5 #10

        # info
        num_classes: 10
        image_size: 32
        topk: [1, 5]
        num_epochs: 200 #150

        # optimizer
        optimizer: sgd
        momentum: 0.9
        weight_decay: 0.00004
        nesterov: True

        # lr
        lr: 0.1 #0.05
        lr_scheduler: multistep
        multistep_lr_milestones: [100, 150]
        multistep_lr_gamma: 0.1
        #exp_decaying_gamma: 0.98

        profiling: [gpu]

        pretrained_dir: ''
        pretrained_file: ''
        resume: ''
        test_only: False

        random_seed: 1995
        batch_size: 128 #1024 #256
        model: ''
        reset_parameters: True

        distributed: False #True
        distributed_all_reduce: False #True
        use_diff_seed: False #True

        stats_sharing: False

        #unbiased: False
        clamp: True
        rescale: True #False
        rescale_conv: True #False
        switchbn: True #False
        bn_calib: False
        rescale_type: constant #[stddev, constant]

        switch_alpha: True

        weight_quant_scheme: modified
        act_quant_scheme: original

        # =========================== Override Settings ===========================
        #fp_pretrained_file: /path/to/best_model.pt
        log_dir: ./results/cifar10/resnet20
        adaptive_training: True
        model: models.q_resnet_cifar
        depth: 20
        bits_list: [5,4,3]
        weight_only: False
        """;

    static string ImageNetYaml(string lr, string model, string logDir, string quantLines) => $"""
        num_gpus_per_job: 4
        num_cpus_per_job: 63
        memory_per_job: 200
        gpu_type: "nvidia-tesla-p100"
        dataset: imagenet1k
        data_transforms: imagenet1k_basic
        data_loader: imagenet1k_basic
        dataset_dir: data
        data_loader_workers: 5
        num_classes: 1000
        image_size: 224
        topk: [1, 5]
        num_epochs: 150
        optimizer: sgd
        momentum: 0.9
        weight_decay: 0.00004
        nesterov: True
        lr: {lr}
        lr_scheduler: cos_annealing_iter
        profiling: [gpu]
        pretrained_dir: ''
        pretrained_file: ''
        resume: ''
        test_only: False
        random_seed: 1995
        batch_size: 256 #512
        model: ''
        reset_parameters: True
        distributed: True
        distributed_all_reduce: True
        use_diff_seed: True
        width_divisor: 8
        min_width: 1
        stats_sharing: False
        {quantLines}
        bn_calib: False
        rescale_type: constant
        # =========================== Override Settings ===========================
        log_dir: {logDir}
        adaptive_training: True
        model: {model}
        bits_list: [8, 6, 5, 4]
        weight_only: False
        data_transforms: imagenet1k_mobile
        """;

    static readonly string MobileNetV1Yaml = ImageNetYaml("0.05", "models.q_mobilenet_v1", "./results/imagenet/mobilenetv1",
        "rescale: True\nswitchbn: True\nclamp: True\n#switch_alpha: True");

    static readonly string MobileNetV2Yaml = ImageNetYaml("0.1", "models.q_mobilenet_v2", "./results/imagenet/mobilenetv2",
        "rescale: True\nrescale_conv: False\nswitchbn: True\nclamp: True\nnormalize: False\nswitch_alpha: True");

    TrainConfig FromText(string yaml, params string[] overrides) =>
        ConfigLoader.FromYamlText(yaml, "apps/x.yml", overrides, warnings.Add);

    static string Sep(params string[] parts) => string.Join(Path.DirectorySeparatorChar, parts);

    ConfigException Fails(string yaml, params string[] overrides) =>
        Assert.Throws<ConfigException>(() => FromText(yaml, overrides));

    /// <summary>A small valid config; tests append or replace lines (duplicate keys: last wins).</summary>
    const string Minimal = """
        batch_size: 128
        dataset: CIFAR10
        log_dir: ./results
        model: models.q_resnet_cifar
        optimizer: sgd
        lr: 0.1
        lr_scheduler: cos_annealing_iter
        num_epochs: 10
        bits_list: [4]
        """;

    // ------------------------------------------------------------------ shipped configs

    [Fact]
    public void CifarConfig_EffectiveValues()
    {
        var c = FromText(CifarYaml);
        Assert.Equal(4, c.NumGpusPerJob);
        Assert.Equal("CIFAR10", c.Dataset);
        Assert.Equal("/path/to/data", c.DatasetDir);
        Assert.Equal("cifar", c.DataTransforms);
        Assert.Equal("cifar", c.DataLoader);
        Assert.Equal(5, c.DataLoaderWorkers);
        Assert.Equal(10, c.NumClasses);
        Assert.Equal(32, c.ImageSize);
        Assert.Equal([1, 5], c.Topk);
        Assert.Equal(200, c.NumEpochs);
        Assert.Equal("sgd", c.Optimizer);
        Assert.Equal(0.9, c.Momentum);
        Assert.Equal(0.00004, c.WeightDecay);
        Assert.True(c.Nesterov);
        Assert.Equal(0.1, c.Lr);
        Assert.Equal(0.1, c.BaseLr);
        Assert.Equal("multistep", c.LrScheduler);
        Assert.Equal([100, 150], c.MultistepLrMilestones);
        Assert.Equal(0.1, c.MultistepLrGamma);
        Assert.Equal(["gpu"], c.Profiling);
        Assert.Equal("", c.PretrainedDir);
        Assert.Equal("", c.PretrainedFile);
        Assert.False(c.TestOnly);
        Assert.Equal(1995, c.RandomSeed);
        Assert.Equal(128, c.BatchSize);
        Assert.Equal("models.q_resnet_cifar", c.Model);
        Assert.True(c.ResetParameters);
        Assert.False(c.Distributed);
        Assert.False(c.DistributedAllReduce);
        Assert.False(c.UseDiffSeed);
        Assert.False(c.Quant.StatsSharing);
        Assert.True(c.Quant.Clamp);
        Assert.True(c.Quant.Rescale);
        Assert.True(c.Quant.RescaleConv);
        Assert.True(c.Quant.SwitchBn);
        Assert.False(c.Normalize);
        Assert.Equal(RescaleType.Constant, c.Quant.RescaleType);
        Assert.True(c.Quant.SwitchAlpha);
        Assert.Equal(QuantScheme.Modified, c.Quant.WeightScheme);
        Assert.Equal(QuantScheme.Original, c.Quant.ActScheme);
        Assert.Equal("./results/cifar10/resnet20", c.LogDir);
        Assert.True(c.AdaptiveTraining);
        Assert.Equal(20, c.Depth);
        Assert.Equal([new Bits(5), new Bits(4), new Bits(3)], c.Quant.BitsList);
        Assert.False(c.Quant.WeightOnly);
        Assert.Equal(0, c.WarmupEpochs);
        Assert.Null(c.FpPretrainedFile);
        // defaults of keys the file does not set
        Assert.Equal(1, c.WidthDivisor);
        Assert.Equal("cpu", c.Device);
        Assert.Equal(50, c.LogInterval);
        Assert.Equal(1e-8, c.OptimEps);
        Assert.Equal(0.9, c.OptimDecay);

        Assert.Equal(
        [
            "apps/x.yml: keys 'num_cpus_per_job', 'memory_per_job', 'gpu_type', 'resume', 'bn_calib' are accepted for compatibility and ignored",
        ], warnings);

        // §5.11 example
        string expected = Sep("bits_list_[5, 4, 3]", "adaptive_True", "weight_only_False", "stats_sharing_False",
            "fp_pretrained_False", "clamp_True", "rescale_True", "rescale_conv_True", "rescale_type_constant",
            "switchbn_True", "weight_modified_act_original", "switch_alpha_True", "pact_fp_False");
        Assert.Equal(expected, c.ExperimentSetting);
        if (Path.DirectorySeparatorChar == '/')
            Assert.Equal("./results/cifar10/resnet20/bits_list_[5, 4, 3]/adaptive_True/weight_only_False/stats_sharing_False/fp_pretrained_False/clamp_True/rescale_True/rescale_conv_True/rescale_type_constant/switchbn_True/weight_modified_act_original/switch_alpha_True/pact_fp_False",
                (c with { LogLayout = "reference" }).RunDir);
        // the default layout: <config file stem>-<first 8 hex digits of SHA-256 of the setting with '/'>
        string hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(expected.Replace(Path.DirectorySeparatorChar, '/'))))[..8];
        Assert.Equal(Path.Combine("./results/cifar10/resnet20", "x-" + hash), c.RunDir);

        // duplicate `model:` keeps its first position in Raw, with the last value
        var keys = c.Raw.Keys.ToList();
        Assert.True(keys.IndexOf("model") < keys.IndexOf("reset_parameters"));
        Assert.Equal("models.q_resnet_cifar", c.Raw["model"]);
        Assert.Equal("nvidia-tesla-p100", c.Raw["gpu_type"]);
    }

    [Fact]
    public void MobileNetV1Config_EffectiveValues()
    {
        var c = FromText(MobileNetV1Yaml);
        Assert.Equal("imagenet1k", c.Dataset);
        Assert.Equal("data", c.DatasetDir);
        Assert.Equal("imagenet1k_mobile", c.DataTransforms);
        Assert.Equal("imagenet1k_basic", c.DataLoader);
        Assert.Equal(1000, c.NumClasses);
        Assert.Equal(224, c.ImageSize);
        Assert.Equal(150, c.NumEpochs);
        Assert.Equal(0.05, c.Lr);
        Assert.Equal(0, c.WarmupEpochs); // bs 256 is not > 256
        Assert.Equal("cos_annealing_iter", c.LrScheduler);
        Assert.Equal(256, c.BatchSize);
        Assert.Equal("models.q_mobilenet_v1", c.Model);
        Assert.True(c.Distributed);
        Assert.True(c.DistributedAllReduce);
        Assert.True(c.UseDiffSeed);
        Assert.Equal(8, c.WidthDivisor);
        Assert.Equal(1, c.MinWidth);
        Assert.False(c.Quant.RescaleConv);
        Assert.False(c.Quant.SwitchAlpha);
        Assert.False(c.Normalize);
        Assert.Null(c.Depth);
        Assert.Equal([new Bits(8), new Bits(6), new Bits(5), new Bits(4)], c.Quant.BitsList);
        Assert.Equal(Sep("bits_list_[8, 6, 5, 4]", "adaptive_True", "weight_only_False", "stats_sharing_False",
            "fp_pretrained_False", "clamp_True", "rescale_True", "rescale_conv_False", "rescale_type_constant",
            "switchbn_True", "weight_modified_act_original", "switch_alpha_False", "pact_fp_False"), c.ExperimentSetting);
        Assert.Single(warnings);   // five ignored keys, one line for the file
        Assert.Equal(5, warnings[0].Split("', '").Length);
    }

    [Fact]
    public void MobileNetV2Config_EffectiveValues()
    {
        var c = FromText(MobileNetV2Yaml);
        Assert.Equal("imagenet1k_mobile", c.DataTransforms);
        Assert.Equal(0.1, c.Lr);
        Assert.Equal("models.q_mobilenet_v2", c.Model);
        Assert.False(c.Quant.RescaleConv);
        Assert.True(c.Quant.SwitchAlpha);
        Assert.False(c.Normalize);
        Assert.Equal("./results/imagenet/mobilenetv2", c.LogDir);
        Assert.Contains(Sep("rescale_conv_False", "rescale_type_constant"), c.ExperimentSetting);
        Assert.EndsWith(Sep("switch_alpha_True", "pact_fp_False"), c.ExperimentSetting);
    }

    // ------------------------------------------------------------------ YAML 1.1 scalars

    [Theory]
    [InlineData("True", true)]
    [InlineData("yes", true)]
    [InlineData("ON", true)]
    [InlineData("off", false)]
    [InlineData("No", false)]
    [InlineData("FALSE", false)]
    [InlineData("128", 128L)]
    [InlineData("-3", -3L)]
    [InlineData("1_000", 1000L)]
    [InlineData("0x1F", 31L)]
    [InlineData("010", 8L)]
    [InlineData("0b101", 5L)]
    [InlineData("1:30", 90L)]
    [InlineData("0.00004", 0.00004)]
    [InlineData("0.1", 0.1)]
    [InlineData("1.0e-5", 1.0e-5)]
    [InlineData("1.", 1.0)]
    [InlineData(".5", 0.5)]
    [InlineData("-.inf", double.NegativeInfinity)]
    [InlineData("4e-5", "4e-5")]     // PyYAML: no dot -> a string
    [InlineData("1.0e5", "1.0e5")]   // PyYAML: exponent needs a sign
    [InlineData("08", "08")]         // not octal, not decimal
    [InlineData("y", "y")]           // YAML 1.1 'y' is not resolved by PyYAML
    [InlineData("sgd", "sgd")]
    [InlineData("~", null)]
    [InlineData("null", null)]
    [InlineData("", null)]
    public void PlainScalars_ResolveAsPyYaml(string text, object? expected)
    {
        object? v = YamlScalars.Resolve(text);
        Assert.Equal(expected, v);
        if (expected is not null) Assert.IsType(expected.GetType(), v);
    }

    [Fact]
    public void QuotedScalars_AreStrings()
    {
        var tree = (OrderedDictionary<string, object?>)YamlReader.ReadText("a: '5'\nb: \"True\"\nc: ''\nd: ~\ne:\nf: 5\ng: !!str 7\n", "t.yml")!;
        Assert.Equal("5", tree["a"]);
        Assert.Equal("True", tree["b"]);
        Assert.Equal("", tree["c"]);
        Assert.Null(tree["d"]);
        Assert.Null(tree["e"]);
        Assert.Equal(5L, tree["f"]);
        Assert.Equal("7", tree["g"]);
    }

    [Fact]
    public void Config_Yaml11Values()
    {
        var c = FromText(Minimal + "\ntest_only: yes\nnesterov: on\nfused: off\nweight_decay: 0.00004\npretrained_file: ''\nfp_pretrained_file: ~\ndataset: '5'\n");
        Assert.True(c.TestOnly);
        Assert.True(c.Nesterov);
        Assert.False(c.Quant.Fused);
        Assert.Equal(0.00004, c.WeightDecay);
        Assert.Equal("", c.PretrainedFile);
        Assert.Null(c.FpPretrainedFile);
        Assert.Equal("5", c.Dataset);
    }

    [Fact]
    public void ExponentWithoutDot_IsAStringAndLrRejectsIt()
    {
        var e = Fails(Minimal + "\nlr: 4e-5\n");
        Assert.StartsWith("apps/x.yml: key 'lr' expects a number, got '4e-5'", e.Message);
    }

    [Fact]
    public void QuotedNumber_IsAStringForAnIntKey()
    {
        var e = Fails(Minimal + "\nbatch_size: '5'\n");
        Assert.Equal("apps/x.yml: key 'batch_size' expects an integer, got '5'", e.Message);
    }

    [Fact]
    public void IntegerLr_IsAccepted()
    {
        var c = FromText(Minimal + "\nlr: 1\n");
        Assert.Equal(1.0, c.Lr);
    }

    // ------------------------------------------------------------------ duplicates, includes

    [Fact]
    public void DuplicateKeys_LastWins_FirstPositionKept()
    {
        var tree = (OrderedDictionary<string, object?>)YamlReader.ReadText("a: 1\nb: 2\na: 3\n", "t.yml")!;
        Assert.Equal(["a", "b"], tree.Keys);
        Assert.Equal(3L, tree["a"]);
        var c = FromText(Minimal + "\nmodel: ''\nmodel: models.q_mobilenet_v2\nlr: 0.3\n");
        Assert.Equal("models.q_mobilenet_v2", c.Model);
        Assert.Equal(0.3, c.Lr);
    }

    [Fact]
    public void Include_YamlParsedAndOtherFilesRaw_RelativeToIncludingFile()
    {
        Directory.CreateDirectory(Path.Combine(dir, "apps", "parts"));
        File.WriteAllText(Path.Combine(dir, "apps", "parts", "bits.yml"), "[[4, 8], 4]\n");
        File.WriteAllText(Path.Combine(dir, "apps", "parts", "model.txt"), "models.q_resnet_cifar");
        File.WriteAllText(Path.Combine(dir, "apps", "parts", "milestones.yaml"), "!include more.yml\n");
        File.WriteAllText(Path.Combine(dir, "apps", "parts", "more.yml"), "[3, 6]\n");
        string main = Path.Combine(dir, "apps", "main.yml");
        File.WriteAllText(main, Minimal.Replace("model: models.q_resnet_cifar\n", "")
            + "\nbits_list: !include parts/bits.yml\nmodel: !include parts/model.txt\nlr_scheduler: multistep\nmultistep_lr_milestones: !include parts/milestones.yaml\n");
        var c = ConfigLoader.Load([$"app:{main}"], warnings.Add);
        Assert.Equal([new Bits(4, 8), new Bits(4)], c.Quant.BitsList);
        Assert.Equal("models.q_resnet_cifar", c.Model);
        Assert.Equal([3, 6], c.MultistepLrMilestones);
        Assert.Equal(Sep("bits_list_[[4, 8], 4]"), c.ExperimentSetting.Split(Path.DirectorySeparatorChar)[0]);

        File.WriteAllText(main, Minimal + "\nbits_list: !include parts/nope.yml\n");
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load([$"app:{main}"], warnings.Add));
        Assert.Contains(main, e.Message);
        Assert.Contains("nope.yml", e.Message);
        Assert.Contains("not found", e.Message);
    }

    // ------------------------------------------------------------------ overrides and the batch-size rule

    [Fact]
    public void Overrides_AppliedAfterTheFileInOrder()
    {
        var c = FromText(Minimal, "lr=0.2", "bits_list=[4,2]", "test_only=True", "log_dir=/tmp/x", "device=cuda:1", "lr=0.25");
        Assert.Equal(0.25, c.Lr);
        Assert.Equal([new Bits(4), new Bits(2)], c.Quant.BitsList);
        Assert.True(c.TestOnly);
        Assert.Equal("/tmp/x", c.LogDir);
        Assert.Equal("cuda:1", c.Device);
    }

    [Fact]
    public void Overrides_ErrorsNameTheOverride()
    {
        var e = Fails(Minimal, "bit_list=[4,2]");
        Assert.Equal("override 'bit_list=[4,2]': unknown key 'bit_list' (did you mean 'bits_list'?)", e.Message);
        e = Fails(Minimal, "lr=abc");
        Assert.Equal("override 'lr=abc': key 'lr' expects a number, got 'abc'", e.Message);
        e = Fails(Minimal, "--local_rank");
        Assert.Contains("'--local_rank'", e.Message);
        e = Fails(Minimal, "bits_list=[4,");
        Assert.StartsWith("override 'bits_list=[4,': line ", e.Message);
    }

    [Fact]
    public void BatchSizeRule_Above256_WarmupAndScaledLr()
    {
        var c = FromText(Minimal, "bs:512");
        Assert.Equal(512, c.BatchSize);
        Assert.Equal(5, c.WarmupEpochs);
        Assert.Equal(0.2, c.Lr, 15);
        Assert.Equal(0.1, c.BaseLr);
        Assert.Equal(0.2, (double)c.Raw["lr"]!, 15);
        Assert.Equal(5L, c.Raw["warmup_epochs"]);

        c = FromText(Minimal, "bs:256");
        Assert.Equal(256, c.BatchSize);
        Assert.Equal(0, c.WarmupEpochs);
        Assert.Equal(0.1, c.Lr);

        // last bs: wins; bs: and batch_size= apply in command-line order
        c = FromText(Minimal, "bs:1024", "bs:64");
        Assert.Equal(64, c.BatchSize);
        Assert.Equal(0.1, c.Lr);
    }

    [Fact]
    public void BatchSizeRule_OverwritesYamlWarmupWithAWarning()
    {
        var c = FromText(Minimal + "\nwarmup_epochs: 3\n");
        Assert.Equal(0, c.WarmupEpochs);
        Assert.Single(warnings);
        Assert.Contains("'warmup_epochs'", warnings[0]);
        Assert.StartsWith("apps/x.yml: ", warnings[0]);
        warnings.Clear();
        FromText(Minimal + "\nwarmup_epochs: 0\n");
        Assert.Empty(warnings);
    }

    [Fact]
    public void Load_CommandLineTokens()
    {
        string path = Path.Combine(dir, "c.yml");
        File.WriteAllText(path, Minimal);
        var c = ConfigLoader.Load(["app:nope.yml", $"app:{path}", "bs:300", "num_epochs=3"], warnings.Add);
        Assert.Equal(path, c.SourcePath);
        Assert.Equal(300, c.BatchSize);
        Assert.Equal(3, c.NumEpochs);
        Assert.Equal(0.1 * 300 / 256, c.Lr);

        Assert.Equal("no config: pass app:PATH", Assert.Throws<ConfigException>(() => ConfigLoader.Load(["bs:3"])).Message);
        Assert.Contains("'bs:x'", Assert.Throws<ConfigException>(() => ConfigLoader.Load([$"app:{path}", "bs:x"])).Message);
        Assert.Contains("'bs:0'", Assert.Throws<ConfigException>(() => ConfigLoader.Load([$"app:{path}", "bs:0"])).Message);
        Assert.Contains("'stray'", Assert.Throws<ConfigException>(() => ConfigLoader.Load([$"app:{path}", "stray"])).Message);
    }

    // ------------------------------------------------------------------ errors

    [Fact]
    public void UnknownKey_SuggestsTheNearest()
    {
        Assert.Equal("apps/x.yml: unknown key 'bit_list' (did you mean 'bits_list'?)", Fails(Minimal + "\nbit_list: [4]\n").Message);
        Assert.Equal("apps/x.yml: unknown key 'completely_different'", Fails(Minimal + "\ncompletely_different: 1\n").Message);
    }

    [Fact]
    public void WrongType_NamesKeyExpectedAndValue()
    {
        Assert.Equal("apps/x.yml: key 'lr' expects a number, got 'abc'", Fails(Minimal + "\nlr: abc\n").Message);
        Assert.Equal("apps/x.yml: key 'nesterov' expects True or False, got 1", Fails(Minimal + "\nnesterov: 1\n").Message);
        Assert.Equal("apps/x.yml: key 'num_epochs' expects an integer, got 1.5", Fails(Minimal + "\nnum_epochs: 1.5\n").Message);
        Assert.StartsWith("apps/x.yml: key 'bits_list' expects a list of bit-widths", Fails(Minimal + "\nbits_list: 4\n").Message);
        Assert.StartsWith("apps/x.yml: key 'bits_list' entries must be >= 0", Fails(Minimal + "\nbits_list: [4, -1]\n").Message);
        Assert.StartsWith("apps/x.yml: key 'topk' expects a list of integers", Fails(Minimal + "\ntopk: [top1]\n").Message);
        Assert.StartsWith("apps/x.yml: key 'batch_size' must be > 0", Fails(Minimal + "\nbatch_size: 0\n").Message);
        Assert.StartsWith("apps/x.yml: key 'weight_quant_scheme' must be one of original, modified, centered",
            Fails(Minimal + "\nweight_quant_scheme: fancy\n").Message);
        Assert.StartsWith("apps/x.yml: key 'clamp' expects True or False, got null", Fails(Minimal + "\nclamp:\n").Message);
    }

    [Theory]
    [InlineData("batch_size")]
    [InlineData("dataset")]
    [InlineData("log_dir")]
    [InlineData("model")]
    [InlineData("optimizer")]
    [InlineData("lr")]
    [InlineData("lr_scheduler")]
    [InlineData("num_epochs")]
    [InlineData("bits_list")]
    public void MissingRequiredKey(string key)
    {
        string yaml = string.Join("\n", Minimal.Split('\n').Where(l => !l.StartsWith(key + ":")));
        Assert.Equal($"apps/x.yml: missing required key '{key}'", Fails(yaml).Message);
    }

    [Fact]
    public void SchedulerDependentKeys_AreRequired()
    {
        Assert.Contains("missing required key 'multistep_lr_milestones'", Fails(Minimal + "\nlr_scheduler: multistep\n").Message);
        Assert.Contains("missing required key 'exp_decaying_lr_gamma'", Fails(Minimal + "\nlr_scheduler: exp_decaying\n").Message);
        Assert.Equal(0.97, FromText(Minimal + "\nlr_scheduler: exp_decaying\nexp_decaying_lr_gamma: 0.97\n").ExpDecayingLrGamma);
    }

    [Fact]
    public void BadNames_ListTheAllowedOnes()
    {
        Assert.Equal("apps/x.yml: key 'optimizer' must be one of sgd, rmsprop, got 'adam'", Fails(Minimal + "\noptimizer: adam\n").Message);
        var e = Fails(Minimal + "\nlr_scheduler: butterworth_iter\n");
        Assert.Equal("apps/x.yml: key 'lr_scheduler' must be one of multistep, multistep_iter, exp_decaying, exp_decaying_iter, linear_decaying, cos_annealing, cos_annealing_iter, got 'butterworth_iter'", e.Message);
        Assert.Equal("apps/x.yml: key 'device' must be cpu, cuda or cuda:N, got 'tpu'", Fails(Minimal + "\ndevice: tpu\n").Message);
        Assert.Equal("override 'device=tpu': key 'device' must be cpu, cuda or cuda:N, got 'tpu'", Fails(Minimal, "device=tpu").Message);
    }

    [Fact]
    public void FileNotFound_And_SyntaxError()
    {
        string missing = Path.Combine("apps", "nope-" + Guid.NewGuid().ToString("N") + ".yml");
        Assert.Equal($"config file '{missing}' not found",
            Assert.Throws<ConfigException>(() => ConfigLoader.Load([$"app:{missing}"])).Message);
        var e = Fails("batch_size: 128\ndataset: CIFAR10\nlr: [0.1\n");
        Assert.Matches(@"^apps/x\.yml: line \d+: \S", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        Assert.Equal("apps/x.yml: the config must be a mapping of key: value lines", Fails("- 1\n- 2\n").Message);
        Assert.Equal("apps/x.yml: the config is empty", Fails("# nothing\n").Message);
    }

    [Fact]
    public void IgnoredKeys_WarnOnceEach()
    {
        FromText(Minimal + "\ngpu_type: p100\nexp_decaying_gamma: 0.98\n", "gpu_type=v100");
        Assert.Equal(
        [
            "apps/x.yml: keys 'gpu_type', 'exp_decaying_gamma' are accepted for compatibility and ignored",
        ], warnings);
        warnings.Clear();
        // an override is its own origin: its line names it
        FromText(Minimal, "resume=True");
        Assert.Equal(["override 'resume=True': key 'resume' is accepted for compatibility and ignored"], warnings);
    }

    [Fact]
    public void Profiling_FalseOrNullMeansEmpty()
    {
        Assert.Empty(FromText(Minimal + "\nprofiling: False\n").Profiling);
        Assert.Empty(FromText(Minimal + "\nprofiling:\n").Profiling);
        Assert.Equal(["gpu", "cpu"], FromText(Minimal + "\nprofiling: [gpu, cpu]\n").Profiling);
    }

    // ------------------------------------------------------------------ ToYaml, settings, options

    [Fact]
    public void ToYaml_RoundTrips()
    {
        var original = FromText(CifarYaml + "\nfp_pretrained_file: 'True'\npretrained_dir: '1.0'\ndata_loader: 'null'\n" +
                                "bits_list: [[4, 8], 4, 32]\nwarmup_epochs: 5\nmomentum: 0\n",
            "bs:1024", "device=cuda:0", "width_mult=0.75", "log_dir=/tmp/it's here", "model='x: y #z'",
            "optim_eps=1.0e-10", "crop_padding=4", "horizontal_flip=False");
        Assert.Equal(0.4, original.Lr, 15);
        Assert.Equal(5, original.WarmupEpochs);
        string yaml = original.ToYaml();
        Assert.Contains("\nweight_decay: 4.0e-05\n", yaml);
        Assert.Contains("\nbits_list: [[4, 8], 4, 32]\n", yaml);
        Assert.Contains("\nnesterov: True\n", yaml);
        Assert.Contains("\npretrained_dir: '1.0'\n", yaml);
        Assert.Contains("\npretrained_file: ''\n", yaml);
        Assert.Contains("\nfp_pretrained_file: 'True'\n", yaml);
        Assert.Contains("\nlr: 0.1\n", yaml);
        Assert.Contains("\nprofiling: [gpu]\n", yaml);
        Assert.Contains("\ndepth: 20\n", yaml);
        Assert.Contains("\nbatch_size_per_gpu: null\n", yaml);
        Assert.DoesNotContain("gpu_type", yaml);

        warnings.Clear();
        var reloaded = FromText(yaml);
        Assert.Empty(warnings);
        Assert.Empty(original.Differences(reloaded));
        Assert.Equal(original, reloaded);
        Assert.Equal(0.4, reloaded.Lr, 15); // the rule applies once
        Assert.Equal(original.ExperimentSetting, reloaded.ExperimentSetting);
        Assert.Equal(yaml, reloaded.ToYaml());
        Assert.Contains("fp_pretrained_True", reloaded.ExperimentSetting);

        // every key written, and only known keys
        Assert.Equal(ConfigKeys.Known, ConfigYamlWriter.Values(original).Keys);
        // equality does see a change
        Assert.NotEqual(original, reloaded with { Quant = reloaded.Quant with { BitsList = [new Bits(4, 8), new Bits(4)] } });
        Assert.NotEqual(original, reloaded with { Lr = 0.3 });
    }

    [Theory]
    [InlineData(0.00004, "4.0e-05", "4e-05")]
    [InlineData(0.1, "0.1", "0.1")]
    [InlineData(1.0, "1.0", "1.0")]
    [InlineData(1e-8, "1.0e-08", "1e-08")]
    [InlineData(1e20, "1.0e+20", "1e+20")]
    [InlineData(1e15, "1000000000000000.0", "1000000000000000.0")]
    [InlineData(1e16, "1.0e+16", "1e+16")]
    [InlineData(0.0001, "0.0001", "0.0001")]
    [InlineData(123.456, "123.456", "123.456")]
    [InlineData(-2.5e-7, "-2.5e-07", "-2.5e-07")]
    public void Doubles_WrittenWithADot(double value, string yaml, string python)
    {
        Assert.Equal(yaml, YamlText.FormatDouble(value));
        Assert.Equal(value, YamlScalars.Resolve(yaml));
        Assert.Equal(python, YamlText.PythonRepr(value));
    }

    [Theory]
    [InlineData("cifar", "cifar")]
    [InlineData("", "''")]
    [InlineData("True", "'True'")]
    [InlineData("1.0", "'1.0'")]
    [InlineData("4e-5", "4e-5")]
    [InlineData("~", "'~'")]
    [InlineData("it's", "'it''s'")]
    [InlineData("a: b", "'a: b'")]
    [InlineData("./results/x", "./results/x")]
    public void Strings_QuotedOnlyWhenNeeded(string value, string yaml)
    {
        Assert.Equal(yaml, YamlText.FormatString(value));
        Assert.Equal(value, YamlReader.ParseValue(yaml));
    }

    [Fact]
    public void ParseValue_AsAYamlDocument()
    {
        Assert.Equal(new List<object?> { 8L, 4L }, YamlReader.ParseValue("[8,4]"));
        Assert.Equal(0.1, YamlReader.ParseValue("0.1"));
        Assert.Equal(true, YamlReader.ParseValue("True"));
        Assert.Equal("/tmp/x", YamlReader.ParseValue("/tmp/x"));
        Assert.Null(YamlReader.ParseValue(""));
    }

    [Fact]
    public void ToQuantOptions_MapsEveryQuantKey()
    {
        var c = FromText(Minimal + "\nbits_list: [[4, 8], 2]\nweight_quant_scheme: centered\nact_quant_scheme: modified\n" +
                         "clamp: False\nrescale: False\nrescale_conv: True\nrescale_type: stddev\nswitchbn: False\n" +
                         "switch_alpha: True\nweight_only: True\nstats_sharing: True\nfused: False\n");
        var q = c.Quant;
        Assert.Equal([new Bits(4, 8), new Bits(2)], q.BitsList);
        Assert.Equal(QuantScheme.Centered, q.WeightScheme);
        Assert.Equal(QuantScheme.Modified, q.ActScheme);
        Assert.False(q.Clamp);
        Assert.False(q.Rescale);
        Assert.True(q.RescaleConv);
        Assert.Equal(RescaleType.Stddev, q.RescaleType);
        Assert.False(q.SwitchBn);
        Assert.True(q.SwitchAlpha);
        Assert.True(q.WeightOnly);
        Assert.True(q.StatsSharing);
        Assert.False(q.Fused);
        Assert.Contains(Sep("weight_centered_act_modified", "switch_alpha_True"), c.ExperimentSetting);
    }
}
