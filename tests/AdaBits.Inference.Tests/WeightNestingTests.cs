using AdaBits.Inference;

namespace AdaBits.Inference.Tests;

public class WeightNestingTests
{
    static float[] Latent(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() - 0.5) * 6)).ToArray();
    }

    [Theory]
    [InlineData(QuantScheme.Modified)]
    [InlineData(QuantScheme.Centered)]
    public void Floor_schemes_nest_exactly_with_shared_tanh(QuantScheme scheme)
    {
        var w = Latent(20000, 1);
        w[17] = 40f; // tanh(w) = 1 exactly: the max element maps to x = 1, the clamped top level
        var top = QuantMath.WeightLevels(w, 8, scheme);
        foreach (int b in new[] { 7, 6, 5, 4, 3, 2, 1 })
        {
            var direct = QuantMath.WeightLevels(w, b, scheme);
            for (int i = 0; i < w.Length; i++) Assert.Equal(direct[i], (byte)(top[i] >> (8 - b)));
        }
    }

    [Fact]
    public void Original_rounds_so_it_does_not_nest_and_is_stored_per_bit()
    {
        var w = Latent(20000, 2);
        var top = QuantMath.WeightLevels(w, 8, QuantScheme.Original);
        var four = QuantMath.WeightLevels(w, 4, QuantScheme.Original);
        int differ = Enumerable.Range(0, w.Length).Count(i => four[i] != top[i] >> 4);
        Assert.True(differ > 1000, $"only {differ} differ");
        Assert.False(QuantMath.Nested(QuantScheme.Original));
    }

    [Theory]
    [InlineData(QuantScheme.Modified)]
    [InlineData(QuantScheme.Centered)]
    [InlineData(QuantScheme.Original)]
    public void Operands_at_each_bit_width_equal_the_levels_quantized_directly(QuantScheme scheme)
    {
        int[] bits = [8, 6, 5, 4, 3, 2];
        var spec = TestNets.Small(scheme, QuantScheme.Original, bits);
        var layer = spec.Layers[1];
        // the same latents the test net drew, rebuilt at every bit-width through the engine's read path
        for (int s = 0; s < bits.Length; s++)
        {
            var ops = InferenceModel.OperandsOihw(layer, s);
            byte[] levels = QuantMath.Nested(scheme) ? layer.WeightLevels[8].Select(k => (byte)(k >> (8 - bits[s]))).ToArray() : layer.WeightLevels[bits[s]];
            for (int i = 0; i < ops.Length; i++) Assert.Equal(levels[i] - (1 << (bits[s] - 1)), ops[i]);
        }
    }

    [Fact]
    public void Signed_operands_times_their_step_are_the_reference_weight_values()
    {
        // Wq = 2 q - 1 from the reference's staircase, against (w + offset) x step, by hand at 2 bits
        foreach (var scheme in new[] { QuantScheme.Original, QuantScheme.Modified, QuantScheme.Centered })
            for (int k = 0; k < 4; k++)
            {
                double q = scheme switch { QuantScheme.Original => k / 3.0, QuantScheme.Modified => k / 4.0, _ => (k + 0.5) / 4 };
                double value = (k - 2 + QuantMath.WeightOffset(scheme)) * QuantMath.WeightStep(2, scheme);
                Assert.Equal(2 * q - 1, value, 12);
            }
        // centered 8-bit levels are odd multiples of 1/256 up to 255/256: beyond a signed byte, kept as w + 1/2
        Assert.Equal(255.0 / 256, (255 - 128 + 0.5) * QuantMath.WeightStep(8, QuantScheme.Centered), 12);
    }

    [Fact]
    public void Activation_levels_by_hand()
    {
        // alpha 2, 2 bits: original levels {0, 2/3, 4/3, 2}; modified {0, .5, 1, 1.5}; centered {.25, .75, 1.25, 1.75}
        Assert.Equal(2, QuantMath.ActivationCode(1.0f, 2f, 2, QuantScheme.Original, false)); // 1.5 rounds to even 2
        Assert.Equal(2, QuantMath.ActivationCode(1.2f, 2f, 2, QuantScheme.Modified, false));
        Assert.Equal(3, QuantMath.ActivationCode(5f, 2f, 2, QuantScheme.Centered, false));
        Assert.Equal(0, QuantMath.ActivationCode(-5f, 2f, 2, QuantScheme.Centered, false));
        Assert.Equal(1.25, (2 + QuantMath.ActivationOffset(2, QuantScheme.Centered, false)) * QuantMath.ActivationStep(2f, 2, QuantScheme.Centered, false), 12);
        // double-sided centered: alpha (2 q - 1), q = (k + 1/2) / 4: k = 0 -> -1.5 at alpha 2
        Assert.Equal(-1.5, (0 + QuantMath.ActivationOffset(2, QuantScheme.Centered, true)) * QuantMath.ActivationStep(2f, 2, QuantScheme.Centered, true), 12);
        Assert.Equal(0, QuantMath.ActivationCode(-7f, 2f, 2, QuantScheme.Centered, true));
    }
}
