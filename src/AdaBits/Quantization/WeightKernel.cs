using AdaBits.Kernels;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AdaBits.Quantization;

/// <summary>
/// The SAT weight transform after tanh, fused: u = t / max|t|, then (quantized) 2 q((u + 1) / 2) - 1,
/// with the sums that the unbiased std of the result needs; and the backward through the global max.
/// </summary>
internal static unsafe class WeightKernel
{
    internal static float MaxAbs(float* t, long n)
    {
        long i = 0;
        float m = 0f;
        if (Vector512.IsHardwareAccelerated) i = MaxAbsRange<V512>(t, n, ref m);
        else if (Vector256.IsHardwareAccelerated) i = MaxAbsRange<V256>(t, n, ref m);
        for (; i < n; i++) m = MathF.Max(m, MathF.Abs(t[i]));
        return m;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static long MaxAbsRange<T>(float* t, long n, ref float m) where T : struct, ISimd<T>
    {
        var acc = T.Splat(0f);
        long i = 0;
        for (; i + T.Count <= n; i += T.Count) acc = T.Max(acc, T.Abs(T.Load(t + i)));
        m = MathF.Max(m, T.MaxAcross(acc));
        return i;
    }

    /// <summary>Writes the transformed weight into w; returns (sum, sum of squares) of w for the std.</summary>
    internal static (double Sum, double SumSq) Forward(float* t, float* w, long n, float m, Staircase? stairs)
    {
        double sum = 0, sumSq = 0;
        long i = 0;
        if (Vector512.IsHardwareAccelerated) i = ForwardRange<V512>(t, w, i, n, m, stairs, ref sum, ref sumSq);
        else if (Vector256.IsHardwareAccelerated) i = ForwardRange<V256>(t, w, i, n, m, stairs, ref sum, ref sumSq);
        ForwardRange<Scalar>(t, w, i, n, m, stairs, ref sum, ref sumSq);
        return (sum, sumSq);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static long ForwardRange<T>(float* t, float* w, long i, long n, float m, Staircase? stairs, ref double sum, ref double sumSq)
        where T : struct, ISimd<T>
    {
        var mv = T.Splat(m);
        var one = T.Splat(1f);
        var half = T.Splat(0.5f);
        var two = T.Splat(2f);
        var s = T.Splat(0f);
        var s2 = T.Splat(0f);
        bool quantize = stairs.HasValue;
        var st = stairs.GetValueOrDefault();
        int inBlock = 0;
        for (; i + T.Count <= n; i += T.Count)
        {
            var u = T.Div(T.Load(t + i), mv);
            var wv = quantize ? T.Sub(T.Mul(two, st.Apply(T.Mul(T.Add(u, one), half))), one) : u;
            T.Store(wv, w + i);
            s = T.Add(s, wv);
            s2 = T.Add(s2, T.Mul(wv, wv));
            // Flush the float lane sums to double every 16 vectors: summed over a whole large weight they
            // drifted and the SAT scale s = sigma* / std came out 1e-4 off at 1M elements (blocks of 256
            // still left 1e-6; 16 matches torch's std to float rounding).
            if (++inBlock == 16)
            {
                sum += T.Sum(s);
                sumSq += T.Sum(s2);
                s = T.Splat(0f);
                s2 = T.Splat(0f);
                inBlock = 0;
            }
        }
        sum += T.Sum(s);
        sumSq += T.Sum(s2);
        return i;
    }

    internal static void Scale(float* w, long n, float s)
    {
        long i = 0;
        if (Vector512.IsHardwareAccelerated) i = ScaleRange<V512>(w, n, s);
        else if (Vector256.IsHardwareAccelerated) i = ScaleRange<V256>(w, n, s);
        ScaleRange<Scalar>(w + i, n - i, s);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static long ScaleRange<T>(float* w, long n, float s) where T : struct, ISimd<T>
    {
        var sv = T.Splat(s);
        long i = 0;
        for (; i + T.Count <= n; i += T.Count) T.Store(T.Mul(T.Load(w + i), sv), w + i);
        return i;
    }

    /// <summary>
    /// dL/dW from dL/dw_final: the straight-through quantizer and the affine maps pass gs = g * scale; then
    /// u = t / m with m = max|t| kept in the graph (the gradient through m is split evenly among ties, as
    /// libtorch's full max reduction does), then tanh's (1 - t^2).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal static void Backward(float* g, float* t, float* gw, long n, float m, float scale)
    {
        double dot = 0;
        long ties = 0;
        for (long i = 0; i < n; i++)
        {
            dot += (double)(g[i] * scale) * t[i];
            if (MathF.Abs(t[i]) == m) ties++;
        }
        float gradM = (float)(-dot / ((double)m * m));
        float perTie = ties > 0 ? gradM / ties : 0f;
        long k = 0;
        if (Vector512.IsHardwareAccelerated) k = BackwardRange<V512>(g, t, gw, n, m, scale, perTie);
        else if (Vector256.IsHardwareAccelerated) k = BackwardRange<V256>(g, t, gw, n, m, scale, perTie);
        BackwardRange<Scalar>(g + k, t + k, gw + k, n - k, m, scale, perTie);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static long BackwardRange<T>(float* g, float* t, float* gw, long n, float m, float scale, float perTie)
        where T : struct, ISimd<T>
    {
        var mv = T.Splat(m);
        var sv = T.Splat(scale);
        var one = T.Splat(1f);
        var zero = T.Splat(0f);
        var tie = T.Splat(perTie);
        var negTie = T.Splat(-perTie);
        long i = 0;
        for (; i + T.Count <= n; i += T.Count)
        {
            var tv = T.Load(t + i);
            var gt = T.Div(T.Mul(T.Load(g + i), sv), mv);
            var isMax = T.Equal(T.Abs(tv), mv);
            // sign(t) * gradM / ties at the arg-max positions
            var maxTerm = T.And(isMax, T.Select(T.Less(tv, zero), negTie, tie));
            gt = T.Add(gt, maxTerm);
            T.Store(T.Mul(gt, T.Sub(one, T.Mul(tv, tv))), gw + i);
        }
        return i;
    }
}
