using static TorchSharp.torch;

namespace AdaBits.Quantization;

/// <summary>
/// The clipping level that minimises an activation quantizer's mean squared error on observed inputs: the
/// start alpha_init: mse gives each bit-width. The reference starts every bit-width at 8.0 (10.0 for linear
/// layers), which at 2 bits puts the levels at 0, 2.7, 5.3 and 8: inputs of unit scale nearly all become 0,
/// and the learned alpha takes most of an epoch to come down.
/// </summary>
internal static class ClipSearch
{
    /// <summary>How many evenly spaced levels in (0, max] are tried.</summary>
    public const int Candidates = 100;

    /// <summary>The most input values the error is measured on (an even stride over the rest).</summary>
    public const long SampleLimit = 1 << 17;

    /// <summary>
    /// The level in (0, max |x|] with the least mean squared error between the quantizer's output and what it
    /// approximates (relu(x) single-sided, x double-sided); null where x holds no positive magnitude.
    /// </summary>
    public static float? MinimumMse(Tensor x, PactSpec spec, IActivationQuantizer quantizer)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var flat = x.detach().flatten();
        long n = flat.numel();
        if (n > SampleLimit) flat = flat[TensorIndex.Slice(0, null, (n + SampleLimit - 1) / SampleLimit)];
        var target = spec.DoubleSide ? flat : nn.functional.relu(flat);
        float max = target.abs().max().item<float>();
        if (!(max > 0) || !float.IsFinite(max)) return null;
        float best = max;
        double bestError = double.PositiveInfinity;
        for (int k = 1; k <= Candidates; k++)
        {
            float level = max * k / Candidates;
            using var a = tensor(level);
            using var y = quantizer.Apply(flat, a, spec, fused: null);
            double error = y.sub_(target).pow_(2).mean().item<float>();
            // strictly lower: ties keep the smaller level, which has the finer steps
            if (error < bestError) (best, bestError) = (level, error);
        }
        return best;
    }
}
