using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AdaBits.Inference;

/// <summary>
/// Dense convolution by table lookup, for weights of few levels (as T-MAC does on CPUs). The weights are
/// u = w - wMin (0 .. 2^planes - 1) split into bit planes. For each pixel and step (4 input codes a_k) a
/// 16-entry table holds T[b] = sum over k of bit k of b times a_k; then one vpshufb looks up, for 32 output
/// channels and two pixels at once, the nibble of one plane's 4 weight bits: 256 multiply-adds of one bit
/// plane in one instruction, where vpmaddubsw does 64 and vpdpbusd (ymm) 32. A table is built once per pixel
/// and step and serves every group of output channels, so the path pays off on wide layers and few planes.
/// Sums: bytes for as many steps as cannot pass 255, then 16-bit words (planes weighted by their bit),
/// then int32 in memory. Exact: every sum is of non-negative integers that fit the lanes they are in.
/// </summary>
internal static unsafe class LutKernels
{
    /// <summary>Output channels per lookup (the 32 nibbles of an index vector).</summary>
    public const int Group = 32;
    public const int TilePixels = 4;
    /// <summary>Table bytes per step of a tile: [T0 T0 T1 T1][T2 T2 T3 T3], 16 bytes each.</summary>
    public const int StepTableBytes = 128;

    /// <summary>Per int32 lane j (a table entry): the bytes (bit 0 .. bit 3 of j), for vpmaddubsw.</summary>
    static readonly Vector512<sbyte> EntryBits = Vector512.Create(Enumerable.Range(0, 64).Select(i => (sbyte)((i / 4) >> (i % 4) & 1)).ToArray());

    /// <summary>Steps whose byte sums cannot pass 255: each table entry is at most 4 x (2^activationBits - 1).</summary>
    public static int ByteSteps(int activationBits) => 255 / (4 * ((1 << activationBits) - 1));

    /// <summary>Byte chunks whose plane-weighted word sums cannot pass 32767.</summary>
    public static int WordChunks(int planes) => 32767 / (((1 << planes) - 1) * 255);

    /// <summary>Whether a layer's operands at these bits can take the path: planes 1..3, tables in bytes.</summary>
    public static bool Fits(int planes, int activationBits, int group) => planes is >= 1 and <= 3 && activationBits <= 6 && group == Group;

    /// <summary>
    /// The tables of a tile's 4 pixels (pixel k's window at input + k x pixelStride; with fewer pixels the
    /// last is repeated) for every step, into tables (steps x StepTableBytes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tables(byte* input, int pixelStride, int pixels, int* actOff, int steps, byte* tables)
    {
        var bits = EntryBits;
        var ones = Vector512.Create((short)1);
        byte* p1 = input + Math.Min(1, pixels - 1) * pixelStride, p2 = input + Math.Min(2, pixels - 1) * pixelStride, p3 = input + Math.Min(3, pixels - 1) * pixelStride;
        for (int s = 0; s < steps; s++, tables += StepTableBytes)
        {
            int o = actOff[s];
            var t0 = Table(*(int*)(input + o), bits, ones);
            var t1 = Table(*(int*)(p1 + o), bits, ones);
            var t2 = Table(*(int*)(p2 + o), bits, ones);
            var t3 = Table(*(int*)(p3 + o), bits, ones);
            t0.Store(tables); t0.Store(tables + 16); t1.Store(tables + 32); t1.Store(tables + 48);
            t2.Store(tables + 64); t2.Store(tables + 80); t3.Store(tables + 96); t3.Store(tables + 112);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<byte> Table(int codes, Vector512<sbyte> bits, Vector512<short> ones) =>
        Avx512F.ConvertToVector128Byte(Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Vector512.Create(codes).AsByte(), bits), ones));

