using System.IO.Compression;
using AdaBits.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

public sealed class DataTests() : TempFolderTests("adabits-data-test-")
{
    // ---- IDX files written by the tests ----

    static byte[] Idx(int dimsCount, int[] dims, byte[] data, int typeByte = 0x08)
    {
        var ms = new MemoryStream();
        ms.Write([0, 0, (byte)typeByte, (byte)dimsCount]);
        foreach (int d in dims) ms.Write([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        ms.Write(data);
        return ms.ToArray();
    }

    static byte[] Gzip(byte[] raw)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        return ms.ToArray();
    }

    string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static byte[] Ramp(int n, int mul = 7) => Enumerable.Range(0, n).Select(i => (byte)(i * mul % 256)).ToArray();

    [Theory]
    [InlineData(false, "imgs")]
    [InlineData(true, "imgs.gz")]
    [InlineData(true, "imgs-no-suffix")]   // gzip is recognised by its magic, not the name
    public void IdxReaderReadsImagesAndLabels(bool gzip, string name)
    {
        byte[] pix = Ramp(3 * 4 * 5);
        byte[] img = Idx(3, [3, 4, 5], pix), lab = Idx(1, [3], [2, 0, 1]);
        string ip = Write(name, gzip ? Gzip(img) : img), lp = Write(name + "-labels", gzip ? Gzip(lab) : lab);
        var images = IdxReader.ReadImages(ip);
        Assert.Equal((3, 4, 5), (images.Count, images.Rows, images.Cols));
        Assert.Equal(pix, images.Pixels);
        Assert.Equal(new byte[] { 2, 0, 1 }, IdxReader.ReadLabels(lp));
        var ds = IdxReader.ReadPair(ip, lp);
        Assert.Equal((3, 1, 4, 5, 3), (ds.Count, ds.Channels, ds.Height, ds.Width, ds.NumClasses));
        Assert.Equal(new[] { 2, 0, 1 }, ds.Labels);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IdxReaderRejectsTruncatedImages(bool gzip)
    {
        byte[] img = Idx(3, [3, 4, 5], Ramp(3 * 4 * 5 - 1));
        string p = Write("trunc", gzip ? Gzip(img) : img);
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(p));
        Assert.Contains(p, e.Message);
        Assert.Contains("truncated", e.Message);
        string h = Write("trunc-header", Idx(3, [3, 4, 5], [])[..10]);
        e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(h));
        Assert.Contains(h, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void IdxReaderRejectsBadMagicAndWrongDims()
    {
        string p = Write("magic", Idx(3, [1, 1, 1], [0], typeByte: 0x0D));
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(p));
        Assert.Contains(p, e.Message);
        Assert.Contains("magic", e.Message);
        string labels = Write("labels-as-images", Idx(1, [2], [0, 1]));
        e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(labels));
        Assert.Contains(labels, e.Message);
        Assert.Contains("dimensions", e.Message);
        string text = Write("not-idx.txt", "hello world"u8.ToArray());
        e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(text));
        Assert.Contains(text, e.Message);
        string badGz = Write("bad.gz", [0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(badGz));
        Assert.Contains(badGz, e.Message);
    }

