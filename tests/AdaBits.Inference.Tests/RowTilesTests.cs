using AdaBits.Inference;
using Xunit;

/// <summary>The walk over an output row's tiles that the session and the load-time tuner share: every pixel is
/// computed and no tile reads past the row (the tuner once stopped at the last whole tile: 4 of 7 pixels).</summary>
public class RowTilesTests
{
    static void AssertCovers(int ow, Func<int, (int Start, int Px)> next, int tilePx, bool narrowWhole)
    {
        var seen = new bool[ow];
        int tiles = 0;
        for (int done = 0; done < ow; tiles++)
        {
            var (start, px) = next(done);
            Assert.True(start >= 0 && start + px <= ow, $"row {ow}: tile [{start}, {start + px}) outside the row");
            Assert.True(start + px > done, $"row {ow}: a tile that adds nothing");
            Assert.Equal(ow >= tilePx ? tilePx : narrowWhole ? ow : 1, px);
            for (int i = start; i < start + px; i++) seen[i] = true;
            done = start + px;
        }
        Assert.All(seen, Assert.True);
        Assert.Equal(ow >= tilePx ? (ow + tilePx - 1) / tilePx : narrowWhole ? 1 : ow, tiles);
    }

    [Fact]
    public void Dense_tiles_cover_every_pixel_of_a_row()
    {
        foreach (int tilePx in new[] { 4, 8 })
            for (int ow = 1; ow <= 30; ow++)
                AssertCovers(ow, done => (DenseKernels.TileStart(done, ow, tilePx, out int px), px), tilePx, narrowWhole: false);
    }

    [Fact]
    public void Lookup_tiles_cover_every_pixel_of_a_row()
    {
        for (int ow = 1; ow <= 30; ow++)
            AssertCovers(ow, done => (LutKernels.TileStart(done, ow, out int px), px), LutKernels.TilePixels, narrowWhole: true);
    }
}
