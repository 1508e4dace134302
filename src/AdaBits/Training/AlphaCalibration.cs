using AdaBits.Modules;
using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Training;

/// <summary>
/// alpha_init: mse. Before the first step, each bit-width's clipping level of every quantized layer is set to
/// the one that minimises that layer's activation quantization error (ClipSearch) on one training batch, the
/// layers in forward order so each sees the inputs its already-calibrated predecessors produce. The batch runs
/// as training runs it (batch statistics in BN); the BN running statistics are put back afterwards, so only
/// the clipping levels change.
/// </summary>
internal static class AlphaCalibration
{
    public static readonly IReadOnlyList<string> Modes = ["reference", "mse"];

    /// <summary>Calibrates every bit-width of bitsList on input; returns one line per bit-width (levels set, their range).</summary>
    public static IReadOnlyList<string> Run(nn.Module model, IReadOnlyList<Bits> bitsList, Tensor input)
    {
        var layers = model.modules().OfType<QuantizedLayer>().ToList();
        var before = layers.Count > 0 ? layers[0].Bits : bitsList[^1];
        bool wasTraining = model.training;
        var restoreBuffers = NonFiniteGuard.SnapshotBuffers(model);
        var lines = new List<string>();
        try
        {
            model.train();
            using var _ = no_grad();
            using var unfused = FusionSuppression.Enter();   // every layer's own forward, so each one sees its input
            foreach (var bits in bitsList.Distinct())
            {
                var levels = new List<float>();
                foreach (var layer in layers)
                {
                    var quantizer = layer.LayerOptions.ActivationQuantizer;
                    layer.ClipCalibration = (x, spec) =>
                    {
                        var level = ClipSearch.MinimumMse(x, spec, quantizer);
                        if (level is float l) levels.Add(l);
                        return level;
                    };
                }
                model.SetBits(bits);
                using (var scope = NewDisposeScope()) ((nn.Module<Tensor, Tensor>)model).call(input);
                lines.Add(levels.Count == 0
                    ? $"{bits} bits: no quantized activations"
                    : $"{bits} bits: {levels.Count} clipping levels, {levels.Min():G3} to {levels.Max():G3}");
            }
        }
        finally
        {
            foreach (var layer in layers) layer.ClipCalibration = null;
            restoreBuffers();
            model.train(wasTraining);
            model.SetBits(before);
        }
        return lines;
    }
}
