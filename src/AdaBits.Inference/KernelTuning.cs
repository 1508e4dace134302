using System.Diagnostics;

namespace AdaBits.Inference;

/// <summary>
/// Load-time choice among a dense layer's candidate kernels by their measured speed (EngineOptions.TuneAtLoad):
/// each candidate runs the layer's dot products (the table lookup: its tables too) over a few output rows of a
/// zero image, best of several runs; the epilogue, the same for every candidate, is left out.
/// The kernels' speed does not depend on the data, so a zero image times them as a real one would.
/// </summary>
internal static unsafe class KernelTuning
{
    public static DenseSlot Fastest(DenseSlot[] candidates, LayerSpec l, CodeView view, int steps, int group)
    {
        if (candidates.Length == 1) return candidates[0];
        int outW = (view.Shape.W + 2 * l.PadW - l.KernelW) / l.StrideW + 1;
        int outH = (view.Shape.H + 2 * l.PadH - l.KernelH) / l.StrideH + 1;
        int rows = Math.Min(outH, Math.Max(1, 2048 / outW));
        var image = GC.AllocateArray<byte>((int)view.ImageBytes + 64, pinned: true);
        var actOff = GC.AllocateArray<int>(steps, pinned: true);
        int taps = l.KernelH * l.KernelW, cp4 = view.Cp / 4;
        for (int t = 0; t < taps; t++)
            for (int c4 = 0; c4 < cp4; c4++)
                actOff[t * cp4 + c4] = ((t / l.KernelW) * view.Wp + t % l.KernelW) * view.Cp + c4 * 4;
        var acc = GC.AllocateArray<int>(Math.Max(8 * DenseKernels.Group, LutKernels.RowPixels(outW) * LutKernels.PixelInts(l.OutChannels)), pinned: true);
        var tables = candidates.Any(c => c.Path == KernelPath.Lut) ? GC.AllocateArray<byte>(steps * LutKernels.StepTableBytes, pinned: true) : [];
        // best of 5, the candidates in turn (so that a change in the host's speed touches them all); after two
        // rounds only those within 25% of the fastest go on, which cut MobileNet V1's load time (six bit-widths)
        var ticks = Enumerable.Repeat(long.MaxValue, candidates.Length).ToArray();
        var alive = Enumerable.Range(0, candidates.Length).ToList();
        for (int rep = 0; rep < 5; rep++)
        {
            foreach (int i in alive)
            {
                var c = candidates[i];
                ticks[i] = Math.Min(ticks[i], c.Path == KernelPath.Lut ? TimeLut(c, l, view, steps, outW, rows, image, actOff, acc, tables)
                    : Time(c, l, view, steps, group, outW, rows, image, actOff, acc));
            }
            if (rep == 1) alive.RemoveAll(i => ticks[i] > 1.25 * ticks.Min());
        }
        return candidates[Array.IndexOf(ticks, ticks.Min())];
    }

    /// <summary>The lookup path over the same rows, through the session's own row walk (<see cref="LutKernels.Row"/>).</summary>
    static long TimeLut(DenseSlot s, LayerSpec l, CodeView view, int steps, int outW, int rows, byte[] image, int[] actOff, int[] acc, byte[] tables)
    {
        fixed (byte* img = image, index = s.LutIndex, tab = tables)
        fixed (int* off = actOff, a = acc)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int r = 0; r < rows; r++)
                LutKernels.Row(img + ((long)(r * l.StrideH + view.PadH - l.PadH) * view.Wp + view.PadW - l.PadW) * view.Cp, l.StrideW * view.Cp,
                    outW, off, steps, tab, index, s.LutPlanes, s.LutByteSteps, s.LutWordChunks, l.OutChannels, a);
            return Stopwatch.GetTimestamp() - t0;
        }
    }

    static long Time(DenseSlot s, LayerSpec l, CodeView view, int steps, int group, int outW, int rows, byte[] image, int[] actOff, int[] acc)
    {
        int groups = (l.OutChannels + group - 1) / group, tilePx = DenseKernels.TilePixels(s.Path, group);
        fixed (byte* img = image)
        fixed (int* off = actOff, a = acc)
        fixed (sbyte* packed = s.Packed, hi = s.PackedHi)
        {
            var tile = new DenseTile { PixelStride = l.StrideW * view.Cp, ActOff = off, Steps = steps, Chunk = s.Chunk, Acc = a };
            long t0 = Stopwatch.GetTimestamp();
            for (int r = 0; r < rows; r++)
                for (int g = 0; g < groups; g++)
                    for (int done = 0; done < outW;)
                    {
                        int x = DenseKernels.TileStart(done, outW, tilePx, out int px);
                        tile.In = img + ((long)(r * l.StrideH + view.PadH - l.PadH) * view.Wp + x * l.StrideW + view.PadW - l.PadW) * view.Cp;
                        tile.W = packed + (long)g * steps * group * 4;
                        DenseKernels.Run(s.Path, tile, px, group);
                        if (hi != null)
                        {
                            tile.W = hi + (long)g * steps * group * 4;
                            DenseKernels.Run(s.Path, tile, px, group);
                        }
                        done = x + px;
                    }
            return Stopwatch.GetTimestamp() - t0;
        }
    }
}