    [Fact]
    public void IdxReaderRejectsLabelCountMismatchAndOutOfRangeLabels()
    {
        string ip = Write("i", Idx(3, [3, 2, 2], Ramp(12)));
        string lp = Write("l", Idx(1, [2], [0, 1]));
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadPair(ip, lp));
        Assert.Contains(lp, e.Message);
        Assert.Contains("2 labels", e.Message);
        string lp3 = Write("l3", Idx(1, [3], [0, 1, 10]));
        e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadPair(ip, lp3, numClasses: 10));
        Assert.Contains(lp3, e.Message);
        Assert.Equal(11, IdxReader.ReadPair(ip, lp3).NumClasses);
    }

    // ---- MNIST folder ----

    void WriteFakeMnist(string folder, int train, int val, bool gzip)
    {
        Directory.CreateDirectory(folder);
        void W(string name, byte[] bytes) => File.WriteAllBytes(Path.Combine(folder, name + (gzip ? ".gz" : "")), gzip ? Gzip(bytes) : bytes);
        W("train-images-idx3-ubyte", Idx(3, [train, 28, 28], Ramp(train * 784, 3)));
        W("train-labels-idx1-ubyte", Idx(1, [train], Enumerable.Range(0, train).Select(i => (byte)(i % 10)).ToArray()));
        W("t10k-images-idx3-ubyte", Idx(3, [val, 28, 28], Ramp(val * 784, 5)));
        W("t10k-labels-idx1-ubyte", Idx(1, [val], Enumerable.Range(0, val).Select(i => (byte)(9 - i % 10)).ToArray()));
    }

    [Theory]
    [InlineData("MNIST", false)]
    [InlineData("fashionmnist", true)]
    public void MnistFamilyLoadsAFolder(string dataset, bool gzip)
    {
        string folder = Path.Combine(dir, "mnist");
        WriteFakeMnist(folder, 12, 5, gzip);
        Assert.True(MnistFamily.HasFiles(dataset, folder));
        var (train, val) = MnistFamily.Load(dataset, folder);
        Assert.Equal((12, 1, 28, 28, 10), (train.Count, train.Channels, train.Height, train.Width, train.NumClasses));
        Assert.Equal((5, 10), (val.Count, val.NumClasses));
        Assert.Equal(Ramp(12 * 784, 3), train.Pixels);
        Assert.Equal(new[] { 9, 8, 7, 6, 5 }, val.Labels);
        var few = train.Take(3);
        Assert.Equal((3, 10), (few.Count, few.NumClasses));
        Assert.Equal(train.Pixels[..(3 * 784)], few.Pixels);
        Assert.Equal(train.Labels[..3], few.Labels);
        Assert.Same(train, train.Take(100));
    }

    [Theory]
    [InlineData("MNIST", "mnist")]
    [InlineData("FashionMNIST", "fashion-mnist")]
    public void MnistFamilyMissingFileSaysHowToFetch(string dataset, string fetchName)
    {
        string folder = Path.Combine(dir, "partial");
        WriteFakeMnist(folder, 2, 2, gzip: false);
        File.Delete(Path.Combine(folder, "t10k-labels-idx1-ubyte"));
        Assert.False(MnistFamily.HasFiles(dataset, folder));
        var e = Assert.Throws<FileNotFoundException>(() => MnistFamily.Load(dataset, folder));
        Assert.Contains("t10k-labels-idx1-ubyte", e.Message);
        Assert.Contains(folder, e.Message);
        Assert.Contains($"data fetch {fetchName} --dir {folder}", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    /// <summary>The real data sets, when a fetched folder is named by ADABITS_TEST_MNIST_DIR / ADABITS_TEST_FASHION_MNIST_DIR
    /// (nothing is downloaded here; without the variables the test has nothing to check).</summary>
    [Theory]
    [InlineData("MNIST", "ADABITS_TEST_MNIST_DIR")]
    [InlineData("FashionMNIST", "ADABITS_TEST_FASHION_MNIST_DIR")]
    public void RealDataSetWhenPresent(string dataset, string variable)
    {
        if (Environment.GetEnvironmentVariable(variable) is not { Length: > 0 } folder) return;
        var (train, val) = MnistFamily.Load(dataset, folder);
        Assert.Equal((60000, 10000, 10, 10), (train.Count, val.Count, train.NumClasses, val.NumClasses));
        Assert.Equal(1000, val.Labels.Count(l => l == 0) + (dataset == "MNIST" ? 1000 - 980 : 0));   // t10k: 980 zeros in MNIST, 1000 per class in Fashion
        Assert.Equal(60000L * 784, train.Pixels.LongLength);
    }

    // ---- hashes ----

    [Fact]
    public void Sha256CheckRejectsAWrongFile()
    {
        string p = Write("abc", "abc"u8.ToArray());
        const string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        Assert.Equal(abc, DatasetFetcher.Sha256Hex(p));
        Assert.True(DatasetFetcher.VerifySha256(p, abc.ToUpperInvariant()));
        DatasetFetcher.CheckSha256(p, abc);
        string q = Write("abd", "abd"u8.ToArray());
        Assert.False(DatasetFetcher.VerifySha256(q, abc));
        var e = Assert.Throws<InvalidDataException>(() => DatasetFetcher.CheckSha256(q, abc));
        Assert.Contains(q, e.Message);
        Assert.Contains("SHA-256", e.Message);
    }

    [Fact]
    public void WriteVerifiedLeavesNoFileOnAMismatch()
    {
        string target = Path.Combine(dir, "out", "train-images-idx3-ubyte");
        const string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        var e = Assert.Throws<InvalidDataException>(() => DatasetFetcher.WriteVerified(target, abc, s => s.Write("abd"u8)));
        Assert.Contains(target, e.Message);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(target)!));
        DatasetFetcher.WriteVerified(target, abc, s => s.Write("abc"u8));
        Assert.Equal("abc", File.ReadAllText(target));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(target)!));
    }

    [Fact]
    public void FetchRejectsUnknownNames()
    {
        var e = Assert.Throws<ArgumentException>(() => DatasetFetcher.Fetch("cifar10", dir));
        Assert.Contains("mnist", e.Message);
    }

    // ---- transforms ----

    [Fact]
    public void TransformSpecNames()
    {
        var m = TransformSpec.ForName(null, "MNIST", normalize: true);
        Assert.Equal((0, false, true), (m.CropPadding, m.HorizontalFlip, m.Normalize));
        Assert.Equal(new[] { 0.1307f }, m.Mean);
        Assert.Equal(new[] { 0.3530f }, TransformSpec.ForName(null, "FashionMNIST", true).Std);
        var c = TransformSpec.ForName("cifar", "CIFAR10", normalize: false);
        Assert.Equal((4, true, false), (c.CropPadding, c.HorizontalFlip, c.Normalize));
        Assert.Equal(new[] { 0.2023f, 0.1994f, 0.2010f }, c.Std);
        Assert.Equal(new[] { 0.4789f, 0.4723f, 0.4305f }, TransformSpec.ForName(null, "CINIC10", true).Mean);
        var o = TransformSpec.ForName("mnist", "MNIST", false, cropPadding: 2, flip: true);
        Assert.Equal((2, true), (o.CropPadding, o.HorizontalFlip));
        Assert.Equal((0, false), (c.ForValidation().CropPadding, c.ForValidation().HorizontalFlip));
        var e = Assert.Throws<ArgumentException>(() => TransformSpec.ForName("imagenet1k_fancy", "MNIST", false));
        Assert.Contains("imagenet1k_fancy", e.Message);
        Assert.Contains("cifar", e.Message);
    }

    // ---- loader ----

    static ImageDataset Synthetic(int n, int c, int h, int w, int seed = 1)
    {
        var rng = new Random(seed);
        var pix = new byte[n * c * h * w];
        rng.NextBytes(pix);
        return new ImageDataset(pix, Enumerable.Range(0, n).Select(i => i % 7).ToArray(), c, h, w);
    }

    static TransformSpec Plain(int channels, bool normalize = false) =>
        new(0, false, normalize, Enumerable.Repeat(0.25f, channels).ToArray(), Enumerable.Repeat(0.5f, channels).ToArray());

    /// <summary>Every batch of an epoch as arrays (the batches disposed).</summary>
    internal static List<(float[] X, long[] Y, long[] Shape)> Collect(DataLoader loader, int epoch)
    {
        var list = new List<(float[], long[], long[])>();
        foreach (var (x, y) in loader.Epoch(epoch))
            using (x)
            using (y)
                list.Add((x.data<float>().ToArray(), y.data<long>().ToArray(), x.shape));
        return list;
    }

    [Fact]
    public void LoaderShapesDtypesAndRawPixels()
    {
        var ds = Synthetic(10, 3, 4, 5);
        using var loader = new DataLoader(ds, 4, shuffle: false, dropLast: false, Plain(3), workers: 0, seed: 0);
        Assert.Equal(3, loader.BatchesPerEpoch);
        int seen = 0;
        foreach (var (x, y) in loader.Epoch(0))
            using (x)
            using (y)
            {
                Assert.Equal(ScalarType.Float32, x.dtype);
                Assert.Equal(ScalarType.Int64, y.dtype);
                int n = Math.Min(4, 10 - seen);
                Assert.Equal(new long[] { n, 3, 4, 5 }, x.shape);
                Assert.Equal(new long[] { n }, y.shape);
                float[] xs = x.data<float>().ToArray();
                for (int i = 0; i < xs.Length; i++) Assert.Equal(ds.Pixels[seen * 60 + i], xs[i]);
                Assert.Equal(ds.Labels[seen..(seen + n)].Select(l => (long)l), y.data<long>().ToArray());
                seen += n;
            }
        Assert.Equal(10, seen);
        using var drop = new DataLoader(ds, 4, false, dropLast: true, Plain(3), 0, 0);
        Assert.Equal(2, drop.BatchesPerEpoch);
        var batches = Collect(drop, 0);
        Assert.Equal(2, batches.Count);
        Assert.All(batches, b => Assert.Equal(4, b.Shape[0]));
    }

    [Fact]
    public void LoaderNormalizes()
    {
        var ds = Synthetic(6, 2, 3, 3);
        var spec = new TransformSpec(0, false, true, [0.4914f, 0.1f], [0.2023f, 0.3f]);
        using var loader = new DataLoader(ds, 6, false, false, spec, 0, 0);
        float[] xs = Collect(loader, 0)[0].X;
        for (int i = 0; i < xs.Length; i++)
        {
            int c = i / 9 % 2;
            float expected = ((float)ds.Pixels[i] / 255f - spec.Mean[c]) / spec.Std[c];
            Assert.Equal(expected, xs[i]);
            Assert.Equal((ds.Pixels[i] / 255.0 - spec.Mean[c]) / spec.Std[c], xs[i], 1e-5);
        }
        Assert.Throws<ArgumentException>(() => new DataLoader(ds, 6, false, false, TransformSpec.ForName("cifar", "CIFAR10", true), 0, 0));
    }

    [Fact]
    public void LoaderIsAPureFunctionOfSeedAndEpoch()
    {
        var ds = Synthetic(53, 1, 6, 6);
        var spec = new TransformSpec(2, true, false, [0f], [1f]);
        List<(float[] X, long[] Y, long[] Shape)> Run(int workers, int epoch, int seed = 5, int prefetch = 4)
        {
            using var l = new DataLoader(ds, 8, shuffle: true, dropLast: false, spec, workers, seed, prefetch);
            return Collect(l, epoch);
        }
        var a = Run(0, 3);
        Assert.Equal(7, a.Count);
        foreach (var (workers, prefetch) in new[] { (1, 4), (3, 4), (3, 1), (2, 2) })
        {
            var b = Run(workers, 3, prefetch: prefetch);
            Assert.Equal(a.Count, b.Count);
            for (int i = 0; i < a.Count; i++)
            {
                Assert.Equal(a[i].X, b[i].X);
                Assert.Equal(a[i].Y, b[i].Y);
            }
        }
        using (var l = new DataLoader(ds, 8, true, false, spec, 2, 5))
        {
            var first = Collect(l, 3);
            var again = Collect(l, 3);
            Assert.Equal(a.SelectMany(b => b.X), first.SelectMany(b => b.X));
            Assert.Equal(first.SelectMany(b => b.X), again.SelectMany(b => b.X));
            Assert.Equal(l.Order(3), l.Order(3));
            Assert.NotEqual(l.Order(3), l.Order(4));
            var sorted = l.Order(4).ToArray();
            Array.Sort(sorted);
            Assert.Equal(Enumerable.Range(0, 53), sorted);
        }
        Assert.NotEqual(a.SelectMany(b => b.Y), Run(0, 4).SelectMany(b => b.Y));
        Assert.NotEqual(a.SelectMany(b => b.Y), Run(0, 3, seed: 6).SelectMany(b => b.Y));
        // every sample once per epoch
        Assert.Equal(ds.Labels.Select(l => (long)l).Order(), a.SelectMany(b => b.Y).Order());
    }

    [Fact]
    public void LoaderStopsEarlyWithoutLeaking()
    {
        var ds = Synthetic(200, 1, 8, 8);
        using var loader = new DataLoader(ds, 4, true, false, Plain(1), workers: 3, seed: 1, prefetch: 2);
        for (int round = 0; round < 5; round++)
        {
            int k = 0;
            foreach (var (x, y) in loader.Epoch(round))
            {
                x.Dispose();
                y.Dispose();
                if (++k == 3) break;
                Assert.True(loader.LiveWorkers > 0);
            }
            Assert.Equal(3, k);
            Assert.Equal(0, loader.LiveWorkers);
        }
        // after the early exits the loader still delivers full epochs
        Assert.Equal(50, Collect(loader, 0).Count);
        loader.Dispose();
        Assert.Throws<ObjectDisposedException>(() => loader.Epoch(0));
    }

    [Fact]
    public void CropIsAZeroPaddedShiftAndFlipMirrors()
    {
        const int H = 5, W = 6, P = 2;
        var pix = Enumerable.Range(1, H * W).Select(i => (byte)i).ToArray();   // nonzero, all distinct
        int n = 64;
        var ds = new ImageDataset(Enumerable.Repeat(pix, n).SelectMany(p => p).ToArray(), new int[n], 1, H, W);
        using var loader = new DataLoader(ds, n, false, false, new TransformSpec(P, false, false, [0f], [1f]), 0, 9);
        float[] xs = Collect(loader, 0)[0].X;
        var shifts = new HashSet<(int, int)>();
        for (int k = 0; k < n; k++)
        {
            float[] img = xs[(k * H * W)..((k + 1) * H * W)];
            var (dy, dx, flip) = loader.Augmentation(0, k);
            Assert.False(flip);
            Assert.InRange(dy, 0, 2 * P);
            Assert.InRange(dx, 0, 2 * P);
            // find the shift that explains the output: out[y, x] = in[y + sy, x + sx], else 0
            bool found = false;
            for (int sy = -P; sy <= P && !found; sy++)
                for (int sx = -P; sx <= P && !found; sx++)
                {
                    bool ok = true;
                    for (int y = 0; y < H && ok; y++)
                        for (int x = 0; x < W && ok; x++)
                        {
                            int yy = y + sy, xx = x + sx;
                            float want = yy >= 0 && yy < H && xx >= 0 && xx < W ? pix[yy * W + xx] : 0f;
                            ok = img[y * W + x] == want;
                        }
                    if (ok)
                    {
                        found = true;
                        shifts.Add((sy, sx));
                        Assert.Equal((dy - P, dx - P), (sy, sx));
                    }
                }
            Assert.True(found, $"image {k} is not a zero-padded shift of the input");
        }
        Assert.True(shifts.Count > 10, $"only {shifts.Count} distinct crops in {n} samples");

        using var flipper = new DataLoader(ds, n, false, false, new TransformSpec(0, true, false, [0f], [1f]), 0, 9);
        float[] fs = Collect(flipper, 0)[0].X;
        int flipped = 0;
        for (int k = 0; k < n; k++)
        {
            bool flip = flipper.Augmentation(0, k).Flip;
            flipped += flip ? 1 : 0;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    Assert.Equal(pix[y * W + (flip ? W - 1 - x : x)], fs[k * H * W + y * W + x]);
        }
        Assert.InRange(flipped, 16, 48);
    }

    [Fact]
    public void CropPadsWithNormalizedZeros()
    {
        var pix = Enumerable.Repeat((byte)200, 9).ToArray();
        var ds = new ImageDataset(Enumerable.Repeat(pix, 32).SelectMany(p => p).ToArray(), new int[32], 1, 3, 3);
        var spec = new TransformSpec(1, false, true, [0.5f], [0.25f]);
        using var loader = new DataLoader(ds, 32, false, false, spec, 0, 3);
        float[] xs = Collect(loader, 0)[0].X;
        float zero = (0f / 255f - 0.5f) / 0.25f, full = (200f / 255f - 0.5f) / 0.25f;
        Assert.All(xs, v => Assert.True(v == zero || v == full));
        Assert.Contains(zero, xs);
    }
}
