using AdaBits.Config;

namespace AdaBits.Tests;

/// <summary>Run folders: the short default name, log_layout: reference, run_dir=, and resume across layouts.</summary>
public class RunFolderTests() : TempFolderTests("adabits-runfolder-tests-")
{
    string Yaml(string extra = "") => $"""
        dataset: MNIST
        batch_size: 64
        model: models.q_mnist_cnn
        optimizer: sgd
        lr: 0.05
        lr_scheduler: cos_annealing
        num_epochs: 1
        log_dir: {dir}
        bits_list: [8, 6, 5, 4]
        adaptive_training: True
        {extra}
        """;

    TrainConfig Load(string extra = "", params string[] overrides) =>
        ConfigLoader.FromYamlText(Yaml(extra), "apps/mnist/my run.yml", overrides, _ => { });

    [Fact]
    public void Default_folder_is_one_shell_safe_level_named_after_the_config_and_the_setting()
    {
        var c = Load();
        Assert.Equal(dir, Path.GetDirectoryName(c.RunDir));
        string name = Path.GetFileName(c.RunDir);
        Assert.Matches("^my_run-[0-9a-f]{8}$", name);          // the space of the file name is replaced
        Assert.DoesNotContain(name, ch => ch is ' ' or '[' or ']' or ',');
        // the reference folder of the same setting is the nested one, with spaces and brackets
        Assert.Contains("bits_list_[8, 6, 5, 4]", RunFolder.ReferencePath(c));
        // settings outside the experiment setting (lr, epochs) share the folder, as in the reference; a setting in it does not
        Assert.Equal(c.RunDir, Load("", "lr=0.1", "num_epochs=3").RunDir);
        Assert.NotEqual(c.RunDir, Load("", "bits_list=[8, 4]").RunDir);
        Assert.NotEqual(c.RunDir, Load("", "switch_alpha=True").RunDir);
    }

    [Fact]
    public void Reference_layout_and_run_dir_override()
    {
        var reference = Load("log_layout: reference");
        Assert.Equal(Path.Combine(dir, reference.ExperimentSetting), reference.RunDir);
        string exact = Path.Combine(dir, "exactly-here");
        Assert.Equal(exact, Load("log_layout: reference", $"run_dir={exact}").RunDir);
        var e = Assert.Throws<ConfigException>(() => Load("log_layout: nested"));
        Assert.Contains("log_layout", e.Message);
        Assert.Contains("nested", e.Message);
    }

    [Fact]
    public void A_run_begun_under_the_reference_layout_is_found_until_the_short_folder_has_one()
    {
        var c = Load();
        string shortDir = RunFolder.DefaultPath(c), referenceDir = RunFolder.ReferencePath(c);
        Assert.Equal(shortDir, c.RunDir);
        Directory.CreateDirectory(referenceDir);
        Assert.Equal(shortDir, c.RunDir);                    // an empty old folder is not a run
        File.WriteAllText(Path.Combine(referenceDir, "latest_checkpoint.pt"), "");
        Assert.Equal(referenceDir, c.RunDir);                // resume continues the old run where it is
        Directory.CreateDirectory(shortDir);
        File.WriteAllText(Path.Combine(shortDir, "best_model.pt"), "");
        Assert.Equal(shortDir, c.RunDir);                    // a run in the short folder wins
    }

    [Fact]
    public void Config_yml_records_the_full_setting_and_its_hash()
    {
        var c = Load();
        string yaml = c.ToYaml();
        string hash = Path.GetFileName(c.RunDir)[^8..];
        Assert.Contains($"# experiment setting ({hash}): bits_list_[8, 6, 5, 4]/adaptive_True/", yaml);
        Assert.Contains("log_layout: default\n", yaml);
        var again = ConfigLoader.FromYamlText(yaml, "apps/mnist/my run.yml", null, _ => { });
        Assert.Equal(c.RunDir, again.RunDir);
    }
}
