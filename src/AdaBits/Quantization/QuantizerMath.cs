using AdaBits.Kernels;
using System.Runtime.CompilerServices;

namespace AdaBits.Quantization;

/// <summary>The q_k staircase for one scheme and bit-width, precomputed for the vector kernels.</summary>
internal readonly struct Staircase
{
    public readonly QuantScheme Scheme;
    public readonly float A;          // divisor a
    public readonly float AMinus1;
    public readonly float Q0, Q1;     // q_k(0), q_k(1): the alpha gradient outside the clipping range
    readonly float inverseA;          // exact 1/a where a is a power of two (modified, centered)

    public Staircase(QuantScheme scheme, int bits)
    {
        QuantSchemes.CheckBits(bits);
        Scheme = scheme;
        A = QuantSchemes.Divisor(scheme, bits);
        AMinus1 = A - 1f;
        Q0 = QuantSchemes.QuantizeUnchecked(0f, A, scheme);
        Q1 = QuantSchemes.QuantizeUnchecked(1f, A, scheme);
        inverseA = 1f / A;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T Apply<T>(T u) where T : struct, ISimd<T>
    {
        var a = T.Splat(A);
        if (Scheme == QuantScheme.Original) return T.Div(T.RoundEven(T.Mul(u, a)), a);
        var f = T.Min(T.Floor(T.Mul(u, a)), T.Splat(AMinus1));
        if (Scheme == QuantScheme.Centered) f = T.Add(f, T.Splat(0.5f));
        // a = 2^b: multiplying by 1/a is exact, and much cheaper than the division
        return T.Mul(f, T.Splat(inverseA));
    }
}
