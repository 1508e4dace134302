using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// Independent reference formulas of the spec (§2.1), written out in double precision, and small tensor helpers.
/// </summary>
internal static class Ref
{
    /// <summary>q_k(x): original round-half-even(a x)/a with a = 2^b - 1; modified min(floor(a x), a-1)/a and
    /// centered (min(floor(a x), a-1) + 1/2)/a with a = 2^b.</summary>
    public static double Q(double x, int bits, QuantScheme scheme)
    {
        switch (scheme.Name)
        {
            case "original":
            {
                double a = Math.Pow(2, bits) - 1;
                return Math.Round(a * x, MidpointRounding.ToEven) / a;
            }
            case "modified":
            {
                double a = Math.Pow(2, bits);
                return Math.Min(Math.Floor(a * x), a - 1) / a;
            }
            default:
            {
                double a = Math.Pow(2, bits);
                return (Math.Min(Math.Floor(a * x), a - 1) + 0.5) / a;
            }
        }
    }

    public static float[] F(Tensor t) => t.detach().contiguous().to_type(ScalarType.Float32).data<float>().ToArray();
    public static double[] D(Tensor t) => t.detach().contiguous().to_type(ScalarType.Float64).data<double>().ToArray();

    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var d = (a.detach().to_type(ScalarType.Float64) - b.detach().to_type(ScalarType.Float64)).abs().max();
        return d.item<double>();
    }

    public static double MaxAbs(Tensor a)
    {
        using var m = a.detach().to_type(ScalarType.Float64).abs().max();
        return m.item<double>();
    }

    public static Tensor Scalar(float v, bool requiresGrad = true) => tensor(v, requires_grad: requiresGrad);
}
