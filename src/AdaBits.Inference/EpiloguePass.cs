using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AdaBits.Inference;

/// <summary>
/// The streams of one fused-epilogue pass over a tile's pixels, each a pointer at the tile's first pixel:
/// Acc (AccStride ints a pixel), or FloatAcc (AccStride floats a pixel: the float head's sums, which take
/// the affine as they are), Sum x Times (SumStride ints a pixel, or null), Adds (an int a pixel, or null),
/// the pixel's constants CstRow + ColCls[p] x CstStride (CstRow itself where ColCls is null), the residual
/// Res and the float output Dst (PixelFloats a pixel, or null), the codes (PixelBytes a pixel, or null).
/// Full: the channels of the vector loop, a multiple of 16. Theta (or null): the codes from the integer sums
/// by <see cref="IntThresholds"/>, at the tile's row class and first channel, ThetaStride ints a column
/// class, ThetaPlane a threshold, with Flip per channel; then neither floats, residual nor float sums.
/// </summary>
internal unsafe struct EpilogueStreams
{
    public int* Acc, Sum, Adds, ColCls, Theta, Flip;
    public int ThetaStride, ThetaPlane;
    public float* FloatAcc, MHalf, CstRow, Res, Dst;
    public byte* Codes;
    public int AccStride, SumStride, Times, CstStride, PixelFloats, PixelBytes, Pixels, Full;
    public bool Relu;
}

