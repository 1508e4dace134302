using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AdaBits.Inference;

/// <summary>
/// Dense convolution by table lookup, for weights of few levels (as T-MAC does on CPUs). The weights are
/// u = w - wMin (0 .. 2^planes - 1) split into bit planes. For each pixel and step (4 input codes a_k) a
/// 16-entry table holds T[b] = sum over k of bit k of b times a_k, loaded into all four 128-bit lanes; then
/// one vpshufb looks up, for 64 output channels, the nibble of one plane's 4 weight bits: 256 multiply-adds
/// of one bit plane in one instruction, where vpmaddubsw does 64 and vpdpbusd (ymm) 32. (A first version
/// did two pixels of 32 channels per lookup: the index then needed an insert per plane and step, on the same
/// shuffle ports as the lookups, and it was no faster than the 16-bit path.) A table is built once per pixel
/// and step and serves every group of output channels, so the path pays off on wide layers and few planes.
/// Sums: bytes for as many steps as cannot pass 255, then 16-bit words (planes weighted by their bit),
/// then int32 in memory. Exact: every sum is of non-negative integers that fit the lanes they are in.
/// </summary>
internal static unsafe class LutKernels
{
    /// <summary>Output channels per lookup (the 64 nibbles of an index vector): two of the layer's groups of 32.</summary>
    public const int Block = 64;
    public const int TilePixels = 4;
    /// <summary>Table bytes per step of a tile: 16 per pixel, each broadcast to the four 128-bit lanes by its load.</summary>
    public const int StepTableBytes = 16 * TilePixels;

    /// <summary>Per int32 lane j (a table entry): the bytes (bit 0 .. bit 3 of j), for vpmaddubsw.</summary>
    static readonly Vector512<sbyte> EntryBits = Vector512.Create(Enumerable.Range(0, 64).Select(i => (sbyte)((i / 4) >> (i % 4) & 1)).ToArray());

    /// <summary>Where a row's next tile starts once `done` pixels are, and its pixels (all of a row narrower than a
    /// tile; the last tile moved back to end at the row's end), for the session and the load-time tuner.</summary>
    public static int TileStart(int done, int ow, out int px)
    {
        px = Math.Min(TilePixels, ow);
        return Math.Min(done, ow - px);
    }

