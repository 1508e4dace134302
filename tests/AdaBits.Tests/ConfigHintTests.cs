using AdaBits.Config;

namespace AdaBits.Tests;

/// <summary>The hints of config errors: PyYAML's float spelling, and key synonyms.</summary>
public class ConfigHintTests
{
    const string Minimal = """
        batch_size: 64
        dataset: MNIST
        log_dir: ./results
        model: models.q_mnist_cnn
        lr: 0.1
        lr_scheduler: cos_annealing
        num_epochs: 2
        optimizer: sgd
        bits_list: [8]
        """;

    static string Fails(string yaml, params string[] overrides) =>
        Assert.Throws<ConfigException>(() => ConfigLoader.FromYamlText(yaml, "apps/x.yml", overrides, _ => { })).Message;

    [Theory]
    [InlineData("1.0e8", "1.0e+8")]
    [InlineData("4e-5", "4.0e-5")]
    [InlineData("1E8", "1.0E+8")]
    [InlineData("2.e3", "2.0e+3")]
    public void A_float_pyyaml_reads_as_a_string_gets_its_yaml_1_1_spelling(string given, string fixedText)
    {
        Assert.Equal(fixedText, ConfigHints.YamlFloat(given));
        Assert.Equal($"override 'lr={given}': key 'lr' expects a number, got '{given}' (PyYAML reads YAML 1.1, where a float needs a dot and a signed exponent: write {fixedText})",
            Fails(Minimal, $"lr={given}"));
        // and the spelling suggested is one this loader (as PyYAML) reads as that number
        Assert.Equal(double.Parse(given, System.Globalization.CultureInfo.InvariantCulture),
            ConfigLoader.FromYamlText(Minimal, "apps/x.yml", [$"lr={fixedText}"], _ => { }).BaseLr);
    }

    [Theory]
    [InlineData("learning_rate", "lr")]
    [InlineData("epochs", "num_epochs")]
    [InlineData("batch", "batch_size")]
    [InlineData("seed", "random_seed")]
    [InlineData("num_workers", "data_loader_workers")]
    [InlineData("milestones", "multistep_lr_milestones")]
    public void A_synonym_is_refused_with_the_key_it_means(string synonym, string key)
    {
        Assert.Equal($"apps/x.yml: unknown key '{synonym}' (did you mean '{key}'?)", Fails(Minimal + $"\n{synonym}: 1\n"));
        Assert.True(ConfigKeys.IsKnown(key));
    }

    [Fact]
    public void The_new_fault_keys_are_checked()
    {
        var c = ConfigLoader.FromYamlText(Minimal + "\nnan_policy: skip_step\nnan_max_skips: 4\ncheckpoint_interval_steps: 500\n", "apps/x.yml", null, _ => { });
        Assert.Equal(("skip_step", 4, 500), (c.NanPolicy, c.NanMaxSkips, c.CheckpointIntervalSteps));
        var d = ConfigLoader.FromYamlText(Minimal, "apps/x.yml", null, _ => { });
        Assert.Equal(("stop", 10, 0), (d.NanPolicy, d.NanMaxSkips, d.CheckpointIntervalSteps));
        Assert.Equal("apps/x.yml: key 'nan_policy' must be one of stop, skip_step, got 'ignore'", Fails(Minimal + "\nnan_policy: ignore\n"));
        Assert.Equal("apps/x.yml: key 'nan_max_skips' must be > 0, got 0", Fails(Minimal + "\nnan_max_skips: 0\n"));
        Assert.Equal("apps/x.yml: key 'checkpoint_interval_steps' must be >= 0, got -1", Fails(Minimal + "\ncheckpoint_interval_steps: -1\n"));
        // and they survive config.yml
        Assert.Equal(c, ConfigLoader.FromYamlText(c.ToYaml(), "config.yml", null, _ => { }));
    }
}
