using AdaBits.Modules;
using AdaBits.Quantization;
using static TorchSharp.torch;

namespace AdaBits.Graph;

/// <summary>
/// A layer's weight at one bit-width as the eval forward uses it. Quantized (1..31 bits): integer codes with
/// weight = Scale * code + Offset elementwise (Scale carries the SAT factor <see cref="WeightScale"/> where the layer
/// scales its weight). The codes are the quantizer's level index k minus the scheme's <see cref="Staircase.CodeShift"/>
/// (`modified`: the signed k - 2^(b-1), Offset 0; `original`, `centered`: the unsigned k). The exact float weight, as
/// the forward has it, is (2 q(k) - 1) * WeightScale with q(k) = <see cref="Staircase.Level"/> (k / a for original,
/// k * (1 / a) for modified, (k + 1/2) * (1 / a) for centered) in float32 in that order: <see cref="Values"/> holds it.
/// Full precision (32 bits and above): Codes is null and Values is the float weight.
/// </summary>
internal sealed record LayerWeight(long[] Dims, int Bits, QuantScheme Scheme, float[] Values, int[]? Codes, float Scale, float Offset,
    float Levels, float WeightScale, double SatScale)
{
    public bool IsQuantized => Codes is not null;

    /// <summary>What the level index k is shifted by to give the codes (0: unsigned codes; <see cref="Staircase.CodeShift"/>).</summary>
    public long CodeShift => IsQuantized ? Scheme.At(Bits).CodeShift : 0;

    /// <summary>The smallest and largest code the scheme can produce at these bits.</summary>
    public (long Min, long Max) CodeRange
    {
        get
        {
            var st = Scheme.At(Bits);
            return (-st.CodeShift, st.LevelCount - 1 - st.CodeShift);
        }
    }

    /// <summary>The codes as sbyte (signed schemes up to 8 bits).</summary>
    public sbyte[] SignedCodes()
    {
        if (Codes is null || CodeRange.Min < sbyte.MinValue || CodeRange.Max > sbyte.MaxValue)
            throw new InvalidOperationException($"{Scheme.Name} {Bits}-bit codes do not fit sbyte");
        return Codes.Select(c => (sbyte)c).ToArray();
    }

    /// <summary>The codes as byte (unsigned schemes up to 8 bits).</summary>
    public byte[] UnsignedCodes()
    {
        if (Codes is null || CodeRange.Min < 0 || CodeRange.Max > byte.MaxValue)
            throw new InvalidOperationException($"{Scheme.Name} {Bits}-bit codes do not fit byte");
        return Codes.Select(c => (byte)c).ToArray();
    }

    /// <summary>
    /// The weight of <paramref name="layer"/> at <paramref name="bitw"/> in eval mode. scaleWeight: whether the
    /// forward multiplies the weight by the SAT factor (convs always do, s = 1 without rescale_conv; the linear
    /// layer's eval forward does not when it rescales, and divides its bias by <see cref="SatScale"/> instead).
    /// </summary>
    internal static LayerWeight Of(QuantizedLayer layer, int bitw, bool scaleWeight)
    {
        using var _ = no_grad();
        long[] dims = layer.weight.shape;
        var scheme = layer.LayerOptions.WeightScheme;
        if (bitw >= 32)
        {
            var (wf, sf) = layer.WeightForExport(bitw, scaleWeight);
            using (wf) return new LayerWeight(dims, bitw, scheme, Floats(wf), null, 1f, 0f, 0f, 1f, sf);
        }
        var (wq, s) = layer.WeightForExport(bitw, applyScale: false);
        float[] w;
        using (wq) w = Floats(wq);
        var st = scheme.At(bitw);
        float a = st.Divisor;
        long levels = st.LevelCount;
        long shift = st.CodeShift;
        float ws = scaleWeight ? (float)s : 1f;
        var codes = new int[w.Length];
        var values = new float[w.Length];
        for (int i = 0; i < w.Length; i++)
        {
            // w = 2 q - 1 with q = (k + offset) / a
            double k = Math.Round((w[i] + 1.0) / 2.0 * a - st.Offset);
            if (k < 0 || k > levels - 1)
                throw new InvalidOperationException($"{layer.GetName()}: weight value {w[i]} is not a level of the {scheme.Name} {bitw}-bit quantizer");
            float q = st.Level((float)k);
            if (MathF.Abs(2f * q - 1f - w[i]) > 1e-6f)
                throw new InvalidOperationException($"{layer.GetName()}: weight value {w[i]} is not a level of the {scheme.Name} {bitw}-bit quantizer");
            codes[i] = (int)(k - shift);
            float unscaled = 2f * q - 1f;
            values[i] = ws == 1f ? unscaled : unscaled * ws;
        }
        float scale = 2f * ws / a;
        // w = (2 / a) (code + shift + offset) - 1: the shift cancels the -1 for symmetric codes
        float offset = shift != 0 ? 0f : st.Offset == 0f ? -ws : (float)(ws * (2.0 * st.Offset - a) / a);
        return new LayerWeight(dims, bitw, scheme, values, codes, scale, offset, a, ws, s);
    }

    static float[] Floats(Tensor t) => t.detach().contiguous().to(CPU).data<float>().ToArray();
}