    /// <summary>
    /// The dot products of one output row, every channel: per tile the tables, then every 64-channel block, into
    /// acc laid out [pixel][block][64] (<see cref="PixelInts"/> ints a pixel). row0: pixel 0's window; pixelStride:
    /// the bytes between two pixels' windows. The session runs rows through it and the load-time tuner times it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(byte* row0, int pixelStride, int ow, int* actOff, int steps, byte* tables, byte* index, int planes,
        int byteSteps, int wordChunks, int outChannels, int* acc)
    {
        int rowInts = PixelInts(outChannels);
        for (int done = 0; done < ow;)
        {
            int start = TileStart(done, ow, out int px);
            Tables(row0 + (long)start * pixelStride, pixelStride, px, actOff, steps, tables);
            for (int b = 0; b * Block < outChannels; b++)
                Run(tables, index + (long)b * steps * planes * Block, steps, planes, byteSteps, wordChunks, acc + start * rowInts + b * Block, rowInts);
            done = start + px;
        }
    }

    /// <summary>Pixels of a row's accumulators: a tile writes 4 even where the row is narrower.</summary>
    public static int RowPixels(int ow) => Math.Max(ow, TilePixels);

    /// <summary>Ints a pixel of a row's accumulators ([pixel][block][64]): every 64-channel block, the last one whole.</summary>
    public static int PixelInts(int outChannels) => (outChannels + Block - 1) / Block * Block;

    /// <summary>Steps whose byte sums cannot pass 255: each table entry is at most 4 x (2^activationBits - 1).</summary>
    public static int ByteSteps(int activationBits) => 255 / (4 * ((1 << activationBits) - 1));

    /// <summary>Byte chunks whose plane-weighted word sums cannot pass 32767.</summary>
    public static int WordChunks(int planes) => 32767 / (((1 << planes) - 1) * 255);

    /// <summary>Whether a layer's operands at these bits can take the path: planes 1..3, tables in bytes, groups of 32.</summary>
    public static bool Fits(int planes, int activationBits, int group) => planes is >= 1 and <= 3 && activationBits <= 6 && group * 2 == Block;

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
            Table(*(int*)(input + o), bits, ones).Store(tables);
            Table(*(int*)(p1 + o), bits, ones).Store(tables + 16);
            Table(*(int*)(p2 + o), bits, ones).Store(tables + 32);
            Table(*(int*)(p3 + o), bits, ones).Store(tables + 48);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<byte> Table(int codes, Vector512<sbyte> bits, Vector512<short> ones) =>
        Avx512F.ConvertToVector128Byte(Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Vector512.Create(codes).AsByte(), bits), ones));

    /// <summary>
    /// One block of 64 output channels for the tile whose tables are given: acc[pixel x pixelStride + channel] =
    /// sum over steps of a x u. index: per step, per plane, 64 nibbles (bit k: the plane's bit of input k of the step).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(byte* tables, byte* index, int steps, int planes, int byteSteps, int wordChunks, int* acc, int pixelStride)
    {
        int* acc1 = acc + pixelStride, acc2 = acc1 + pixelStride, acc3 = acc2 + pixelStride;
        for (int i = 0; i < Block; i += 16)
        {
            Vector512<int>.Zero.Store(acc + i); Vector512<int>.Zero.Store(acc1 + i);
            Vector512<int>.Zero.Store(acc2 + i); Vector512<int>.Zero.Store(acc3 + i);
        }
        int stepBytes = planes * Block;
        for (int s = 0; s < steps;)
        {
            Vector512<short> w0 = default, w1 = default, w2 = default, w3 = default, w4 = default, w5 = default, w6 = default, w7 = default;
            for (int c = 0; c < wordChunks && s < steps; c++)
            {
                int end = Math.Min(steps, s + byteSteps);
                // b{pixel}{plane}
                Vector512<byte> b00 = default, b01 = default, b02 = default, b10 = default, b11 = default, b12 = default;
                Vector512<byte> b20 = default, b21 = default, b22 = default, b30 = default, b31 = default, b32 = default;
                for (; s < end; s++)
                {
                    byte* t = tables + (long)s * StepTableBytes, ix = index + (long)s * stepBytes;
                    var t0 = Avx512F.BroadcastVector128ToVector512((int*)t).AsByte();
                    var t1 = Avx512F.BroadcastVector128ToVector512((int*)(t + 16)).AsByte();
                    var t2 = Avx512F.BroadcastVector128ToVector512((int*)(t + 32)).AsByte();
                    var t3 = Avx512F.BroadcastVector128ToVector512((int*)(t + 48)).AsByte();
                    var i0 = Vector512.Load(ix);
                    b00 = Avx512BW.Add(b00, Avx512BW.Shuffle(t0, i0)); b10 = Avx512BW.Add(b10, Avx512BW.Shuffle(t1, i0));
                    b20 = Avx512BW.Add(b20, Avx512BW.Shuffle(t2, i0)); b30 = Avx512BW.Add(b30, Avx512BW.Shuffle(t3, i0));
                    if (planes > 1)
                    {
                        var i1 = Vector512.Load(ix + Block);
                        b01 = Avx512BW.Add(b01, Avx512BW.Shuffle(t0, i1)); b11 = Avx512BW.Add(b11, Avx512BW.Shuffle(t1, i1));
                        b21 = Avx512BW.Add(b21, Avx512BW.Shuffle(t2, i1)); b31 = Avx512BW.Add(b31, Avx512BW.Shuffle(t3, i1));
                        if (planes > 2)
                        {
                            var i2 = Vector512.Load(ix + 2 * Block);
                            b02 = Avx512BW.Add(b02, Avx512BW.Shuffle(t0, i2)); b12 = Avx512BW.Add(b12, Avx512BW.Shuffle(t1, i2));
                            b22 = Avx512BW.Add(b22, Avx512BW.Shuffle(t2, i2)); b32 = Avx512BW.Add(b32, Avx512BW.Shuffle(t3, i2));
                        }
                    }
                }
                // channels 0-31 are the low half of a byte sum, 32-63 its high half; plane q weighs 2^q
                w0 += Words(b00.GetLower(), b01.GetLower(), b02.GetLower()); w1 += Words(b00.GetUpper(), b01.GetUpper(), b02.GetUpper());
                w2 += Words(b10.GetLower(), b11.GetLower(), b12.GetLower()); w3 += Words(b10.GetUpper(), b11.GetUpper(), b12.GetUpper());
                w4 += Words(b20.GetLower(), b21.GetLower(), b22.GetLower()); w5 += Words(b20.GetUpper(), b21.GetUpper(), b22.GetUpper());
                w6 += Words(b30.GetLower(), b31.GetLower(), b32.GetLower()); w7 += Words(b30.GetUpper(), b31.GetUpper(), b32.GetUpper());
            }
            AddWords(acc, w0); AddWords(acc + 32, w1); AddWords(acc1, w2); AddWords(acc1 + 32, w3);
            AddWords(acc2, w4); AddWords(acc2 + 32, w5); AddWords(acc3, w6); AddWords(acc3 + 32, w7);
        }
    }

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
    /// The index vectors of a layer's operands w[co][step x 4 + j] = wMin + u: [block][step][plane][64 nibbles],
    /// channels past outChannels 0.
    /// </summary>
    public static byte[] Index(ReadOnlySpan<sbyte> w, int outChannels, int steps, int wMin, int planes)
    {
        int blocks = (outChannels + Block - 1) / Block, row = steps * 4;
        var index = GC.AllocateArray<byte>(blocks * steps * planes * Block + 64, pinned: true);
        for (int co = 0; co < outChannels; co++)
            for (int s = 0; s < steps; s++)
                for (int q = 0; q < planes; q++)
                {
                    int nibble = 0;
                    for (int j = 0; j < 4; j++) nibble |= ((w[co * row + s * 4 + j] - wMin) >> q & 1) << j;
                    index[(((co / Block) * steps + s) * planes + q) * Block + co % Block] = (byte)nibble;
                }
        return index;
    }
}
