using AdaBits.Kernels;
using System.Numerics;
using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace AdaBits.Quantization;

/// <summary>How a staircase turns x * Scale into a level index.</summary>
public enum LevelRounding
{
    /// <summary>round(x * Scale), half to even: Scale + 1 levels on [0, 1].</summary>
    HalfEven,
    /// <summary>min(floor(x * Scale), Scale - 1): Scale levels on [0, 1]; codes nest where Scale is a power of two.</summary>
    Floor,
}

/// <summary>
/// One scheme's q(x) at one bit-width, in the one form every code path interprets: level index
/// k = R(x * Scale), q = (k + Offset) / Divisor. The scalar, vector, torch-op, ONNX and code-export forms are
/// all read off these numbers here, so they cannot drift apart. A quotient by a power-of-two divisor is
/// computed as k * (1 / Divisor) where the form allows (exact, and a division less in the kernels).
/// </summary>
public readonly struct Staircase
{
    public readonly LevelRounding Rounding;
    public readonly float Scale;
    public readonly float Offset;
    public readonly float Divisor;
    /// <summary>The largest floor index, Scale - 1 (unused when rounding half to even).</summary>
    public readonly float Top;
    /// <summary>q(0), q(1): the PACT alpha gradient outside the clipping range.</summary>
    internal readonly float Q0, Q1;
    internal readonly bool HalfEven, HasOffset, MultipliesByInverse;
    internal readonly float InverseDivisor;

    public Staircase(LevelRounding rounding, float scale, float offset, float divisor)
    {
        if (!(scale >= 1f) || !float.IsFinite(scale) || scale != MathF.Floor(scale))
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "a staircase's scale must be a whole number >= 1");
        if (!(divisor > 0f) || !float.IsFinite(divisor))
            throw new ArgumentOutOfRangeException(nameof(divisor), divisor, "a staircase's divisor must be finite and > 0");
        if (!float.IsFinite(offset))
            throw new ArgumentOutOfRangeException(nameof(offset), offset, "a staircase's offset must be finite");
        Rounding = rounding;
        Scale = scale;
        Offset = offset;
        Divisor = divisor;
        Top = scale - 1f;
        HalfEven = rounding == LevelRounding.HalfEven;
        HasOffset = offset != 0f;
        MultipliesByInverse = IsPowerOfTwo(divisor);
        InverseDivisor = 1f / divisor;
        Q0 = 0f;
        Q1 = 0f;
        Q0 = Quantize(0f);
        Q1 = Quantize(1f);
    }

    /// <summary>How many levels q takes on [0, 1]; the level index k runs over 0 .. LevelCount - 1.</summary>
    public long LevelCount => HalfEven ? (long)Scale + 1 : (long)Scale;

    /// <summary>Whether the codes at b - 1 bits are those at b bits shifted right by one (floor on a power-of-two scale).</summary>
    public bool CodesNest => !HalfEven && IsPowerOfTwo(Scale);

    /// <summary>
    /// Where the weight levels 2 q - 1 = (2 / Divisor) (k - CodeShift) are exactly Scale x integer codes k - CodeShift
    /// (Divisor / 2 - Offset a whole number, Divisor a power of two so that the product is exact in float32), the
    /// shift; else 0 and the codes are the unsigned level index.
    /// </summary>
    public long CodeShift
    {
        get
        {
            double shift = Divisor / 2.0 - Offset;
            return MultipliesByInverse && shift > 0 && shift == Math.Floor(shift) ? (long)shift : 0;
        }
    }

    /// <summary>Whether q is exactly round(x * a) / a: what ONNX QuantizeLinear at scale 1 computes for the codes.</summary>
    internal bool IsRoundToDivisor => HalfEven && !HasOffset && Scale == Divisor;

    /// <summary>The level index of x in [0, 1], as a float (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Index(float x) => HalfEven ? MathF.Round(x * Scale, MidpointRounding.ToEven) : MathF.Min(MathF.Floor(x * Scale), Top);

    /// <summary>q for level index k, in the float32 order the kernels and exports use.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Level(float k)
    {
        if (HasOffset) k += Offset;
        return MultipliesByInverse ? k * InverseDivisor : k / Divisor;
    }

    /// <summary>q(x) on one float32 value: the scalar form the tensor kernels are checked against element by element.</summary>
    public float Quantize(float x)
    {
        float k = Index(x);
        if (HasOffset) k += Offset;
        // a quotient, as the reference's torch ops compute it (equal to k * (1 / Divisor) where that is exact)
        return k / Divisor;
    }

    /// <summary>The vector form (fused kernels); branches on fields only, the same few per vector whatever the scheme.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal T Apply<T>(T u) where T : struct, ISimd<T>
    {
        var k = OffsetIndex(u);
        return MultipliesByInverse ? T.Mul(k, T.Splat(InverseDivisor)) : T.Div(k, T.Splat(Divisor));
    }

    /// <summary>
    /// Apply's level, its last step a multiplication by 1 / Divisor where Apply divides: the same index, a value
    /// within an ulp of Apply's. For the PACT alpha gradient's per-element terms, whose sum is compared with a
    /// tolerance (its order differs from torch's anyway): the division was half of that backward's divisions.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal T ApplyNear<T>(T u) where T : struct, ISimd<T> => T.Mul(OffsetIndex(u), T.Splat(InverseDivisor));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    T OffsetIndex<T>(T u) where T : struct, ISimd<T>
    {
        var ua = T.Mul(u, T.Splat(Scale));
        var k = HalfEven ? T.RoundEven(ua) : T.Min(T.Floor(ua), T.Splat(Top));
        return HasOffset ? T.Add(k, T.Splat(Offset)) : k;
    }

    /// <summary>The torch-op form (QuantizeSte: tensors the fused kernels do not cover), in the reference's order.</summary>
    internal Tensor Apply(Tensor x)
    {
        using var ax = x.mul((double)Scale);
        using var k = HalfEven ? ax.round() : ax.floor().clamp_max_((double)Top);
        if (!HasOffset) return k.div((double)Divisor);
        using var h = k.add((double)Offset);
        return h.div((double)Divisor);
    }

    static bool IsPowerOfTwo(float v) => v >= 1f && v <= (1L << 62) && v == MathF.Floor(v) && BitOperations.IsPow2((long)v);
}
