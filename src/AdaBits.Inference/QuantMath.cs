namespace AdaBits.Inference;

/// <summary>
/// The reference's quantizer written on level indices (spec §2.1-2.4). A weight of b bits is the integer
/// operand w = k - 2^(b-1) (fits a signed byte for b &lt;= 8) plus a constant offset, times a step:
/// value = (w + WeightOffset) * WeightStep. An activation code k (0..2^b-1, a byte) has
/// value = (k + ActivationOffset) * ActivationStep. The offsets are multiples of 1/2, so the engine keeps
/// the offset terms exact with integer correction sums instead of widening the operands.
/// </summary>
internal static class QuantMath
{
    /// <summary>q_k's level index for x in [0, 1], computed in float32 exactly as the reference does.</summary>
    public static int Level(float x, int bits, QuantScheme scheme)
    {
        int top = (1 << bits) - 1;
        if (scheme == QuantScheme.Original)
            return (int)MathF.Round(top * x, MidpointRounding.ToEven);
        int k = (int)MathF.Floor((1 << bits) * x);
        return k > top ? top : k;
    }

    /// <summary>True where code_b = code_B &gt;&gt; (B - b) holds for every x (the floor-based schemes).</summary>
    public static bool Nested(QuantScheme scheme) => scheme != QuantScheme.Original;

    public static float WeightOffset(QuantScheme scheme) => scheme == QuantScheme.Modified ? 0f : 0.5f;

    public static double WeightStep(int bits, QuantScheme scheme) =>
        scheme == QuantScheme.Original ? 2.0 / ((1 << bits) - 1) : 2.0 / (1 << bits);

    public static float ActivationOffset(int bits, QuantScheme scheme, bool doubleSided)
    {
        float centre = scheme == QuantScheme.Centered ? 0.5f : 0f;
        if (!doubleSided) return centre;
        return scheme == QuantScheme.Original ? -((1 << bits) - 1) / 2f : centre - (1 << (bits - 1));
    }

    public static double ActivationStep(float alpha, int bits, QuantScheme scheme, bool doubleSided)
    {
        double levels = scheme == QuantScheme.Original ? (1 << bits) - 1 : 1 << bits;
        return (doubleSided ? 2.0 : 1.0) * Math.Abs(alpha) / levels;
    }

    /// <summary>The PACT quantizer of a layer input (spec §2.4) on one value: its code.</summary>
    public static int ActivationCode(float y, float alpha, int bits, QuantScheme scheme, bool doubleSided)
    {
        alpha = MathF.Abs(alpha);
        if (!doubleSided)
        {
            float c = y > 0 ? y : 0;
            if (c >= alpha) c = alpha;
            return Level(c / alpha, bits, scheme);
        }
        float d = y <= -alpha ? -alpha : y >= alpha ? alpha : y;
        return Level((d / alpha + 1) / 2, bits, scheme);
    }

    /// <summary>
    /// Weight level indices k (0..2^b-1) of a latent float tensor with the reference's per-tensor tanh
    /// normalisation (spec §2.3). For random-weight models and tests; a trained model's codes should come
    /// from the training framework's own tanh so that they match its fake-quant weights bit for bit.
    /// </summary>
    public static byte[] WeightLevels(ReadOnlySpan<float> latent, int bits, QuantScheme scheme)
    {
        if (bits < 1 || bits > 8) throw new ArgumentOutOfRangeException(nameof(bits), bits, "weight bits must be 1..8");
        var t = new float[latent.Length];
        float m = 0;
        for (int i = 0; i < t.Length; i++) { t[i] = MathF.Tanh(latent[i]); m = MathF.Max(m, MathF.Abs(t[i])); }
        var k = new byte[t.Length];
        for (int i = 0; i < t.Length; i++) k[i] = (byte)Level((t[i] / m + 1) / 2, bits, scheme);
        return k;
    }
}
