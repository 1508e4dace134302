using AdaBits.Inference;

namespace AdaBits.Inference.Tests;

/// <summary>A small network with every engine feature: float head, strided/padded dense convs with channel
/// counts off the 32-lane groups, depthwise, double-sided input, a residual, outputs narrower than 4
/// pixels, pooling and a linear classifier; odd spatial sizes so every border class occurs.</summary>
internal static class TestNets
{
    /// <param name="actBits">Activation bits per slot where they differ from the weights' (bits).</param>
    /// <param name="mixedSigns">BN scales of either sign, and one channel's zero (the affine decreasing or constant in the sum).</param>
    /// <param name="headChannels">Output channels of the float head (8: part of one 16-lane group; 40: two whole groups and part of one).</param>
    public static ModelSpec Small(QuantScheme w, QuantScheme a, int[] bits, int seed = 7, bool doubleSided = true, int[]? actBits = null, bool mixedSigns = false,
        int headChannels = 8, int width = 40)
    {
        var rng = new Random(seed);
        float[] PerSlot(double lo, double hi) => bits.Select(_ => (float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
        float[][] PerChannel(int c, double lo, double hi) => bits.Select(_ => Enumerable.Range(0, c).Select(_ => (float)(lo + (hi - lo) * rng.NextDouble())).ToArray()).ToArray();
        Dictionary<int, byte[]> Levels(int n, int[] wb)
        {
            var latent = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            return (QuantMath.Nested(w) ? [wb.Max()] : wb.Distinct()).ToDictionary(b => b, b => QuantMath.WeightLevels(latent, b, w));
        }
        float[][] Signs(float[][] scales)
        {
            if (mixedSigns)
                foreach (var slot in scales)
                    for (int c = 0; c < slot.Length; c++) slot[c] = c == 1 ? 0 : rng.Next(2) == 0 ? -slot[c] : slot[c];
            return scales;
        }
        ActivationSpec Q(bool ds = false) => new(a, ds, PerSlot(1.5, 6), actBits ?? bits);
        LayerSpec Conv(string name, int input, int output, int cin, int cout, int k, int s, int p, bool relu, ActivationSpec? q,
            int groups = 1, int residual = -1, double gain = 1)
        {
            int fan = cin / groups * k * k;
            double g = gain * 6 / Math.Sqrt(fan) / (q is null ? 1 : 2.5);
            return new LayerSpec
            {
                Op = LayerOp.Conv2d, Name = name, Input = input, Output = output, Residual = residual, Relu = relu,
                InChannels = cin, OutChannels = cout, KernelH = k, KernelW = k, StrideH = s, StrideW = s, PadH = p, PadW = p, Groups = groups,
                WeightScheme = w, WeightBits = bits, WeightLevels = Levels(cout * fan, bits), SatScale = PerSlot(0.6, 1.4),
                BnScale = Signs(PerChannel(cout, 0.5 * g, 1.5 * g)), BnShift = PerChannel(cout, -1, 2), InputQuant = q,
            };
        }
        var layers = new List<LayerSpec>
        {
            Conv("head", 0, 1, 3, headChannels, 3, 1, 1, relu: true, q: null),
            Conv("c1", 1, 2, headChannels, width, 3, 2, 1, relu: true, q: Q()),
            Conv("dw", 2, 3, width, width, 3, 1, 1, relu: true, q: Q(), groups: width),
            Conv("pw", 3, 4, width, width, 1, 1, 0, relu: true, q: Q(), residual: 2),
            Conv("signed", 4, 5, width, 36, 3, 2, 1, relu: false, q: Q(doubleSided)),
            Conv("narrow", 5, 6, 36, 20, 3, 2, 1, relu: true, q: Q(doubleSided)),
            Conv("dw2", 6, 7, 20, 20, 3, 2, 1, relu: true, q: Q(), groups: 20),
            new() { Op = LayerOp.GlobalAvgPool, Name = "pool", Input = 7, Output = 8 },
            new()
            {
                Op = LayerOp.Linear, Name = "fc", Input = 8, Output = 9, InChannels = 20, OutChannels = 10, WeightScheme = w,
                WeightBits = bits.Select(_ => bits.Max()).ToArray(), WeightLevels = Levels(200, bits.Select(_ => bits.Max()).ToArray()),
                SatScale = bits.Select(_ => 1f).ToArray(), Bias = Enumerable.Range(0, 10).Select(i => i * 0.1f - 0.4f).ToArray(),
                BiasDivisor = PerSlot(0.1, 0.3), InputQuant = new ActivationSpec(a, false, PerSlot(1, 3), actBits ?? bits),
            },
        };
        return new ModelSpec { BitsList = bits, InputChannels = 3, InputHeight = 13, InputWidth = 11, Layers = layers };
    }

    public static float[] Images(int n, int c, int h, int w, int seed = 3)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n * c * h * w).Select(_ => (float)(rng.NextDouble() * 2 - 0.5)).ToArray();
    }

    public static float[] Run(InferenceModel model, int bits, float[] images, int batch)
    {
        using var s = model.CreateSession(batch);
        s.SetBits(bits);
        var logits = new float[batch * model.OutputsPerImage];
        s.Run(images, logits);
        return logits;
    }
}
