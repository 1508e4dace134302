using AdaBits.Kernels;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AdaBits.Quantization;

/// <summary>What one PACT activation quantizer does (reference §2.4).</summary>
internal readonly record struct PactSpec(bool DoubleSide, bool Quantize, QuantScheme Scheme, int Bits)
{
    internal Staircase Stairs => Quantize ? Scheme.At(Bits) : default;
}

/// <summary>
/// PACT clipping and quantization in one pass over the activations, and its backward in one more:
/// the naive graph is about ten tensor ops forward and as many backward. Float32 operation order
/// follows the reference's torch ops, so outputs equal the plain-torch path.
/// </summary>
internal static unsafe class PactKernel
{
    internal static void Forward(float* x, float* y, long n, float alpha, PactSpec spec)
    {
        var stairs = spec.Stairs;
        ParallelRanges.Run(n, (s, e) =>
        {
            long i = s;
            if (Vector512.IsHardwareAccelerated) i = ForwardRange<V512>(x, y, i, e, alpha, spec, stairs);
            else if (Vector256.IsHardwareAccelerated) i = ForwardRange<V256>(x, y, i, e, alpha, spec, stairs);
            ForwardRange<Scalar>(x, y, i, e, alpha, spec, stairs);
            return 0;
        });
    }

    /// <summary>Writes dL/dx into gx and returns dL/d|alpha|.</summary>
    internal static double Backward(float* x, float* g, float* gx, long n, float alpha, PactSpec spec)
    {
        var stairs = spec.Stairs;
        return ParallelRanges.Run(n, (s, e) =>
        {
            long i = s;
            double ga = 0;
            if (Vector512.IsHardwareAccelerated) i = BackwardRange<V512>(x, g, gx, i, e, alpha, spec, stairs, ref ga);
            else if (Vector256.IsHardwareAccelerated) i = BackwardRange<V256>(x, g, gx, i, e, alpha, spec, stairs, ref ga);
            BackwardRange<Scalar>(x, g, gx, i, e, alpha, spec, stairs, ref ga);
            return ga;
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static T Clip<T>(T xv, T a, T negA, bool doubleSide) where T : struct, ISimd<T> =>
        doubleSide
            ? T.Select(T.LessOrEqual(xv, negA), negA, T.Select(T.Less(xv, a), xv, a))
            : T.Min(T.Max(xv, T.Splat(0f)), a); // min(relu(x), a): equal values to the reference's where(x < a, relu(x), a)

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static long ForwardRange<T>(float* x, float* y, long i, long end, float alpha, PactSpec spec, Staircase stairs)
        where T : struct, ISimd<T>
    {
        for (; i + T.Count <= end; i += T.Count)
            T.Store(Activate(T.Load(x + i), alpha, spec, stairs), y + i);
        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static T Activate<T>(T xv, float alpha, PactSpec spec, Staircase stairs) where T : struct, ISimd<T>
    {
        var a = T.Splat(alpha);
        var c = Clip(xv, a, T.Splat(-alpha), spec.DoubleSide);
        if (!spec.Quantize) return c;
        if (!spec.DoubleSide) return T.Mul(stairs.Apply(T.Div(c, a)), a);
        var one = T.Splat(1f);
        return T.Mul(a, T.Sub(T.Mul(T.Splat(2f), stairs.Apply(T.Mul(T.Add(T.Div(c, a), one), T.Splat(0.5f)))), one));
    }

    /// <summary>
    /// Inference only: a per-channel affine map (a batch norm in eval mode) followed by PACT, in place over
    /// NCHW planes. Replaces three passes (BN, ReLU, PACT) by one where the BN output feeds only the quantizer.
    /// </summary>
    internal static void ForwardAffine(float* x, long planes, long planeSize, float[] scale, float[] shift, float alpha, PactSpec spec)
    {
        var stairs = spec.Stairs;
        ParallelRanges.RunPlanes(planes, planeSize, scale.Length, (from, to, c) =>
        {
            long i = from;
            if (Vector512.IsHardwareAccelerated) i = AffineRange<V512>(x, i, to, scale[c], shift[c], alpha, spec, stairs);
            else if (Vector256.IsHardwareAccelerated) i = AffineRange<V256>(x, i, to, scale[c], shift[c], alpha, spec, stairs);
            AffineRange<Scalar>(x, i, to, scale[c], shift[c], alpha, spec, stairs);
        });
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static long AffineRange<T>(float* x, long i, long end, float scale, float shift, float alpha, PactSpec spec, Staircase stairs)
        where T : struct, ISimd<T>
    {
        var sc = T.Splat(scale);
        var sh = T.Splat(shift);
        for (; i + T.Count <= end; i += T.Count)
            T.Store(Activate(T.Add(T.Mul(T.Load(x + i), sc), sh), alpha, spec, stairs), x + i);
        return i;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static long BackwardRange<T>(float* x, float* g, float* gx, long i, long end, float alpha, PactSpec spec,
        Staircase stairs, ref double gaTotal) where T : struct, ISimd<T>
    {
        var a = T.Splat(alpha);
        var negA = T.Splat(-alpha);
        var zero = T.Splat(0f);
        var (low, high) = ClippedFactors<T>(spec, stairs);
        var acc = zero;
        int inBlock = 0;
        for (; i + T.Count <= end; i += T.Count)
        {
            var xv = T.Load(x + i);
            var gv = T.Load(g + i);
            var below = spec.DoubleSide ? T.Less(negA, xv) : T.Less(zero, xv);
            var lessA = T.Less(xv, a);
            var inside = T.And(below, lessA);
            T.Store(T.And(inside, gv), gx + i);
            acc = T.Add(acc, T.Mul(gv, AlphaFactor(xv, inside, lessA, a, low, high, spec, stairs)));
            // Flush lane sums to double now and then: float accumulation over millions of elements drifts.
            if (++inBlock == 256) { gaTotal += T.Sum(acc); acc = zero; inBlock = 0; }
        }
        gaTotal += T.Sum(acc);
        return i;
    }

    /// <summary>d y / d|alpha| where x is clipped below and above: Q(0), Q(1) (or their 2Q - 1 double-sided forms).</summary>
    internal static (T Low, T High) ClippedFactors<T>(PactSpec spec, Staircase stairs) where T : struct, ISimd<T>
    {
        float low = spec.Quantize ? (spec.DoubleSide ? 2f * stairs.Q0 - 1f : stairs.Q0) : (spec.DoubleSide ? -1f : 0f);
        float high = spec.Quantize ? (spec.DoubleSide ? 2f * stairs.Q1 - 1f : stairs.Q1) : 1f;
        return (T.Splat(low), T.Splat(high));
    }

    /// <summary>d y / d|alpha| per element (reference §2.4): q(u) - u inside the clip range, Low / High outside.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static T AlphaFactor<T>(T xv, T inside, T lessA, T a, T low, T high, PactSpec spec, Staircase stairs)
        where T : struct, ISimd<T>
    {
        T inner;
        if (!spec.Quantize) inner = T.Splat(0f);
        else
        {
            var u = T.Div(T.Select(inside, xv, T.Splat(0f)), a);
            var one = T.Splat(1f);
            inner = spec.DoubleSide
                ? T.Sub(T.Sub(T.Mul(T.Splat(2f), stairs.ApplyNear(T.Mul(T.Add(u, one), T.Splat(0.5f)))), one), u)
                : T.Sub(stairs.ApplyNear(u), u);
        }
        return T.Select(inside, inner, T.Select(lessA, low, high));
    }
}
