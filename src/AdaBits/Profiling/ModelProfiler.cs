using System.Diagnostics;
using AdaBits.Graph;
using AdaBits.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Profiling;

/// <summary>
/// The model profiler (reference utils/model_profiling.py, §6): the counts of every layer of the model's lowered
/// graph at the given bits (LayerCounter), and the median wall time of repeated eval forwards of a uniform [0, 1)
/// input. The model's training mode and bits are restored afterwards.
/// </summary>
public static class ModelProfiler
{
    /// <summary>Seed of the profiling input (the counts do not depend on the values, only on the shapes).</summary>
    public const long InputSeed = 0;

    /// <summary>
    /// Profiles the model at `bits` for a batch×channels×height×width input, from its lowered graph (the counts
    /// depend only on the shapes, so no forward runs). QuantizedLayers that the graph at these bits does not
    /// contain (0 bits) are warned about.
    /// </summary>
    public static ModelProfile Profile(nn.Module model, int channels, int height, int width, Bits bits, int batch = 1)
    {
        AsForward(model);
        CheckShape(channels, height, width, batch);
        var graph = GraphBuilder.Build(model, bits, channels, height, width);
        var rows = graph.Nodes.Select(n => LayerCounter.Count(n, batch)).OfType<LayerProfile>().ToList();
        var lowered = graph.Nodes.Where(n => n is ConvNode or LinearNode).Select(n => n.Name).ToHashSet();
        var warnings = model.named_modules().Where(m => m.module is QuantizedLayer && !lowered.Contains(m.name))
            .Select(m => $"{m.name} ({m.module.GetType().Name}) is not in the model's graph at {bits} bits; not counted")
            .ToList();
        return new ModelProfile(bits, batch, channels, height, width, rows, warnings);
    }

    /// <summary>
    /// Median wall time in milliseconds of `repeats` eval forwards (no_grad) of a batch×channels×height×width
    /// input at `bits`, after `warmup` untimed forwards. A measurement: it depends on the machine and its load.
    /// </summary>
    /// <summary>
    /// The profile at every bit-width of a list (the reference's profiling driver), with the latency at
    /// batch 1 and (when `batch` > 1) at `batch` when `latency` is set; `each` sees every result as it is made.
    /// </summary>
    public static List<(ModelProfile Profile, LatencyResult? Latency)> ProfileEach(nn.Module model, IReadOnlyList<Bits> bitsList,
        int channels, int height, int width, int batch, bool latency, int warmup = 2, int repeats = 5,
        Action<ModelProfile, LatencyResult?>? each = null)
    {
        var results = new List<(ModelProfile, LatencyResult?)>();
        foreach (var bits in bitsList)
        {
            var profile = Profile(model, channels, height, width, bits);
            LatencyResult? timing = null;
            if (latency)
            {
                var one = MeasureLatency(model, channels, height, width, bits, 1, warmup, repeats);
                var many = batch > 1 ? MeasureLatency(model, channels, height, width, bits, batch, warmup, repeats) : null;
                timing = new LatencyResult(one.MedianMs, many?.MedianMs, batch, one, many);
            }
            each?.Invoke(profile, timing);
            results.Add((profile, timing));
        }
        return results;
    }

    public static double MeasureLatencyMs(nn.Module model, int channels, int height, int width, Bits bits,
        int batch = 1, int warmup = 2, int repeats = 5) =>
        MeasureLatency(model, channels, height, width, bits, batch, warmup, repeats).MedianMs;

    /// <summary>
    /// Wall times of `repeats` eval forwards (no_grad) at `bits`, measured warm: at least `warmup` untimed
    /// forwards, more until their times settle (see <see cref="LatencyStats.Measure"/>), so the first bit-width
    /// measured does not carry the process's one-time costs.
    /// </summary>
    public static LatencyStats MeasureLatency(nn.Module model, int channels, int height, int width, Bits bits,
        int batch = 1, int warmup = 2, int repeats = 5)
    {
        var net = AsForward(model);
        CheckShape(channels, height, width, batch);
        using var state = new EvalModeScope(model, bits);
        using var grad = no_grad();
        using var x = RandomInput(channels, height, width, batch);
        return LatencyStats.Measure(() =>
        {
            using var scope = NewDisposeScope();
            net.call(x);
        }, warmup, repeats);
    }

    static nn.Module<Tensor, Tensor> AsForward(nn.Module model) => model as nn.Module<Tensor, Tensor>
        ?? throw new ArgumentException($"the profiler needs a module with forward(Tensor) -> Tensor, got {model.GetType().Name}");

    static void CheckShape(int channels, int height, int width, int batch)
    {
        if (channels < 1 || height < 1 || width < 1 || batch < 1)
            throw new ArgumentOutOfRangeException(nameof(channels),
                $"profiling input must be positive, got batch {batch}, {channels}x{height}x{width}");
    }

    static Tensor RandomInput(int channels, int height, int width, int batch)
    {
        using var generator = new Generator((ulong)InputSeed);
        return rand([batch, channels, height, width], generator: generator);
    }
}
