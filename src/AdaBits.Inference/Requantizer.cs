using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AdaBits.Inference;

/// <summary>
/// One consumer's PACT quantizer at one bit-width, vectorised. The reference computes floor or round of
/// levels x (c / alpha) in float32; a division per output was the epilogue's largest cost. Where the codes
/// are few (4 bits and fewer) the code is instead the number of thresholds T_j &lt;= y, T_j the smallest
/// float whose reference code is &gt;= j: the reference quantizer is monotone in y (correctly rounded division,
/// scaling, floor and round all are), so this count equals it for every float, and the thresholds are
/// found at load by bisection on the reference function itself (<see cref="QuantMath.ActivationCode"/>).
/// A multiply gives an estimate within one level; two table permutes and compares correct it.
/// </summary>
internal sealed class Requantizer
{
    public readonly float Alpha;
    public readonly int Bits;
    public readonly QuantScheme Scheme;
    public readonly bool DoubleSided;
    /// <summary>True where the thresholds fit one 16-lane table (bits &lt;= 4).</summary>
    public readonly bool UsesThresholds;
    /// <summary>T_1..T_top (T_0 = -inf, T_top+1 = +inf implied).</summary>
    public readonly float[] Thresholds;
    /// <summary>The vector form, copied into a local by the epilogue so that its constants stay in registers.</summary>
    public readonly RequantLanes Lanes;

    public const int TableBits = 4;

    public Requantizer(ActivationSpec q, int slot)
    {
        Alpha = MathF.Abs(q.Alpha[slot]);
        Bits = q.Bits[slot];
        Scheme = q.Scheme;
        DoubleSided = q.DoubleSided;
        int levelsTop = (1 << Bits) - 1;
        Thresholds = new float[levelsTop];
        for (int j = 1; j <= levelsTop; j++) Thresholds[j - 1] = SmallestWithCode(j);
        // estimate of the level index: levels x u (+ 1/2 for rounding), u = y / alpha or (y / alpha + 1) / 2
        float levels = Scheme == QuantScheme.Original ? levelsTop : 1 << Bits;
        float half = Scheme == QuantScheme.Original ? 0.5f : 0f;
        float estScale = DoubleSided ? levels / (2 * Alpha) : levels / Alpha;
        float estShift = (DoubleSided ? levels / 2 : 0) + half;
        UsesThresholds = Bits <= TableBits;
        Vector512<float> lower = default, upper = default;
        if (UsesThresholds)
        {
            Span<float> lo = stackalloc float[16], hi = stackalloc float[16];
            for (int k = 0; k < 16; k++)
            {
                lo[k] = k == 0 ? float.NegativeInfinity : k <= levelsTop ? Thresholds[k - 1] : float.PositiveInfinity;
                hi[k] = k < levelsTop ? Thresholds[k] : float.NaN; // never reached: y >= NaN is false, even for +inf
            }
            lower = Vector512.Create<float>(lo);
            upper = Vector512.Create<float>(hi);
        }
        Lanes = new RequantLanes(UsesThresholds, Alpha, Bits, Scheme == QuantScheme.Original, DoubleSided, estScale, estShift, lower, upper);
    }

    public int Code(float y) => QuantMath.ActivationCode(y, Alpha, Bits, Scheme, DoubleSided);

    /// <summary>The code by counting thresholds (the definition the vector path uses), for the tests.</summary>
    public int CodeByThresholds(float y)
    {
        int k = 0;
        foreach (float t in Thresholds) if (y >= t) k++;
        return k;
    }

    /// <summary>Bisection over floats in their order (as integers) for the first whose code reaches j.</summary>
    float SmallestWithCode(int j)
    {
        long lo = Key(float.NegativeInfinity), hi = Key(float.PositiveInfinity); // code(lo) = 0 < j <= top = code(hi)
        while (hi - lo > 1)
        {
            long mid = lo + (hi - lo) / 2;
            if (Code(FromKey(mid)) >= j) hi = mid; else lo = mid;
        }
        return FromKey(hi);
    }

    static long Key(float f)
    {
        int i = BitConverter.SingleToInt32Bits(f);
        return i >= 0 ? i : -(long)(i & int.MaxValue);
    }

    static float FromKey(long k) => k >= 0 ? BitConverter.Int32BitsToSingle((int)k) : -BitConverter.Int32BitsToSingle((int)-k);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<int> Codes(Vector512<float> y) => Lanes.Codes(y);
}

/// <summary>
/// 16 codes at once: thresholds where the codes are few, else the reference's division. The raw
/// vmaxps/vminps/vcvttps2dq, not Vector512.Max/Min/ConvertToInt32, whose NaN, -0 and saturation fix-ups
/// cost two to three extra instructions each: the operands are clamped into range first (a NaN input,
/// which no float model produces from finite images, gets an unspecified code). A struct of broadcast
/// constants rather than fields read through the <see cref="Requantizer"/>: the JIT reloaded those (and
/// re-broadcast the scalars) for every vector, since stores through pointers might alias them.
/// </summary>
internal readonly struct RequantLanes(bool thresholds, float alpha, int bits, bool round, bool doubleSided,
    float estScale, float estShift, Vector512<float> lower, Vector512<float> upper)
{
    readonly Vector512<float> alpha = Vector512.Create(alpha), levels = Vector512.Create((float)(1 << bits)),
        top = Vector512.Create((float)((1 << bits) - 1)), estScale = Vector512.Create(estScale), estShift = Vector512.Create(estShift),
        lower = lower, upper = upper;
    readonly bool thresholds = thresholds, round = round, doubleSided = doubleSided;

    public bool Thresholds => thresholds;
    public bool Round => round;
    public bool DoubleSided => doubleSided;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<int> Codes(Vector512<float> y) =>
        thresholds ? Codes<Yes, No, No>(y) : round ? (doubleSided ? Codes<No, Yes, Yes>(y) : Codes<No, Yes, No>(y))
            : doubleSided ? Codes<No, No, Yes>(y) : Codes<No, No, No>(y);

    /// <summary>The codes with the mode fixed at compile time (it must be this quantizer's: <see cref="Thresholds"/>,
    /// <see cref="Round"/>, <see cref="DoubleSided"/>), for loops that would otherwise test it for every vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<int> Codes<TThresholds, TRound, TDouble>(Vector512<float> y)
        where TThresholds : struct, IFlag where TRound : struct, IFlag where TDouble : struct, IFlag
    {
        if (TThresholds.On)
        {
            var e = Avx512F.Min(Avx512F.Max(y * estScale + estShift, Vector512<float>.Zero), top);
            var k0 = Avx512F.ConvertToVector512Int32WithTruncation(e);
            var lo = Avx512F.PermuteVar16x32(lower, k0);
            var hi = Avx512F.PermuteVar16x32(upper, k0);
            return k0 - Vector512.GreaterThanOrEqual(y, hi).AsInt32() + Vector512.LessThan(y, lo).AsInt32();
        }
        var c = Avx512F.Min(Avx512F.Max(y, TDouble.On ? -alpha : Vector512<float>.Zero), alpha);
        var u = TDouble.On ? (c / alpha + Vector512<float>.One) * Vector512.Create(0.5f) : c / alpha;
        var f = TRound.On ? Vector512.Round(top * u) : Avx512F.Min(Vector512.Floor(levels * u), top);
        return Avx512F.ConvertToVector512Int32WithTruncation(f);
    }
}
