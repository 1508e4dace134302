using System.Diagnostics;

namespace AdaBits.Inference;

/// <summary>
/// Load-time choice among a dense layer's candidate kernels by their measured speed (EngineOptions.TuneAtLoad):
/// each candidate runs the layer's tiles over a few output rows of a zero image, best of several runs.
/// The kernels' speed does not depend on the data, so a zero image times them as a real one would.
/// </summary>
internal static unsafe class KernelTuning
{
    public static DenseSlot Fastest(DenseSlot[] candidates, LayerSpec l, CodeView view, int steps, int group)
    {
        if (candidates.Length == 1) return candidates[0];
        int outW = (view.Shape.W + 2 * l.PadW - l.KernelW) / l.StrideW + 1;
        int outH = (view.Shape.H + 2 * l.PadH - l.KernelH) / l.StrideH + 1;
        int rows = Math.Min(outH, Math.Max(1, 4096 / outW));
        var image = GC.AllocateArray<byte>((int)view.ImageBytes + 64, pinned: true);
        var actOff = GC.AllocateArray<int>(steps, pinned: true);
        int taps = l.KernelH * l.KernelW, cp4 = view.Cp / 4;
        for (int t = 0; t < taps; t++)
            for (int c4 = 0; c4 < cp4; c4++)
                actOff[t * cp4 + c4] = ((t / l.KernelW) * view.Wp + t % l.KernelW) * view.Cp + c4 * 4;
        var acc = GC.AllocateArray<int>(8 * DenseKernels.Group, pinned: true);
        DenseSlot best = candidates[0];
        long bestTicks = long.MaxValue;
        foreach (var c in candidates)
        {
            long ticks = long.MaxValue;
            for (int rep = 0; rep < 5; rep++) ticks = Math.Min(ticks, Time(c, l, view, steps, group, outW, rows, image, actOff, acc));
            if (ticks < bestTicks) (best, bestTicks) = (c, ticks);
        }
        return best;
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
                    for (int x = 0; x + Math.Min(tilePx, outW) <= outW; x += tilePx)
                    {
                        int px = outW >= tilePx ? tilePx : 1;
                        tile.In = img + ((long)(r * l.StrideH + view.PadH - l.PadH) * view.Wp + x * l.StrideW + view.PadW - l.PadW) * view.Cp;
                        tile.W = packed + (long)g * steps * group * 4;
                        DenseKernels.Run(s.Path, tile, px, group);
                        if (hi != null)
                        {
                            tile.W = hi + (long)g * steps * group * 4;
                            DenseKernels.Run(s.Path, tile, px, group);
                        }
                    }
            return Stopwatch.GetTimestamp() - t0;
        }
    }
}
