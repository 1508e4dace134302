using AdaBits.Kernels;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AdaBits.Quantization;

/// <summary>One single-sided PACT that reads y = relu(s): |alpha| and what it does.</summary>
internal readonly record struct PactReader(float Alpha, PactSpec Spec);

/// <summary>
/// A ReLU whose output feeds one or two single-sided PACT quantizers (a residual block's output read by the
/// next block's first conv and its shortcut conv): y = relu(s) and q_k = PACT_k(y) in one pass, and the
/// backward ds = [y &gt; 0] (dy + sum_k dq_k [y &lt; |alpha_k|]) with each dL/d|alpha_k| in one more.
/// Separately that is a ReLU pass plus one pass per quantizer forward, and as many backward plus the
/// gradient sum for y: about twice the memory traffic.
/// </summary>
internal static unsafe class ReluFanOutKernel
{
    /// <summary>y may be s (in place). q1 is null with one reader.</summary>
    internal static void Forward(float* s, float* y, float* q0, float* q1, long n, PactReader r0, PactReader r1)
    {
        Staircase st0 = r0.Spec.Stairs, st1 = r1.Spec.Stairs;
        ParallelRanges.Run(n, (b, e) =>
        {
            long i = b;
            if (Vector512.IsHardwareAccelerated) i = ForwardRange<V512>(s, y, q0, q1, i, e, r0, st0, r1, st1);
            else if (Vector256.IsHardwareAccelerated) i = ForwardRange<V256>(s, y, q0, q1, i, e, r0, st0, r1, st1);
            ForwardRange<Scalar>(s, y, q0, q1, i, e, r0, st0, r1, st1);
            return 0;
        });
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static long ForwardRange<T>(float* s, float* y, float* q0, float* q1, long i, long end,
        PactReader r0, Staircase st0, PactReader r1, Staircase st1) where T : struct, ISimd<T>
    {
        var zero = T.Splat(0f);
        for (; i + T.Count <= end; i += T.Count)
        {
            var v = T.Max(T.Load(s + i), zero);
            T.Store(v, y + i);
            T.Store(PactKernel.Activate(v, r0.Alpha, r0.Spec, st0), q0 + i);
            if (q1 != null) T.Store(PactKernel.Activate(v, r1.Alpha, r1.Spec, st1), q1 + i);
        }
        return i;
    }

    /// <summary>
    /// Inference only, over NCHW planes: s = scale[c] z + shift[c] (a batch norm in eval mode) plus the residual
    /// (rScale[c] r + rShift[c] for a shortcut's batch norm, r itself where rScale is null, nothing where r is
    /// null), then y = relu(s) written over z and each reader's PACT of y (q0, q1 null where absent). One pass
    /// where the modules take four: batch norm, the add, the ReLU and the fan-out.
    /// </summary>
    internal static void ForwardAffine(float* z, float[] scale, float[] shift, float* r, float[]? rScale, float[]? rShift,
        float* q0, float* q1, long planes, long planeSize, PactReader r0, PactReader r1)
    {
        Staircase st0 = q0 != null ? r0.Spec.Stairs : default, st1 = q1 != null ? r1.Spec.Stairs : default;
        ParallelRanges.RunPlanes(planes, planeSize, scale.Length, (from, to, c) =>
        {
            var plane = new AffinePlane(scale[c], shift[c], rScale?[c] ?? 1f, rShift?[c] ?? 0f, r == null ? 0 : rScale == null ? 1 : 2);
            long i = from;
            if (Vector512.IsHardwareAccelerated) i = AffineRange<V512>(z, r, q0, q1, i, to, plane, r0, st0, r1, st1);
            else if (Vector256.IsHardwareAccelerated) i = AffineRange<V256>(z, r, q0, q1, i, to, plane, r0, st0, r1, st1);
            AffineRange<Scalar>(z, r, q0, q1, i, to, plane, r0, st0, r1, st1);
        });
    }

    /// <summary>One channel's affine maps; Residual: 0 none, 1 r as is, 2 rScale r + rShift.</summary>
    readonly record struct AffinePlane(float Scale, float Shift, float RScale, float RShift, int Residual);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static long AffineRange<T>(float* z, float* r, float* q0, float* q1, long i, long end, AffinePlane plane,
        PactReader r0, Staircase st0, PactReader r1, Staircase st1) where T : struct, ISimd<T>
    {
        var zero = T.Splat(0f);
        var sc = T.Splat(plane.Scale);
        var sh = T.Splat(plane.Shift);
        var rsc = T.Splat(plane.RScale);
        var rsh = T.Splat(plane.RShift);
        for (; i + T.Count <= end; i += T.Count)
        {
            var v = T.Add(T.Mul(T.Load(z + i), sc), sh);
            if (plane.Residual == 1) v = T.Add(v, T.Load(r + i));
            else if (plane.Residual == 2) v = T.Add(v, T.Add(T.Mul(T.Load(r + i), rsc), rsh));
            v = T.Max(v, zero);
            T.Store(v, z + i);
            if (q0 != null) T.Store(PactKernel.Activate(v, r0.Alpha, r0.Spec, st0), q0 + i);
            if (q1 != null) T.Store(PactKernel.Activate(v, r1.Alpha, r1.Spec, st1), q1 + i);
        }
        return i;
    }

    /// <summary>
    /// Writes dL/ds into gs; returns dL/d|alpha| of both readers (the second 0 with one reader, g1 null).
    /// </summary>
    internal static (double, double) Backward(float* s, float* gy, float* g0, float* g1, float* gs, long n, PactReader r0, PactReader r1)
    {
        Staircase st0 = r0.Spec.Stairs, st1 = r1.Spec.Stairs;
        return ParallelRanges.RunPair(n, (b, e) =>
        {
            long i = b;
            double ga0 = 0, ga1 = 0;
            if (Vector512.IsHardwareAccelerated) i = BackwardRange<V512>(s, gy, g0, g1, gs, i, e, r0, st0, r1, st1, ref ga0, ref ga1);
            else if (Vector256.IsHardwareAccelerated) i = BackwardRange<V256>(s, gy, g0, g1, gs, i, e, r0, st0, r1, st1, ref ga0, ref ga1);
            BackwardRange<Scalar>(s, gy, g0, g1, gs, i, e, r0, st0, r1, st1, ref ga0, ref ga1);
            return (ga0, ga1);
        });
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static long BackwardRange<T>(float* s, float* gy, float* g0, float* g1, float* gs, long i, long end,
        PactReader r0, Staircase st0, PactReader r1, Staircase st1, ref double ga0, ref double ga1) where T : struct, ISimd<T>
    {
        var zero = T.Splat(0f);
        var a0 = T.Splat(r0.Alpha);
        var a1 = T.Splat(r1.Alpha);
        var (low0, high0) = PactKernel.ClippedFactors<T>(r0.Spec, st0);
        var (low1, high1) = PactKernel.ClippedFactors<T>(r1.Spec, st1);
        T acc0 = zero, acc1 = zero;
        int inBlock = 0;
        for (; i + T.Count <= end; i += T.Count)
        {
            var y = T.Max(T.Load(s + i), zero);
            var positive = T.Less(zero, y);
            var gv = T.Load(g0 + i);
            var lessA = T.Less(y, a0);
            var inside = T.And(positive, lessA);
            var sum = T.Add(T.Load(gy + i), T.And(inside, gv));
            acc0 = T.Add(acc0, T.Mul(gv, PactKernel.AlphaFactor(y, inside, lessA, a0, low0, high0, r0.Spec, st0)));
            if (g1 != null)
            {
                gv = T.Load(g1 + i);
                lessA = T.Less(y, a1);
                inside = T.And(positive, lessA);
                sum = T.Add(sum, T.And(inside, gv));
                acc1 = T.Add(acc1, T.Mul(gv, PactKernel.AlphaFactor(y, inside, lessA, a1, low1, high1, r1.Spec, st1)));
            }
            T.Store(T.And(positive, sum), gs + i);
            // double flushes as in PactKernel.Backward
            if (++inBlock == 256) { ga0 += T.Sum(acc0); ga1 += T.Sum(acc1); acc0 = acc1 = zero; inBlock = 0; }
        }
        ga0 += T.Sum(acc0);
        ga1 += T.Sum(acc1);
        return i;
    }
}
