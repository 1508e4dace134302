using System.Globalization;
using System.Text;

namespace AdaBits.Config;

/// <summary>Writes a <see cref="TrainConfig"/> as YAML (see <see cref="TrainConfig.ToYaml"/>).</summary>
internal static class ConfigYamlWriter
{
    /// <summary>Every known key with its setting, as YAML-model values, in <see cref="ConfigKeys.Known"/> order.</summary>
    internal static OrderedDictionary<string, object?> Values(TrainConfig c)
    {
        var v = new OrderedDictionary<string, object?>();
        foreach (var key in ConfigKeys.All) v[key.Name] = key.Written(c);
        return v;
    }

    internal static string Write(TrainConfig c)
    {
        var sb = new StringBuilder();
        sb.Append("# AdaBits.NET effective configuration");
        if (c.SourcePath.Length > 0) sb.Append(" (from ").Append(c.SourcePath).Append(')');
        sb.Append('\n');
        sb.Append("# lr is the configured lr, before the batch-size rule (batch_size > 256: lr * batch_size / 256,\n");
        sb.Append("# warmup_epochs 5; else warmup_epochs 0). Effective lr here: ")
          .Append(YamlText.FormatDouble(c.Lr)).Append(", warmup_epochs: ")
          .Append(c.WarmupEpochs.ToString(CultureInfo.InvariantCulture)).Append('\n');
        sb.Append("# experiment setting (").Append(RunFolder.SettingHash(c)).Append("): ").Append(RunFolder.Setting(c)).Append('\n');
        foreach (var (key, value) in Values(c))
            sb.Append(key).Append(": ").Append(YamlText.Format(value)).Append('\n');
        return sb.ToString();
    }
}
