using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AdaBits.Inference;

/// <summary>
/// One tile of a dense (groups = 1) convolution on u8 activation codes and s8 weight operands: up to four
/// output pixels of one row times one group of 32 output channels, summed over every step (one step =
/// 4 input channels of one kernel tap) into int32.
/// </summary>
internal unsafe struct DenseTile
{
    /// <summary>The first pixel's window origin in the padded NHWC code buffer.</summary>
    public byte* In;
    /// <summary>Bytes between consecutive output pixels' window origins (stride x padded channels).</summary>
    public int PixelStride;
    /// <summary>Per step: offset of its 4 codes from the window origin.</summary>
    public int* ActOff;
    public int Steps;
    /// <summary>Packed weights of the group: per step 32 (or 16) channels x 4 bytes (the input channels of the step).</summary>
    public sbyte* W;
    /// <summary>Steps summed in 16-bit lanes before widening (512-bit paths; 1 = widen every step).</summary>
    public int Chunk;
    /// <summary>Out: [pixel][group size] int32 sums.</summary>
    public int* Acc;
}

internal interface IDot256
{
    static abstract Vector256<int> Dot(Vector256<int> acc, Vector256<byte> a, Vector256<sbyte> w);
}

internal struct VnniDot : IDot256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> a, Vector256<sbyte> w) => AvxVnni.MultiplyWideningAndAdd(acc, a, w);
}

internal struct PairDot : IDot256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> a, Vector256<sbyte> w) =>
        Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a, w), Vector256.Create((short)1)));
}

internal static unsafe class DenseKernels
{
    public const int Group = 32;
    public const int StepBytes = Group * 4;
    /// <summary>Layers of at most 16 output channels use groups of 16 (a group of 32 would be half zeros).</summary>
    public const int NarrowGroup = 16;

    /// <summary>Output channels per group of a layer.</summary>
    public static int GroupOf(int outChannels) => outChannels <= NarrowGroup ? NarrowGroup : Group;

    /// <summary>
    /// Pixels per full tile: 8 for 16-channel groups on 512-bit paths (8 accumulators) and on AvxVnni where
    /// the 32 vector registers of AVX-512 hold its 16 accumulators (4 pixels left it bound on the weight and
    /// input loads, at about half the rate of wider layers), else 4.
    /// </summary>
    public static int TilePixels(KernelPath path, int group) =>
        group == NarrowGroup && (path is KernelPath.Avx512Acc16 or KernelPath.Avx512Pair || path == KernelPath.AvxVnni && Avx512F.IsSupported) ? 8 : 4;

    /// <summary>
    /// Where an output row's next tile starts once `done` pixels are, and its pixels: whole tiles, the last moved
    /// back to end at the row's end (it rewrites a few pixels with the same sums); a row narrower than a tile one
    /// pixel at a time. The session and the load-time tuner both walk rows this way.
    /// </summary>
    public static int TileStart(int done, int ow, int tilePx, out int px)
    {
        px = ow >= tilePx ? tilePx : 1;
        return ow >= tilePx ? Math.Min(done, ow - tilePx) : done;
    }

