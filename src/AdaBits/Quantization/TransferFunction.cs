using System.Globalization;
using System.Text;

namespace AdaBits.Quantization;

internal enum QuantView { Activation, Weight }

/// <summary>
/// The quantizer's transfer function sampled for display: activation view q(x) on [0, 1], weight view
/// 2 q((x + 1) / 2) - 1 on [-1, 1] (what the reference's scheme plots show).
/// </summary>
internal sealed record TransferFunction(int Bits, QuantView View, float[] X, IReadOnlyDictionary<QuantScheme, float[]> Y)
{
    public const int DefaultSamples = 1001;

    public static TransferFunction Sample(int bits, QuantView view, int samples = DefaultSamples)
    {
        QuantSchemes.CheckBits(bits);
        if (samples < 2) throw new ArgumentOutOfRangeException(nameof(samples), "need at least two samples");
        var x = new float[samples];
        var y = QuantSchemes.All.ToDictionary(s => s, _ => new float[samples]);
        for (int i = 0; i < samples; i++)
        {
            double f = (double)i / (samples - 1);
            x[i] = view == QuantView.Activation ? (float)f : (float)(-1 + 2 * f);
            foreach (var s in QuantSchemes.All)
                y[s][i] = view == QuantView.Activation
                    ? s.Quantize(x[i], bits)
                    : 2f * s.Quantize((x[i] + 1f) / 2f, bits) - 1f;
        }
        return new TransferFunction(bits, view, x, y);
    }

    /// <summary>Header `x,original,modified,centered`, one row per sample.</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder("x," + string.Join(",", QuantSchemes.All.Select(s => s.Name)) + "\n");
        for (int i = 0; i < X.Length; i++)
        {
            sb.Append(X[i].ToString("R", CultureInfo.InvariantCulture));
            foreach (var s in QuantSchemes.All) sb.Append(',').Append(Y[s][i].ToString("R", CultureInfo.InvariantCulture));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The distinct output levels of one scheme, ascending.</summary>
    public float[] Levels(QuantScheme s) => Y[s].Distinct().Order().ToArray();
}
