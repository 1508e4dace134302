using System.Globalization;
using System.Text;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Quantization;

namespace AdaBits.Config;

/// <summary>Writes a <see cref="TrainConfig"/> as YAML (see <see cref="TrainConfig.ToYaml"/>).</summary>
internal static class ConfigYamlWriter
{
    /// <summary>Every known key with its setting, as YAML-model values, in <see cref="ConfigKeys.Known"/> order.</summary>
    internal static OrderedDictionary<string, object?> Values(TrainConfig c)
    {
        var v = new OrderedDictionary<string, object?>
        {
            ["batch_size"] = c.BatchSize,
            ["num_gpus_per_job"] = c.NumGpusPerJob,
            ["batch_size_per_gpu"] = c.BatchSizePerGpu,
            ["dataset"] = c.Dataset,
            ["dataset_dir"] = c.DatasetDir,
            ["data_transforms"] = c.DataTransforms,
            ["data_loader"] = c.DataLoader,
            ["data_loader_workers"] = c.DataLoaderWorkers,
            ["bad_images"] = c.BadImages,
            ["drop_last"] = c.DropLast,
            ["normalize"] = c.Normalize,
            ["crop_padding"] = c.CropPadding,
            ["horizontal_flip"] = c.HorizontalFlip,
            ["train_limit"] = c.TrainLimit,
            ["val_limit"] = c.ValLimit,
            ["num_classes"] = c.NumClasses,
            ["image_size"] = c.ImageSize,
            ["topk"] = c.Topk,
            ["test_only"] = c.TestOnly,
            ["random_seed"] = c.RandomSeed,
            ["use_diff_seed"] = c.UseDiffSeed,
            ["stoch_valid"] = c.StochValid,
            ["log_dir"] = c.LogDir,
            ["log_layout"] = c.LogLayout,
            ["run_dir"] = c.RunDirOverride,
            ["model"] = c.Model,
            ["depth"] = c.Depth,
            ["width_mult"] = c.WidthMult,
            ["width_divisor"] = c.WidthDivisor,
            ["min_width"] = c.MinWidth,
            ["reset_parameters"] = c.ResetParameters,
            ["init"] = c.Init.Name(),
            ["profiling"] = c.Profiling,
            ["profiling_only"] = c.ProfilingOnly,
            ["model_profiling_verbose"] = c.ModelProfilingVerbose,
            ["distributed"] = c.Distributed,
            ["distributed_all_reduce"] = c.DistributedAllReduce,
            ["fp_pretrained_file"] = c.FpPretrainedFile,
            ["pretrained_dir"] = c.PretrainedDir,
            ["pretrained_file"] = c.PretrainedFile,
            ["pretrained_model_remap_keys"] = c.PretrainedModelRemapKeys,
            ["device"] = c.Device,
            ["log_interval"] = c.LogInterval,
            ["fused"] = c.Fused,
            ["nan_policy"] = c.NanPolicy,
            ["nan_max_skips"] = c.NanMaxSkips,
            ["checkpoint_interval_steps"] = c.CheckpointIntervalSteps,
            ["optimizer"] = c.Optimizer,
            ["lr"] = c.BaseLr,
            ["momentum"] = c.Momentum,
            ["nesterov"] = c.Nesterov,
            ["weight_decay"] = c.WeightDecay,
            ["optim_decay"] = c.OptimDecay,
            ["optim_eps"] = c.OptimEps,
            ["lr_scheduler"] = c.LrScheduler,
            ["num_epochs"] = c.NumEpochs,
            ["warmup_epochs"] = c.WarmupEpochs,
            ["multistep_lr_milestones"] = c.MultistepLrMilestones,
            ["multistep_lr_gamma"] = c.MultistepLrGamma,
            ["exp_decaying_lr_gamma"] = c.ExpDecayingLrGamma,
            ["exp_decaying_period"] = c.ExpDecayingPeriod,
            ["warm_restart"] = c.WarmRestart,
            ["bits_list"] = c.BitsList,
            ["adaptive_training"] = c.AdaptiveTraining,
            ["weight_only"] = c.WeightOnly,
            ["weight_quant_scheme"] = c.WeightQuantScheme.Name(),
            ["act_quant_scheme"] = c.ActQuantScheme.Name(),
            ["clamp"] = c.Clamp,
            ["rescale"] = c.Rescale,
            ["rescale_conv"] = c.RescaleConv,
            ["rescale_type"] = c.RescaleType == RescaleType.Stddev ? "stddev" : "constant",
            ["switchbn"] = c.SwitchBn,
            ["stats_sharing"] = c.StatsSharing,
            ["switch_alpha"] = c.SwitchAlpha,
            ["pact_fp"] = c.PactFp,
            ["double_side"] = c.DoubleSide,
            ["fp_pretrain_epochs"] = c.FpPretrainEpochs,
            ["distill"] = c.Distill,
            ["distill_weight"] = c.DistillWeight,
            ["distill_temperature"] = c.DistillTemperature,
        };
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
