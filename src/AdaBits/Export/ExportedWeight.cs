using AdaBits.Modules;
using AdaBits.Quantization;
using static TorchSharp.torch;

namespace AdaBits.Export;

/// <summary>
/// A layer's weight at one bit-width as the exporter stores it. Quantized (1..31 bits): integer codes k with
/// weight = Scale * k + Offset, elementwise, where Scale carries the SAT factor (<see cref="WeightScale"/>) when
/// the layer scales its weight. The codes are the quantizer's level index: for `modified` the signed
/// k - 2^(b-1) (Offset 0: a plain symmetric DequantizeLinear, exact in float), for `original` and `centered` the
/// unsigned level index (their levels have no integer zero point; the exporter turns the codes into the weight
/// with the quantizer's own float operations, so the values are bit-identical to the TorchSharp forward).
/// Full precision (32 bits and above): the float weight as the forward uses it.
/// </summary>
public sealed record ExportedWeight(long[] Dims, float[]? FloatValues, int[]? Codes, OnnxDataType CodeType, float Scale, float Offset,
    double SatScale, QuantScheme Scheme = QuantScheme.Modified, float Levels = 0, float WeightScale = 1)
{
    public bool IsQuantized => Codes is not null;

    /// <summary>
    /// The weight of <paramref name="layer"/> at <paramref name="bitw"/> in eval mode. scaleWeight: whether the
    /// forward multiplies the weight by the SAT factor (convs always do, s = 1 without rescale_conv; the linear
    /// layer's eval forward does not when it rescales, and divides its bias by <see cref="SatScale"/> instead).
    /// </summary>
    internal static ExportedWeight Of(QuantizedLayer layer, int bitw, bool scaleWeight)
    {
        using var _ = no_grad();
        long[] dims = layer.weight.shape;
        if (bitw >= 32)
        {
            var (wf, sf) = layer.WeightForExport(bitw, scaleWeight);
            using (wf) return new ExportedWeight(dims, Values(wf), null, OnnxDataType.Float, 1f, 0f, sf);
        }
        var scheme = layer.LayerOptions.WeightScheme;
        var (wq, s) = layer.WeightForExport(bitw, applyScale: false);
        float[] w;
        using (wq) w = Values(wq);
        float a = QuantSchemes.Divisor(scheme, bitw);
        long levels = 1L << bitw;
        long half = levels / 2;
        var codes = new int[w.Length];
        for (int i = 0; i < w.Length; i++)
        {
            // w = 2 q - 1 with q = k / a (original, modified) or (k + 1/2) / a (centered)
            double k = Math.Round((w[i] + 1.0) / 2.0 * a - (scheme == QuantScheme.Centered ? 0.5 : 0.0));
            if (k < 0 || k > levels - 1)
                throw new InvalidOperationException($"weight value {w[i]} is not a level of the {scheme.Name()} {bitw}-bit quantizer");
            float q = scheme switch
            {
                QuantScheme.Original => (float)k / a,
                QuantScheme.Modified => (float)k * (1f / a),
                _ => ((float)k + 0.5f) * (1f / a),
            };
            if (MathF.Abs(2f * q - 1f - w[i]) > 1e-6f)
                throw new InvalidOperationException($"weight value {w[i]} is not a level of the {scheme.Name()} {bitw}-bit quantizer");
            codes[i] = scheme == QuantScheme.Modified ? (int)(k - half) : (int)k;
        }
        float ws = scaleWeight ? (float)s : 1f;
        var type = scheme == QuantScheme.Modified
            ? OnnxDataTypes.IntegerFor(-half, half - 1)
            : OnnxDataTypes.IntegerFor(0, levels - 1);
        float scale = 2f * ws / a;
        float offset = scheme switch
        {
            QuantScheme.Original => -ws,
            QuantScheme.Modified => 0f,
            _ => (float)(ws * (1.0 - a) / a),
        };
        return new ExportedWeight(dims, null, codes, type, scale, offset, s, scheme, a, ws);
    }

    static float[] Values(Tensor t) => t.detach().contiguous().to(CPU).data<float>().ToArray();
}
