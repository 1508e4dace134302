namespace AdaBits.Config;

/// <summary>Hints for the config mistakes people make most: another program's key name, a float PyYAML reads as a string.</summary>
internal static class ConfigHints
{
    /// <summary>Key names of other trainers and of habit, and the key this program reads instead.</summary>
    static readonly Dictionary<string, string> Synonyms = new(StringComparer.OrdinalIgnoreCase)
    {
        ["learning_rate"] = "lr",
        ["base_lr"] = "lr",
        ["epochs"] = "num_epochs",
        ["max_epochs"] = "num_epochs",
        ["n_epochs"] = "num_epochs",
        ["batch"] = "batch_size",
        ["batchsize"] = "batch_size",
        ["bs"] = "batch_size",
        ["seed"] = "random_seed",
        ["workers"] = "data_loader_workers",
        ["num_workers"] = "data_loader_workers",
        ["bits"] = "bits_list",
        ["bit_widths"] = "bits_list",
        ["wd"] = "weight_decay",
        ["scheduler"] = "lr_scheduler",
        ["lr_schedule"] = "lr_scheduler",
        ["milestones"] = "multistep_lr_milestones",
        ["gamma"] = "multistep_lr_gamma",
        ["data_dir"] = "dataset_dir",
        ["data_root"] = "dataset_dir",
        ["output_dir"] = "log_dir",
        ["out_dir"] = "log_dir",
        ["save_dir"] = "log_dir",
        ["arch"] = "model",
        ["optim"] = "optimizer",
        ["classes"] = "num_classes",
    };

    /// <summary>The key this program reads for a common synonym, or null.</summary>
    public static string? Synonym(string key) => Synonyms.TryGetValue(key, out var known) ? known : null;

    /// <summary>
    /// The YAML 1.1 spelling of a number PyYAML reads as a string for want of a dot or an exponent sign:
    /// <c>1.0e8</c> gives <c>1.0e+8</c>, <c>4e-5</c> gives <c>4.0e-5</c>.
    /// </summary>
    public static string YamlFloat(string text)
    {
        int e = text.IndexOfAny(['e', 'E']);
        string mantissa = text[..e], exponent = text[(e + 1)..];
        if (!mantissa.Contains('.')) mantissa += ".0";
        else if (mantissa.EndsWith('.')) mantissa += "0";
        if (exponent[0] is not ('+' or '-')) exponent = "+" + exponent;
        return $"{mantissa}{text[e]}{exponent}";
    }
}