/// <summary>
/// Doubled sum, affine, residual, ReLU and one consumer's quantizer over 16-lane vectors, compiled once for
/// every combination of the quantizer's mode and the streams present. Static, with each stream a local
/// pointer stepped once a pixel: as an instance method reading the tile's fields, the JIT reloaded them and
/// recomputed every address per pixel (it cannot tell that stores through the pointers leave them alone),
/// and with a second quantizer in the same loop it spilled a dozen values: 63 instructions a 16-channel pixel
/// where this takes 43 (no change in time was measurable on the noisy 2-core host).
/// </summary>
internal static unsafe class EpiloguePass
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(in EpilogueStreams st, in RequantLanes q)
    {
        if (st.Theta != null)
        {
            if (st.Sum != null) RunInt<Yes>(st); else RunInt<No>(st);
            return;
        }
        if (st.Codes == null) Run<No, No, No, No>(st, q);
        else if (q.Thresholds) Run<Yes, Yes, No, No>(st, q);
        else if (q.Round) { if (q.DoubleSided) Run<Yes, No, Yes, Yes>(st, q); else Run<Yes, No, Yes, No>(st, q); }
        else if (q.DoubleSided) Run<Yes, No, No, Yes>(st, q);
        else Run<Yes, No, No, No>(st, q);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Run<TCodes, TThr, TRound, TDouble>(in EpilogueStreams st, in RequantLanes q)
        where TCodes : struct, IFlag where TThr : struct, IFlag where TRound : struct, IFlag where TDouble : struct, IFlag
    {
        // float sums come with neither window sums nor adds
        switch ((st.Res != null ? 1 : 0) | (st.Dst != null ? 2 : 0) | (st.Sum != null ? 4 : 0) | (st.FloatAcc != null ? 8 : 0))
        {
            case 0: Run<TCodes, TThr, TRound, TDouble, No, No, No, No>(st, q); break;
            case 1: Run<TCodes, TThr, TRound, TDouble, Yes, No, No, No>(st, q); break;
            case 2: Run<TCodes, TThr, TRound, TDouble, No, Yes, No, No>(st, q); break;
            case 3: Run<TCodes, TThr, TRound, TDouble, Yes, Yes, No, No>(st, q); break;
            case 4: Run<TCodes, TThr, TRound, TDouble, No, No, Yes, No>(st, q); break;
            case 5: Run<TCodes, TThr, TRound, TDouble, Yes, No, Yes, No>(st, q); break;
            case 6: Run<TCodes, TThr, TRound, TDouble, No, Yes, Yes, No>(st, q); break;
            case 7: Run<TCodes, TThr, TRound, TDouble, Yes, Yes, Yes, No>(st, q); break;
            case 8: Run<TCodes, TThr, TRound, TDouble, No, No, No, Yes>(st, q); break;
            case 9: Run<TCodes, TThr, TRound, TDouble, Yes, No, No, Yes>(st, q); break;
            case 10: Run<TCodes, TThr, TRound, TDouble, No, Yes, No, Yes>(st, q); break;
            case 11: Run<TCodes, TThr, TRound, TDouble, Yes, Yes, No, Yes>(st, q); break;
            default: throw new ArgumentException("float sums take no window sums");
        }
    }

    /// <summary>The arithmetic per lane is that of the scalar epilogue (float multiply, then add); the codes
    /// those of the reference quantizer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Run<TCodes, TThr, TRound, TDouble, TRes, TDst, TSum, TFloat>(in EpilogueStreams st, in RequantLanes lanes)
        where TCodes : struct, IFlag where TThr : struct, IFlag where TRound : struct, IFlag where TDouble : struct, IFlag
        where TRes : struct, IFlag where TDst : struct, IFlag where TSum : struct, IFlag where TFloat : struct, IFlag
    {
        var q = lanes; // a local: its constants stay in registers
        int* a = st.Acc, sp = st.Sum, adds = st.Adds, colCls = st.ColCls;
        float* fa = st.FloatAcc, mHalf = st.MHalf, cstRow = st.CstRow, res = st.Res, dst = st.Dst;
        byte* b = st.Codes;
        int accStride = st.AccStride, sumStride = st.SumStride, cstStride = st.CstStride, pixelFloats = st.PixelFloats,
            pixelBytes = st.PixelBytes, pixels = st.Pixels, full = st.Full;
        // a single-sided quantizer clamps at 0 itself: ReLU before it matters only to the floats
        bool relu = st.Relu && (TDst.On || !TCodes.On || q.DoubleSided);
        var vtimes = Vector512.Create(st.Times);
        for (int p = 0; p < pixels; p++)
        {
            var vadd = TFloat.On || adds == null ? default : Vector512.Create(adds[p]);
            float* cst = colCls == null ? cstRow : cstRow + colCls[p] * cstStride;
            for (int c = 0; c < full; c += 16)
            {
                Vector512<float> sum;
                if (TFloat.On) sum = Vector512.Load(fa + c);
                else
                {
                    sum = Vector512.ConvertToSingle(Doubled<TSum>(a + c, sp + c, vadd, vtimes));
                }
                var v = sum * Vector512.Load(mHalf + c) + Vector512.Load(cst + c);
                if (TRes.On) v += Vector512.Load(res + c);
                if (relu) v = Avx512F.Max(v, Vector512<float>.Zero);
                if (TDst.On) v.Store(dst + c);
                if (TCodes.On) Avx512F.ConvertToVector128Byte(q.Codes<TThr, TRound, TDouble>(v)).Store(b + c);
            }
            if (TFloat.On) fa += accStride; else a += accStride;
            if (TCodes.On) b += pixelBytes;
            if (TSum.On) sp += sumStride;
            if (TRes.On) res += pixelFloats;
            if (TDst.On) dst += pixelFloats;
        }
    }

    /// <summary>T2 = 2 acc + add (+ times x window sum) for 16 channels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> Doubled<TSum>(int* acc, int* sum, Vector512<int> add, Vector512<int> times) where TSum : struct, IFlag
    {
        var t2 = Vector512.ShiftLeft(Vector512.Load(acc), 1) + add; // a shift: "* 2" compiled to vpmulld
        return TSum.On ? t2 + Vector512.Load(sum) * times : t2;
    }

    /// <summary>2-bit codes by counting the integer thresholds the doubled sum reaches (<see cref="IntThresholds"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunInt<TSum>(in EpilogueStreams st) where TSum : struct, IFlag
    {
        int* a = st.Acc, sp = st.Sum, adds = st.Adds, colCls = st.ColCls, theta = st.Theta, flip = st.Flip;
        byte* b = st.Codes;
        int accStride = st.AccStride, sumStride = st.SumStride, thetaStride = st.ThetaStride, plane = st.ThetaPlane,
            pixelBytes = st.PixelBytes, pixels = st.Pixels, full = st.Full;
        var vtimes = Vector512.Create(st.Times);
        for (int p = 0; p < pixels; p++)
        {
            var vadd = adds == null ? default : Vector512.Create(adds[p]);
            int* th = colCls == null ? theta : theta + colCls[p] * thetaStride;
            for (int c = 0; c < full; c += 16)
            {
                var t = Doubled<TSum>(a + c, sp + c, vadd, vtimes) ^ Vector512.Load(flip + c);
                // each compare is -1 where reached: the code is minus their sum
                var k = Vector512.GreaterThanOrEqual(t, Vector512.Load(th + c)) + Vector512.GreaterThanOrEqual(t, Vector512.Load(th + plane + c))
                    + Vector512.GreaterThanOrEqual(t, Vector512.Load(th + 2 * plane + c));
                Avx512F.ConvertToVector128Byte(Vector512<int>.Zero - k).Store(b + c);
            }
            a += accStride;
            b += pixelBytes;
            if (TSum.On) sp += sumStride;
        }
    }
}