    /// <summary>
    /// One group of 32 output channels for the tile whose tables are given: acc[pixel x 32 + channel] =
    /// sum over steps of a x u. index: per step, per plane, 32 nibbles (bit k: plane bit of input k of the step).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(byte* tables, byte* index, int steps, int planes, int byteSteps, int wordChunks, int* acc)
    {
        for (int i = 0; i < TilePixels * Group; i += 16) Vector512<int>.Zero.Store(acc + i);
        int stepBytes = planes * Group;
        for (int s = 0; s < steps;)
        {
            Vector512<short> w0 = default, w1 = default, w2 = default, w3 = default;
            for (int c = 0; c < wordChunks && s < steps; c++)
            {
                int end = Math.Min(steps, s + byteSteps);
                Vector512<byte> b00 = default, b01 = default, b02 = default, b10 = default, b11 = default, b12 = default;
                for (; s < end; s++)
                {
                    byte* t = tables + (long)s * StepTableBytes, ix = index + (long)s * stepBytes;
                    var t0 = Vector512.Load(t);
                    var t1 = Vector512.Load(t + 64);
                    var i0 = Index32(ix);
                    b00 = Avx512BW.Add(b00, Avx512BW.Shuffle(t0, i0));
                    b10 = Avx512BW.Add(b10, Avx512BW.Shuffle(t1, i0));
                    if (planes > 1)
                    {
                        var i1 = Index32(ix + Group);
                        b01 = Avx512BW.Add(b01, Avx512BW.Shuffle(t0, i1));
                        b11 = Avx512BW.Add(b11, Avx512BW.Shuffle(t1, i1));
                        if (planes > 2)
                        {
                            var i2 = Index32(ix + 2 * Group);
                            b02 = Avx512BW.Add(b02, Avx512BW.Shuffle(t0, i2));
                            b12 = Avx512BW.Add(b12, Avx512BW.Shuffle(t1, i2));
                        }
                    }
                }
                // pixel 0 is the low half of b0q, pixel 1 its high half; plane q weighs 2^q
                w0 += Words(b00.GetLower(), b01.GetLower(), b02.GetLower());
                w1 += Words(b00.GetUpper(), b01.GetUpper(), b02.GetUpper());
                w2 += Words(b10.GetLower(), b11.GetLower(), b12.GetLower());
                w3 += Words(b10.GetUpper(), b11.GetUpper(), b12.GetUpper());
            }
            AddWords(acc, w0); AddWords(acc + Group, w1); AddWords(acc + 2 * Group, w2); AddWords(acc + 3 * Group, w3);
        }
    }

    /// <summary>32 nibbles into both halves. Two loads, not Avx512F.BroadcastVector256ToVector512: that gave
    /// wrong lanes here (.NET 10.0.12; the JIT listed its operand as 16 bytes), which the kernel test caught.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<byte> Index32(byte* p) { var h = Vector256.Load(p); return Vector512.Create(h, h); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<short> Words(Vector256<byte> p0, Vector256<byte> p1, Vector256<byte> p2) =>
        Avx512BW.ConvertToVector512Int16(p0) + Vector512.ShiftLeft(Avx512BW.ConvertToVector512Int16(p1), 1) +
        Vector512.ShiftLeft(Avx512BW.ConvertToVector512Int16(p2), 2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void AddWords(int* acc, Vector512<short> w)
    {
        (Vector512.Load(acc) + Avx512F.ConvertToVector512Int32(w.GetLower())).Store(acc);
        (Vector512.Load(acc + 16) + Avx512F.ConvertToVector512Int32(w.GetUpper())).Store(acc + 16);
    }

    /// <summary>
    /// The index vectors of a layer's operands w[co][step x 4 + j] = wMin + u: [group][step][plane][32 nibbles],
    /// channels past outChannels 0.
    /// </summary>
    public static byte[] Index(ReadOnlySpan<sbyte> w, int outChannels, int steps, int wMin, int planes)
    {
        int groups = (outChannels + Group - 1) / Group, row = steps * 4;
        var index = GC.AllocateArray<byte>(groups * steps * planes * Group + 64, pinned: true);
        for (int co = 0; co < outChannels; co++)
            for (int s = 0; s < steps; s++)
                for (int q = 0; q < planes; q++)
                {
                    int nibble = 0;
                    for (int j = 0; j < 4; j++) nibble |= ((w[co * row + s * 4 + j] - wMin) >> q & 1) << j;
                    index[(((co / Group) * steps + s) * planes + q) * Group + co % Group] = (byte)nibble;
                }
        return index;
    }
}
