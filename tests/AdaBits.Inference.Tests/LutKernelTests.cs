using AdaBits.Inference;
using Xunit;

public unsafe class LutKernelTests
{
    /// <summary>One tile of the lookup kernel against sums written out: 1 to 3 planes, byte sums of one step
    /// (6-bit activations) to 21, word sums over several chunks (1000 steps), fewer pixels than a tile.</summary>
    [Theory]
    [InlineData(1, 2, 5, 7)]
    [InlineData(1, 2, 200, 7)]
    [InlineData(2, 2, 5, 7)]
    [InlineData(2, 2, 21, 7)]
    [InlineData(2, 2, 22, 7)]
    [InlineData(2, 2, 200, 9)]
    [InlineData(3, 6, 40, 3)]
    [InlineData(2, 4, 1000, 4)]
    public void A_tile_equals_its_sums(int planes, int activationBits, int steps, int pixels)
    {
        var rng = new Random(steps);
        int stride = steps * 4, px = Math.Min(pixels, LutKernels.TilePixels);
        int wMin = -(1 << (planes - 1));
        var codes = GC.AllocateArray<byte>(pixels * stride + 64, pinned: true);
        for (int i = 0; i < codes.Length; i++) codes[i] = (byte)rng.Next(1 << activationBits);
        var w = new sbyte[LutKernels.Block * stride];
        for (int i = 0; i < w.Length; i++) w[i] = (sbyte)(wMin + rng.Next(1 << planes));
        var index = LutKernels.Index(w, LutKernels.Block, steps, wMin, planes);
        for (int q = 0; q < planes; q++)
        {
            int nib = 0;
            for (int j = 0; j < 4; j++) nib |= ((w[j] - wMin) >> q & 1) << j;
            Assert.True(nib == index[q * LutKernels.Block], $"plane {q}: index {index[q * LutKernels.Block]} expected {nib}");
        }
        var off = GC.AllocateArray<int>(steps, pinned: true);
        for (int s = 0; s < steps; s++) off[s] = s * 4;
        var tables = GC.AllocateArray<byte>(steps * LutKernels.StepTableBytes, pinned: true);
        // pixels further apart than a block (as in a row of several blocks): the gaps must stay untouched
        const int pixelStride = LutKernels.Block + 48, sentinel = 0x5a5a5a5a;
        var acc = GC.AllocateArray<int>(LutKernels.TilePixels * pixelStride, pinned: true);
        acc.AsSpan().Fill(sentinel);
        fixed (byte* c = codes, t = tables, ix = index)
        fixed (int* o = off, a = acc)
        {
            LutKernels.Tables(c, stride, px, o, steps, t);
            LutKernels.Run(t, ix, steps, planes, LutKernels.ByteSteps(activationBits), LutKernels.WordChunks(planes), a, pixelStride);
        }
        for (int p = 0; p < px; p++)
            for (int co = 0; co < LutKernels.Block; co++)
            {
                long sum = 0;
                for (int k = 0; k < stride; k++) sum += codes[p * stride + k] * (w[co * stride + k] - wMin);
                Assert.True(sum == acc[p * pixelStride + co], $"planes {planes} ab {activationBits} steps {steps}: pixel {p} channel {co}: {acc[p * pixelStride + co]}, expected {sum}");
            }
        for (int p = 0; p < LutKernels.TilePixels; p++)
            Assert.All(acc.AsSpan(p * pixelStride + LutKernels.Block, pixelStride - LutKernels.Block).ToArray(), x => Assert.Equal(sentinel, x));
    }
}
