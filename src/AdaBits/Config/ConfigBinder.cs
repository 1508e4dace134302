using AdaBits.Modules;

namespace AdaBits.Config;

/// <summary>
/// Turns the effective key -> value map into a <see cref="TrainConfig"/>: each key of <see cref="ConfigKeys.All"/>
/// checks and sets its own value, then the rules that tie keys together are checked. Each error names where the
/// value came from (the file, or the override) and the key.
/// </summary>
internal sealed class ConfigBinder(IReadOnlyDictionary<string, object?> raw, IReadOnlyDictionary<string, string> origins, string sourceName)
{
    KeyErrors Errors(string key) => new(key, origins.TryGetValue(key, out var o) ? o : sourceName);

    /// <summary>Binds every known key present (absent ones keep the default; lr is the configured one, the
    /// batch-size rule is applied by the loader).</summary>
    public TrainConfig Bind()
    {
        var config = TrainConfig.Defaults with { SourcePath = sourceName };
        foreach (var key in ConfigKeys.All)
        {
            if (!raw.TryGetValue(key.Name, out var value))
            {
                if (key.Required) throw new ConfigException($"{sourceName}: missing required key '{key.Name}'");
                continue;
            }
            if (value is null && key.Required) throw new ConfigException($"{Errors(key.Name).Origin}: required key '{key.Name}' has no value");
            config = key.Bind(config, value, Errors(key.Name));
        }
        CheckScheduler(config);
        CheckTwoStage(config);
        CheckDistill(config);
        CheckAlphaInit(config);
        return config;
    }

    void CheckAlphaInit(TrainConfig c)
    {
        // one shared level cannot hold each bit-width's own optimum: the last bit-width calibrated would win
        if (c.AlphaInit == "mse" && !c.Quant.SwitchAlpha && c.Quant.BitsList.Distinct().Count() > 1)
            throw Errors("alpha_init").Invalid($"'mse' sets one clipping level per bit-width: it needs switch_alpha: True with bits_list {Bits.ListToString(c.Quant.BitsList)}");
    }

    void CheckScheduler(TrainConfig c)
    {
        if (c.LrScheduler.StartsWith("multistep") && !raw.ContainsKey("multistep_lr_milestones"))
            throw new ConfigException($"{sourceName}: missing required key 'multistep_lr_milestones' (needed by lr_scheduler '{c.LrScheduler}')");
        if (c.LrScheduler == "exp_decaying" && c.ExpDecayingLrGamma is null)
            throw new ConfigException($"{sourceName}: missing required key 'exp_decaying_lr_gamma' (needed by lr_scheduler 'exp_decaying')");
    }

    void CheckTwoStage(TrainConfig c)
    {
        if (c.FpPretrainEpochs == 0) return;
        // stage 2 starts from the expanded stage-1 model: a file loaded on top of it would make stage 1 pointless
        var e = Errors("fp_pretrain_epochs");
        if (!string.IsNullOrEmpty(c.FpPretrainedFile))
            throw e.Invalid($"= {c.FpPretrainEpochs} trains the full-precision model itself: it cannot be combined with fp_pretrained_file '{c.FpPretrainedFile}' (set one of them)");
        if (!string.IsNullOrEmpty(c.PretrainedFile))
            throw e.Invalid($"= {c.FpPretrainEpochs} trains the full-precision model itself: it cannot be combined with pretrained_file '{c.PretrainedFile}' (set one of them)");
    }

    void CheckDistill(TrainConfig c)
    {
        if (c.Distill == "none") return;
        var e = Errors("distill");
        var bits = c.Quant.BitsList;
        if (!c.AdaptiveTraining)
            throw e.Invalid($"'{c.Distill}' distils between the bit-widths of the joint step: it needs adaptive_training: True (or distill: none)");
        if (bits.Distinct().Count() < 2)
            throw e.Invalid($"'{c.Distill}' needs at least two bit-widths in bits_list, got {Bits.ListToString(bits)}");
        if (c.Distill == "fp" && !bits.Any(b => b.Weight >= 32 && b.Activation >= 32))
            throw e.Invalid($"'fp' takes the full-precision output as the teacher: bits_list must hold 32, got {Bits.ListToString(bits)} (or use distill: highest)");
    }
}
