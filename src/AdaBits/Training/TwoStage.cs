using System.Text.Json;
using AdaBits.Config;
using AdaBits.Modules;

namespace AdaBits.Training;

/// <summary>A two-stage run's stage 1 as its run folder's results.json records it: where, how long, its best epoch and validation ("val", as JSON).</summary>
internal sealed record StageSummary(string RunDir, int Epochs, int BestEpoch, string Expanded, string ValJson, double Seconds);

/// <summary>
/// fp_pretrain_epochs: N: the papers' recipe (a full-precision model first, then AdaBits from it) in one run.
/// Stage 1 is an ordinary run of its own in <c>&lt;run folder&gt;/fp_pretrain/</c>: the same config with
/// bits_list [32] (one BN and one clipping level per layer) for N epochs, its lr schedule over those N epochs.
/// Its best model (by validation, as for any run) is then expanded into the adaptive model exactly as
/// fp_pretrained_file expands a file, and stage 2, the run folder itself, trains jointly for num_epochs epochs.
/// A stage-1 folder with results.json is done; until then the run resumes stage 1.
/// </summary>
internal static class TwoStage
{
    /// <summary>The stage-1 folder's name, and the "stage" written in its metrics and results.</summary>
    public const string FpStage = "fp_pretrain";
    /// <summary>The "stage" of the joint stage's metrics and results.</summary>
    public const string JointStage = "joint";

    /// <summary>The stage-1 run: the config at full precision, in runDir/fp_pretrain, for fp_pretrain_epochs epochs.</summary>
    public static TrainConfig StageConfig(TrainConfig config, string runDir) => config with
    {
        Quant = config.Quant with { BitsList = [new Bits(32)] },
        NumEpochs = config.FpPretrainEpochs,
        FpPretrainEpochs = 0,
        Distill = "none",
        AlphaInit = "reference",   // at full precision no activation is quantized: there is no level to calibrate
        RunDirOverride = Path.Combine(runDir, FpStage),
    };

    /// <summary>A finished stage 1, read back from its results.json (what stage 2 records of it).</summary>
    public static StageSummary Read(string stageDir, int epochs)
    {
        string path = Path.Combine(stageDir, RunOutputs.ResultsFile);
        try
        {
            var root = JsonDocument.Parse(File.ReadAllText(path)).RootElement;
            return new StageSummary(FpStage, epochs, root.GetProperty("best_epoch").GetInt32(), Trainer.BestModel,
                root.GetProperty("val").GetRawText(), root.TryGetProperty("seconds", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetDouble() : 0);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: not the results of a finished stage 1 ({e.Message}); move {stageDir} away to train stage 1 again");
        }
    }
}