    /// <summary>Runs one tile of TilePixels or 1 pixels on a SIMD path (the scalar path has its own loop).</summary>
    public static void Run(KernelPath path, in DenseTile t, int pixels, int group)
    {
        if (group == NarrowGroup)
        {
            switch (path)
            {
                case KernelPath.AvxVnni: if (pixels == 8) N256x8<VnniDot>(t); else if (pixels == 4) N256x4<VnniDot>(t); else N256x1<VnniDot>(t); break;
                case KernelPath.Avx2: if (pixels == 4) N256x4<PairDot>(t); else N256x1<PairDot>(t); break;
                case KernelPath.Avx512Pair:
                case KernelPath.Avx512Acc16: if (pixels == 8) N512x8(t); else N512x1(t); break;
                default: throw new InvalidOperationException($"no SIMD dense kernel for {path}");
            }
            return;
        }
        switch (path)
        {
            case KernelPath.AvxVnni: if (pixels == 4) K256x4<VnniDot>(t); else K256x1<VnniDot>(t); break;
            case KernelPath.Avx2: if (pixels == 4) K256x4<PairDot>(t); else K256x1<PairDot>(t); break;
            case KernelPath.Avx512Pair:
            case KernelPath.Avx512Acc16: if (pixels == 4) K512x4(t); else K512x1(t); break;
            default: throw new InvalidOperationException($"no SIMD dense kernel for {path}");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void K256x4<T>(in DenseTile t) where T : struct, IDot256
    {
        byte* p0 = t.In, p1 = p0 + t.PixelStride, p2 = p1 + t.PixelStride, p3 = p2 + t.PixelStride;
        sbyte* w = t.W;
        int* off = t.ActOff;
        Vector256<int> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<int> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<int> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector256<int> a30 = default, a31 = default, a32 = default, a33 = default;
        for (int s = 0; s < t.Steps; s++, w += StepBytes)
        {
            int o = off[s];
            var w0 = Vector256.Load(w); var w1 = Vector256.Load(w + 32); var w2 = Vector256.Load(w + 64); var w3 = Vector256.Load(w + 96);
            var x = Vector256.Create(*(int*)(p0 + o)).AsByte();
            a00 = T.Dot(a00, x, w0); a01 = T.Dot(a01, x, w1); a02 = T.Dot(a02, x, w2); a03 = T.Dot(a03, x, w3);
            x = Vector256.Create(*(int*)(p1 + o)).AsByte();
            a10 = T.Dot(a10, x, w0); a11 = T.Dot(a11, x, w1); a12 = T.Dot(a12, x, w2); a13 = T.Dot(a13, x, w3);
            x = Vector256.Create(*(int*)(p2 + o)).AsByte();
            a20 = T.Dot(a20, x, w0); a21 = T.Dot(a21, x, w1); a22 = T.Dot(a22, x, w2); a23 = T.Dot(a23, x, w3);
            x = Vector256.Create(*(int*)(p3 + o)).AsByte();
            a30 = T.Dot(a30, x, w0); a31 = T.Dot(a31, x, w1); a32 = T.Dot(a32, x, w2); a33 = T.Dot(a33, x, w3);
        }
        int* r = t.Acc;
        a00.Store(r); a01.Store(r + 8); a02.Store(r + 16); a03.Store(r + 24);
        a10.Store(r + 32); a11.Store(r + 40); a12.Store(r + 48); a13.Store(r + 56);
        a20.Store(r + 64); a21.Store(r + 72); a22.Store(r + 80); a23.Store(r + 88);
        a30.Store(r + 96); a31.Store(r + 104); a32.Store(r + 112); a33.Store(r + 120);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void K256x1<T>(in DenseTile t) where T : struct, IDot256
    {
        byte* p0 = t.In;
        sbyte* w = t.W;
        int* off = t.ActOff;
        Vector256<int> a00 = default, a01 = default, a02 = default, a03 = default;
        for (int s = 0; s < t.Steps; s++, w += StepBytes)
        {
            var x = Vector256.Create(*(int*)(p0 + off[s])).AsByte();
            a00 = T.Dot(a00, x, Vector256.Load(w)); a01 = T.Dot(a01, x, Vector256.Load(w + 32));
            a02 = T.Dot(a02, x, Vector256.Load(w + 64)); a03 = T.Dot(a03, x, Vector256.Load(w + 96));
        }
        int* r = t.Acc;
        a00.Store(r); a01.Store(r + 8); a02.Store(r + 16); a03.Store(r + 24);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void K512x4(in DenseTile t)
    {
        byte* p0 = t.In, p1 = p0 + t.PixelStride, p2 = p1 + t.PixelStride, p3 = p2 + t.PixelStride;
        sbyte* w = t.W;
        int* off = t.ActOff;
        var ones = Vector512.Create((short)1);
        Vector512<int> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        for (int s = 0; s < t.Steps;)
        {
            int end = Math.Min(t.Steps, s + t.Chunk);
            Vector512<short> h00 = default, h01 = default, h10 = default, h11 = default, h20 = default, h21 = default, h30 = default, h31 = default;
            for (; s < end; s++, w += StepBytes)
            {
                int o = off[s];
                var w0 = Vector512.Load(w); var w1 = Vector512.Load(w + 64);
                var x = Vector512.Create(*(int*)(p0 + o)).AsByte();
                h00 = Avx512BW.Add(h00, Avx512BW.MultiplyAddAdjacent(x, w0)); h01 = Avx512BW.Add(h01, Avx512BW.MultiplyAddAdjacent(x, w1));
                x = Vector512.Create(*(int*)(p1 + o)).AsByte();
                h10 = Avx512BW.Add(h10, Avx512BW.MultiplyAddAdjacent(x, w0)); h11 = Avx512BW.Add(h11, Avx512BW.MultiplyAddAdjacent(x, w1));
                x = Vector512.Create(*(int*)(p2 + o)).AsByte();
                h20 = Avx512BW.Add(h20, Avx512BW.MultiplyAddAdjacent(x, w0)); h21 = Avx512BW.Add(h21, Avx512BW.MultiplyAddAdjacent(x, w1));
                x = Vector512.Create(*(int*)(p3 + o)).AsByte();
                h30 = Avx512BW.Add(h30, Avx512BW.MultiplyAddAdjacent(x, w0)); h31 = Avx512BW.Add(h31, Avx512BW.MultiplyAddAdjacent(x, w1));
            }
            c00 = Avx512F.Add(c00, Avx512BW.MultiplyAddAdjacent(h00, ones)); c01 = Avx512F.Add(c01, Avx512BW.MultiplyAddAdjacent(h01, ones));
            c10 = Avx512F.Add(c10, Avx512BW.MultiplyAddAdjacent(h10, ones)); c11 = Avx512F.Add(c11, Avx512BW.MultiplyAddAdjacent(h11, ones));
            c20 = Avx512F.Add(c20, Avx512BW.MultiplyAddAdjacent(h20, ones)); c21 = Avx512F.Add(c21, Avx512BW.MultiplyAddAdjacent(h21, ones));
            c30 = Avx512F.Add(c30, Avx512BW.MultiplyAddAdjacent(h30, ones)); c31 = Avx512F.Add(c31, Avx512BW.MultiplyAddAdjacent(h31, ones));
        }
        int* r = t.Acc;
        c00.Store(r); c01.Store(r + 16); c10.Store(r + 32); c11.Store(r + 48);
        c20.Store(r + 64); c21.Store(r + 80); c30.Store(r + 96); c31.Store(r + 112);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void K512x1(in DenseTile t)
    {
        byte* p0 = t.In;
        sbyte* w = t.W;
        int* off = t.ActOff;
        var ones = Vector512.Create((short)1);
        Vector512<int> c00 = default, c01 = default;
        for (int s = 0; s < t.Steps;)
        {
            int end = Math.Min(t.Steps, s + t.Chunk);
            Vector512<short> h00 = default, h01 = default;
            for (; s < end; s++, w += StepBytes)
            {
                var x = Vector512.Create(*(int*)(p0 + off[s])).AsByte();
                h00 = Avx512BW.Add(h00, Avx512BW.MultiplyAddAdjacent(x, Vector512.Load(w)));
                h01 = Avx512BW.Add(h01, Avx512BW.MultiplyAddAdjacent(x, Vector512.Load(w + 64)));
            }
            c00 = Avx512F.Add(c00, Avx512BW.MultiplyAddAdjacent(h00, ones));
            c01 = Avx512F.Add(c01, Avx512BW.MultiplyAddAdjacent(h01, ones));
        }
        c00.Store(t.Acc); c01.Store(t.Acc + 16);
    }

    const int NarrowStep = NarrowGroup * 4;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void N256x4<T>(in DenseTile t) where T : struct, IDot256
    {
        byte* p0 = t.In, p1 = p0 + t.PixelStride, p2 = p1 + t.PixelStride, p3 = p2 + t.PixelStride;
        sbyte* w = t.W;
        int* off = t.ActOff;
        Vector256<int> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        for (int s = 0; s < t.Steps; s++, w += NarrowStep)
        {
            int o = off[s];
            var w0 = Vector256.Load(w); var w1 = Vector256.Load(w + 32);
            var x = Vector256.Create(*(int*)(p0 + o)).AsByte();
            a00 = T.Dot(a00, x, w0); a01 = T.Dot(a01, x, w1);
            x = Vector256.Create(*(int*)(p1 + o)).AsByte();
            a10 = T.Dot(a10, x, w0); a11 = T.Dot(a11, x, w1);
            x = Vector256.Create(*(int*)(p2 + o)).AsByte();
            a20 = T.Dot(a20, x, w0); a21 = T.Dot(a21, x, w1);
            x = Vector256.Create(*(int*)(p3 + o)).AsByte();
            a30 = T.Dot(a30, x, w0); a31 = T.Dot(a31, x, w1);
        }
        int* r = t.Acc;
        a00.Store(r); a01.Store(r + 8); a10.Store(r + 16); a11.Store(r + 24);
        a20.Store(r + 32); a21.Store(r + 40); a30.Store(r + 48); a31.Store(r + 56);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void N256x8<T>(in DenseTile t) where T : struct, IDot256
    {
        byte* p0 = t.In;
        long ps = t.PixelStride;
        sbyte* w = t.W;
        int* off = t.ActOff;
        Vector256<int> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        Vector256<int> a40 = default, a41 = default, a50 = default, a51 = default, a60 = default, a61 = default, a70 = default, a71 = default;
        for (int s = 0; s < t.Steps; s++, w += NarrowStep)
        {
            byte* p = p0 + off[s];
            var w0 = Vector256.Load(w); var w1 = Vector256.Load(w + 32);
            var x = Vector256.Create(*(int*)p).AsByte();
            a00 = T.Dot(a00, x, w0); a01 = T.Dot(a01, x, w1);
            x = Vector256.Create(*(int*)(p + ps)).AsByte();
            a10 = T.Dot(a10, x, w0); a11 = T.Dot(a11, x, w1);
            x = Vector256.Create(*(int*)(p + 2 * ps)).AsByte();
            a20 = T.Dot(a20, x, w0); a21 = T.Dot(a21, x, w1);
            x = Vector256.Create(*(int*)(p + 3 * ps)).AsByte();
            a30 = T.Dot(a30, x, w0); a31 = T.Dot(a31, x, w1);
            x = Vector256.Create(*(int*)(p + 4 * ps)).AsByte();
            a40 = T.Dot(a40, x, w0); a41 = T.Dot(a41, x, w1);
            x = Vector256.Create(*(int*)(p + 5 * ps)).AsByte();
            a50 = T.Dot(a50, x, w0); a51 = T.Dot(a51, x, w1);
            x = Vector256.Create(*(int*)(p + 6 * ps)).AsByte();
            a60 = T.Dot(a60, x, w0); a61 = T.Dot(a61, x, w1);
            x = Vector256.Create(*(int*)(p + 7 * ps)).AsByte();
            a70 = T.Dot(a70, x, w0); a71 = T.Dot(a71, x, w1);
        }
        int* r = t.Acc;
        a00.Store(r); a01.Store(r + 8); a10.Store(r + 16); a11.Store(r + 24);
        a20.Store(r + 32); a21.Store(r + 40); a30.Store(r + 48); a31.Store(r + 56);
        a40.Store(r + 64); a41.Store(r + 72); a50.Store(r + 80); a51.Store(r + 88);
        a60.Store(r + 96); a61.Store(r + 104); a70.Store(r + 112); a71.Store(r + 120);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void N256x1<T>(in DenseTile t) where T : struct, IDot256
    {
        sbyte* w = t.W;
        Vector256<int> a00 = default, a01 = default;
        for (int s = 0; s < t.Steps; s++, w += NarrowStep)
        {
            var x = Vector256.Create(*(int*)(t.In + t.ActOff[s])).AsByte();
            a00 = T.Dot(a00, x, Vector256.Load(w)); a01 = T.Dot(a01, x, Vector256.Load(w + 32));
        }
        a00.Store(t.Acc); a01.Store(t.Acc + 8);
    }

    /// <summary>16 channels (one zmm of weights per step) x 8 pixels, summed in 16-bit lanes for Chunk steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void N512x8(in DenseTile t)
    {
        byte* p0 = t.In;
        long ps = t.PixelStride;
        sbyte* w = t.W;
        int* off = t.ActOff;
        var ones = Vector512.Create((short)1);
        Vector512<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int s = 0; s < t.Steps;)
        {
            int end = Math.Min(t.Steps, s + t.Chunk);
            Vector512<short> h0 = default, h1 = default, h2 = default, h3 = default, h4 = default, h5 = default, h6 = default, h7 = default;
            for (; s < end; s++, w += NarrowStep)
            {
                byte* p = p0 + off[s];
                var wv = Vector512.Load(w);
                h0 = Avx512BW.Add(h0, Avx512BW.MultiplyAddAdjacent(Vector512.Create(*(int*)p).AsByte(), wv));
                h1 = Avx512BW.Add(h1, Avx512BW.MultiplyAddAdjacent(Vector512.Create(*(int*)(p + ps)).AsByte(), wv));
                h2 = Avx512BW.Add(h2, Avx512BW.MultiplyAddAdjacent(Vector512.Create(*(int*)(p + 2 * ps)).AsByte(), wv));
                h3 = Avx512BW.Add(h3, Avx512BW.MultiplyAddAdjacent(Vector512.Create(*(int*)(p + 3 * ps)).AsByte(), wv));
                h4 = Avx512BW.Add(h4, Avx512BW.MultiplyAddAdjacent(Vector512.Create(*(int*)(p + 4 * ps)).AsByte(), wv));
                h5 = Avx512BW.Add(h5, Avx512BW.MultiplyAddAdjacent(Vector512.Create(*(int*)(p + 5 * ps)).AsByte(), wv));
                h6 = Avx512BW.Add(h6, Avx512BW.MultiplyAddAdjacent(Vector512.Create(*(int*)(p + 6 * ps)).AsByte(), wv));
                h7 = Avx512BW.Add(h7, Avx512BW.MultiplyAddAdjacent(Vector512.Create(*(int*)(p + 7 * ps)).AsByte(), wv));
            }
            c0 = Avx512F.Add(c0, Avx512BW.MultiplyAddAdjacent(h0, ones)); c1 = Avx512F.Add(c1, Avx512BW.MultiplyAddAdjacent(h1, ones));
            c2 = Avx512F.Add(c2, Avx512BW.MultiplyAddAdjacent(h2, ones)); c3 = Avx512F.Add(c3, Avx512BW.MultiplyAddAdjacent(h3, ones));
            c4 = Avx512F.Add(c4, Avx512BW.MultiplyAddAdjacent(h4, ones)); c5 = Avx512F.Add(c5, Avx512BW.MultiplyAddAdjacent(h5, ones));
            c6 = Avx512F.Add(c6, Avx512BW.MultiplyAddAdjacent(h6, ones)); c7 = Avx512F.Add(c7, Avx512BW.MultiplyAddAdjacent(h7, ones));
        }
        int* r = t.Acc;
        c0.Store(r); c1.Store(r + 16); c2.Store(r + 32); c3.Store(r + 48);
        c4.Store(r + 64); c5.Store(r + 80); c6.Store(r + 96); c7.Store(r + 112);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void N512x1(in DenseTile t)
    {
        sbyte* w = t.W;
        var ones = Vector512.Create((short)1);
        Vector512<int> c0 = default;
        for (int s = 0; s < t.Steps;)
        {
            int end = Math.Min(t.Steps, s + t.Chunk);
            Vector512<short> h0 = default;
            for (; s < end; s++, w += NarrowStep)
                h0 = Avx512BW.Add(h0, Avx512BW.MultiplyAddAdjacent(Vector512.Create(*(int*)(t.In + t.ActOff[s])).AsByte(), Vector512.Load(w)));
            c0 = Avx512F.Add(c0, Avx512BW.MultiplyAddAdjacent(h0, ones));
        }
        c0.Store(t.Acc);
    }

    /// <summary>
    /// The reference: the same sums from the unpacked weights (w[co][step*4 + j], steps-major as the
    /// operands are laid out in the code buffer), plain loops.
    /// </summary>
    public static void Scalar(in DenseTile t, int pixels, sbyte* weights, int rowLength, int coStart, int coCount, int group)
    {
        for (int p = 0; p < pixels; p++)
        {
            byte* x = t.In + p * t.PixelStride;
            for (int c = 0; c < group; c++)
            {
                int sum = 0;
                if (c < coCount)
                {
                    sbyte* w = weights + (long)(coStart + c) * rowLength;
                    for (int s = 0; s < t.Steps; s++)
                    {
                        byte* a = x + t.ActOff[s];
                        sbyte* ws = w + 4 * s;
                        sum += a[0] * ws[0] + a[1] * ws[1] + a[2] * ws[2] + a[3] * ws[3];
                    }
                }
                t.Acc[p * group + c] = sum;
            }
        }
    }

    /// <summary>
    /// Packs operands w[co][k] (k = step*4 + j, co &lt; outChannels) into groups of G channels:
    /// [group][step][G channels][4]. Missing channels are zero.
    /// </summary>
    public static sbyte[] Pack(ReadOnlySpan<sbyte> w, int outChannels, int steps, int group)
    {
        int groups = (outChannels + group - 1) / group, row = steps * 4;
        var packed = GC.AllocateArray<sbyte>(groups * steps * group * 4 + 64, pinned: true);
        for (int co = 0; co < outChannels; co++)
        {
            int g = co / group, ch = co % group;
            for (int s = 0; s < steps; s++)
                for (int j = 0; j < 4; j++)
                    packed[((g * steps + s) * group + ch) * 4 + j] = w[co * row + s * 4 + j];
        }
        return packed;
    }
}
