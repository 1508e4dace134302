using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AdaBits.Kernels;

/// <summary>
/// The few float-vector operations the fused kernels need, so each kernel is written once and the JIT
/// specialises it for 512-bit, 256-bit and scalar lanes (System.Numerics.Tensors does the same with
/// an internal interface that is not public).
/// Every operation is AggressiveInlining and every kernel loop NoInlining | AggressiveOptimization: when
/// dynamic PGO inlined a loop into the delegate that calls it, the JIT ran out of inlining budget and left
/// these operations as calls inside the loop (seen in perf as V512::Mul, and a slower inference pass).
/// </summary>
internal unsafe interface ISimd<TSelf> where TSelf : struct, ISimd<TSelf>
{
    static abstract int Count { get; }
    static abstract TSelf Load(float* p);
    static abstract void Store(TSelf v, float* p);
    static abstract TSelf Splat(float x);
    static abstract TSelf Add(TSelf a, TSelf b);
    static abstract TSelf Sub(TSelf a, TSelf b);
    static abstract TSelf Mul(TSelf a, TSelf b);
    static abstract TSelf Div(TSelf a, TSelf b);
    static abstract TSelf Min(TSelf a, TSelf b);
    static abstract TSelf Max(TSelf a, TSelf b);
    static abstract TSelf Abs(TSelf a);
    static abstract TSelf RoundEven(TSelf a);
    static abstract TSelf Floor(TSelf a);
    /// <summary>All-ones lanes where a &lt; b.</summary>
    static abstract TSelf Less(TSelf a, TSelf b);
    static abstract TSelf LessOrEqual(TSelf a, TSelf b);
    static abstract TSelf Equal(TSelf a, TSelf b);
    static abstract TSelf And(TSelf mask, TSelf a);
    static abstract TSelf Select(TSelf mask, TSelf ifTrue, TSelf ifFalse);
    static abstract float Sum(TSelf a);
    static abstract float MaxAcross(TSelf a);
}

internal unsafe struct V512 : ISimd<V512>
{
    public Vector512<float> V;
    public static int Count => Vector512<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] static V512 W(Vector512<float> v) => new() { V = v };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Load(float* p) => W(Vector512.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V512 v, float* p) => v.V.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Splat(float x) => W(Vector512.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Add(V512 a, V512 b) => W(a.V + b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Sub(V512 a, V512 b) => W(a.V - b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Mul(V512 a, V512 b) => W(a.V * b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Div(V512 a, V512 b) => W(a.V / b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Min(V512 a, V512 b) => W(Vector512.MinNative(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Max(V512 a, V512 b) => W(Vector512.MaxNative(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Abs(V512 a) => W(Vector512.Abs(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 RoundEven(V512 a) => W(Vector512.Round(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Floor(V512 a) => W(Vector512.Floor(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Less(V512 a, V512 b) => W(Vector512.LessThan(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 LessOrEqual(V512 a, V512 b) => W(Vector512.LessThanOrEqual(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Equal(V512 a, V512 b) => W(Vector512.Equals(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 And(V512 m, V512 a) => W(m.V & a.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Select(V512 m, V512 t, V512 f) => W(Vector512.ConditionalSelect(m.V, t.V, f.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(V512 a) => Vector512.Sum(a.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(V512 a) => V256.MaxAcross(new V256 { V = Vector256.Max(a.V.GetLower(), a.V.GetUpper()) });
}

internal unsafe struct V256 : ISimd<V256>
{
    public Vector256<float> V;
    public static int Count => Vector256<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] static V256 W(Vector256<float> v) => new() { V = v };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Load(float* p) => W(Vector256.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V256 v, float* p) => v.V.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Splat(float x) => W(Vector256.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Add(V256 a, V256 b) => W(a.V + b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Sub(V256 a, V256 b) => W(a.V - b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Mul(V256 a, V256 b) => W(a.V * b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Div(V256 a, V256 b) => W(a.V / b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Min(V256 a, V256 b) => W(Vector256.MinNative(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Max(V256 a, V256 b) => W(Vector256.MaxNative(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Abs(V256 a) => W(Vector256.Abs(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 RoundEven(V256 a) => W(Vector256.Round(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Floor(V256 a) => W(Vector256.Floor(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Less(V256 a, V256 b) => W(Vector256.LessThan(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 LessOrEqual(V256 a, V256 b) => W(Vector256.LessThanOrEqual(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Equal(V256 a, V256 b) => W(Vector256.Equals(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 And(V256 m, V256 a) => W(m.V & a.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Select(V256 m, V256 t, V256 f) => W(Vector256.ConditionalSelect(m.V, t.V, f.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(V256 a) => Vector256.Sum(a.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(V256 a)
    {
        var h = Vector128.Max(a.V.GetLower(), a.V.GetUpper());
        return MathF.Max(MathF.Max(h[0], h[1]), MathF.Max(h[2], h[3]));
    }
}

/// <summary>One lane: the tail of every kernel and the whole kernel where no vector unit is accelerated.</summary>
internal unsafe struct Scalar : ISimd<Scalar>
{
    public float V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] static Scalar W(float v) => new() { V = v };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] static Scalar M(bool b) => W(b ? BitConverter.Int32BitsToSingle(-1) : 0f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] static bool B(Scalar m) => BitConverter.SingleToInt32Bits(m.V) != 0;
    public static int Count => 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Load(float* p) => W(*p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Scalar v, float* p) => *p = v.V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Splat(float x) => W(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Add(Scalar a, Scalar b) => W(a.V + b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Sub(Scalar a, Scalar b) => W(a.V - b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Mul(Scalar a, Scalar b) => W(a.V * b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Div(Scalar a, Scalar b) => W(a.V / b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Min(Scalar a, Scalar b) => W(MathF.Min(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Max(Scalar a, Scalar b) => W(MathF.Max(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Abs(Scalar a) => W(MathF.Abs(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar RoundEven(Scalar a) => W(MathF.Round(a.V, MidpointRounding.ToEven));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Floor(Scalar a) => W(MathF.Floor(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Less(Scalar a, Scalar b) => M(a.V < b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar LessOrEqual(Scalar a, Scalar b) => M(a.V <= b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Equal(Scalar a, Scalar b) => M(a.V == b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar And(Scalar m, Scalar a) => B(m) ? a : W(0f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Scalar Select(Scalar m, Scalar t, Scalar f) => B(m) ? t : f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Scalar a) => a.V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Scalar a) => a.V;
}
