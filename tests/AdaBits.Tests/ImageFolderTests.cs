using AdaBits.Config;
using AdaBits.Data;
using AdaBits.Training;
using SkiaSharp;

namespace AdaBits.Tests;

public sealed class ImageFolderTests() : TempFolderTests("adabits-imagefolder-test-")
{
    internal static void WriteImage(string path, int w, int h, Func<int, int, (byte R, byte G, byte B)> pixel, bool jpeg = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (r, g, b) = pixel(x, y);
                bmp.SetPixel(x, y, new SKColor(r, g, b, 255));
            }
        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(jpeg ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png, 90);
        File.WriteAllBytes(path, data.ToArray());
    }

    static (byte, byte, byte) Pattern(int x, int y) => ((byte)(x * 3 % 256), (byte)(y * 5 % 256), (byte)((x + y) % 256));

    /// <summary>An ImageNet-style folder: split/class/files, PNG and JPEG of several sizes.</summary>
    void WriteImageNet(string split, int perClass = 3, params string[] classes)
    {
        if (classes.Length == 0) classes = ["n02", "n01", "n10"];
        foreach (string c in classes)
            for (int i = 0; i < perClass; i++)
                WriteImage(Path.Combine(dir, split, c, $"img{i}.{(i % 2 == 0 ? "png" : "JPEG")}"), 40 + 13 * i, 30 + 7 * i, Pattern, jpeg: i % 2 == 1);
    }

    [Fact]
    public void ClassFoldersGiveSortedLabelsAndPngJpegLoad()
    {
        WriteImage(Path.Combine(dir, "b_cat", "x.png"), 20, 10, Pattern);
        WriteImage(Path.Combine(dir, "b_cat", "a.jpg"), 33, 17, Pattern, jpeg: true);
        WriteImage(Path.Combine(dir, "a_dog", "z.PNG"), 8, 50, Pattern);
        WriteImage(Path.Combine(dir, "a_dog", "sub", "y.jpeg"), 64, 48, Pattern, jpeg: true);
        WriteImage(Path.Combine(dir, "C", "q.png"), 31, 29, Pattern);
        File.WriteAllText(Path.Combine(dir, "b_cat", "notes.txt"), "not an image");
        var src = ImageFolderSource.Open(dir, 16, 16);
        Assert.Equal(new[] { "C", "a_dog", "b_cat" }, src.Classes);   // ordinal: upper case first
        Assert.Equal(5, src.Count);
        var byName = Enumerable.Range(0, src.Count).ToDictionary(i => Path.GetFileName(src.Paths[i]), src.Label);
        Assert.Equal(new Dictionary<string, int> { ["q.png"] = 0, ["z.PNG"] = 1, ["y.jpeg"] = 1, ["a.jpg"] = 2, ["x.png"] = 2 }, byName);
        // every file decodes, at its own size
        foreach (string p in src.Paths)
        {
            var (rgba, w, h) = ImageFolderSource.Decode(p);
            Assert.True(w > 0 && h > 0 && rgba.Length >= w * h * 4);
        }
        var (px, pw, ph) = ImageFolderSource.Decode(src.Paths[0]);
        Assert.Equal((31, 29), (pw, ph));
        Assert.Equal(Pattern(5, 7), (px[(7 * 31 + 5) * 4], px[(7 * 31 + 5) * 4 + 1], px[(7 * 31 + 5) * 4 + 2]));
        // the transformed samples carry the same labels
        var t = new TransformSpec(0, false, false, [0f, 0f, 0f], [1f, 1f, 1f]) { Spatial = SpatialTransform.ResizeCenterCrop, Size = 16, ResizeSize = 18 };
        using var loader = new DataLoader(src, 2, shuffle: false, dropLast: false, t, workers: 0, seed: 0);
        var labels = new List<long>();
        foreach (var (x, y) in loader.Epoch(0))
            using (x)
            using (y)
                labels.AddRange(y.data<long>().ToArray());
        Assert.Equal(Enumerable.Range(0, src.Count).Select(i => (long)src.Label(i)), labels);
    }

    static TrainConfig ImageNetConfig(string dir, bool normalize, string? transforms = null, string badImages = "fail") => new()
    {
        Dataset = "imagenet1k", DatasetDir = dir, Normalize = normalize, DataTransforms = transforms, BadImages = badImages,
    };

    static List<(float[] X, long[] Y, long[] Shape)> Collect(DataLoader loader, int epoch) => DataTests.Collect(loader, epoch);

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, null)]
    [InlineData(false, "imagenet1k_inception")]
    public void ImageNetTransformsGive224AndTheRightRange(bool normalize, string? transforms)
    {
        WriteImageNet("train");
        WriteImageNet("val", perClass: 2);
        var config = ImageNetConfig(dir, normalize, transforms);
        var (train, val) = DataSources.Load(config, _ => { }, needTrain: true);
        Assert.Equal((9, 6, 3), (train!.Count, val.Count, val.NumClasses));
        foreach (bool training in new[] { true, false })
        {
            var spec = DataSources.Transform(config, training);
            Assert.Equal(training ? SpatialTransform.RandomResizedCrop : SpatialTransform.ResizeCenterCrop, spec.Spatial);
            using var loader = new DataLoader(training ? train : val, 4, training, dropLast: false, spec, workers: 2, seed: 1);
            var batches = Collect(loader, 0);
            Assert.All(batches, b => Assert.Equal(new long[] { 3, 224, 224 }, b.Shape[1..]));
            var all = batches.SelectMany(b => b.X).ToArray();
            if (transforms == "imagenet1k_inception")
            {
                // normalised to [-1, 1], then the reference's round(255 x)
                Assert.All(all, v => Assert.True(v >= -255 && v <= 255 && v == MathF.Round(v)));
                Assert.Contains(all, v => v < 0);
            }
            else if (!normalize)
            {
                Assert.All(all, v => Assert.True(v >= 0 && v <= 255 && v == MathF.Round(v)));
                Assert.Contains(all, v => v > 100);
            }
            else
            {
                Assert.All(all, v => Assert.True(v >= -2.12f && v <= 2.65f));
                Assert.Contains(all, v => v < 0);
                Assert.Contains(all, v => v != MathF.Round(v));
            }
        }
    }

    [Fact]
    public void CenterCropOfAKnownImage()
    {
        // 300 x 256 (w x h): Resize(256) keeps it (shorter side 256, longer int(256 * 300 / 256) = 300), CenterCrop(224) starts at (38, 16)
        WriteImage(Path.Combine(dir, "val", "a", "k.png"), 300, 256, Pattern);
        // 600 x 512 of one colour: resized to 300 x 256, still one colour
        WriteImage(Path.Combine(dir, "val", "b", "u.png"), 600, 512, (_, _) => (10, 200, 77));
        var src = ImageFolderSource.Open(Path.Combine(dir, "val"), 224, 224);
        var spec = TransformSpec.ForName("imagenet1k_basic", "imagenet1k", normalize: false).ForValidation();
        var lut = spec.Lut(3);
        var dst = new float[3 * 224 * 224];
        Assert.Equal(0, src.Write(0, spec, lut, 123, dst));
        for (int y = 0; y < 224; y += 17)
            for (int x = 0; x < 224; x += 13)
            {
                var (r, g, b) = Pattern(x + 38, y + 16);
                Assert.Equal((r, g, b), ((byte)dst[y * 224 + x], (byte)dst[224 * 224 + y * 224 + x], (byte)dst[2 * 224 * 224 + y * 224 + x]));
            }
        Assert.Equal(1, src.Write(1, spec, lut, 5, dst));
        Assert.All(dst[..(224 * 224)], v => Assert.Equal(10f, v));
        Assert.All(dst[(2 * 224 * 224)..], v => Assert.Equal(77f, v));
        Assert.Equal((256, 341), ImageFolderSource.ResizedSize(256, 341, 256));
        Assert.Equal((341, 256), ImageFolderSource.ResizedSize(500, 375, 256));   // int(256 * 500 / 375) = 341
    }

    [Fact]
    public void BilinearDownscaleUsesPillowsAntialiasedFilter()
    {
        // one row 0, 100, 200, 50 halved: support 2, weights 3/7, 3/7, 1/7 -> 71.43 and 121.43
        byte[] rgba = [0, 0, 0, 255, 100, 100, 100, 255, 200, 200, 200, 255, 50, 50, 50, 255];
        byte[] r = ImageFolderSource.Resample(rgba, 4, 0, 0, 4, 1, 2, 1, 0, 0, 2, 1);
        Assert.Equal(new byte[] { 71, 71, 71, 121, 121, 121 }, r);
        // upscaling 2 -> 4: 0, 25, 75, 100 (0 and 100 at the borders)
        byte[] two = [0, 0, 0, 255, 100, 100, 100, 255];
        Assert.Equal(new byte[] { 0, 25, 75, 100 }, ImageFolderSource.Resample(two, 2, 0, 0, 2, 1, 4, 1, 0, 0, 4, 1).Where((_, i) => i % 3 == 0));
    }

    [Fact]
    public void RandomResizedCropBoxStaysInsideAndFallsBackToTheCentre()
    {
        for (ulong s = 0; s < 2000; s++)
        {
            var (top, left, h, w) = ImageFolderSource.RandomResizedCropBox(375, 500, SampleRandom.Mix(s));
            Assert.True(top >= 0 && left >= 0 && h > 0 && w > 0 && top + h <= 375 && left + w <= 500);
            double area = (double)h * w / (375.0 * 500);
            Assert.True(area >= 0.07 && area <= 1.0, $"area {area}");
        }
        // a 1-pixel-high strip: no try fits the ratio, the fallback is the central crop at ratio 4/3
        Assert.Equal((0, 98, 1, 1), ImageFolderSource.RandomResizedCropBox(1, 197, 42));
    }

    [Fact]
    public void CorruptImageFailsWithItsPathOrIsSkipped()
    {
        WriteImageNet("train");
        WriteImageNet("val", perClass: 1);
        string bad = Path.Combine(dir, "train", "n01", "broken.jpg");
        File.WriteAllBytes(bad, [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5]);   // a JPEG header, then nothing
        string garbage = Path.Combine(dir, "train", "n10", "garbage.png");
        File.WriteAllText(garbage, "this is not a png");

        var failConfig = ImageNetConfig(dir, false);
        var (train, _) = DataSources.Load(failConfig, _ => { }, needTrain: true);
        Assert.Equal(11, train!.Count);
        using (var loader = new DataLoader(train, 4, shuffle: false, dropLast: false, DataSources.Transform(failConfig, true), workers: 2, seed: 0))
        {
            var e = Assert.Throws<InvalidDataException>(() => Collect(loader, 0));
            Assert.True(e.Message.Contains(bad) || e.Message.Contains(garbage), e.Message);
            Assert.Contains("bad_images", e.Message);
        }

        var logs = new List<string>();
        var skipConfig = ImageNetConfig(dir, false, badImages: "skip");
        var (train2, _) = DataSources.Load(skipConfig, l => { lock (logs) logs.Add(l); }, needTrain: true);
        using (var loader = new DataLoader(train2!, 4, shuffle: true, dropLast: false, DataSources.Transform(skipConfig, true), workers: 2, seed: 0))
        {
            var a = Collect(loader, 0);
            Assert.Equal(11, a.Sum(b => b.Y.Length));
            Assert.Contains(logs, l => l.Contains(bad));
            Assert.Contains(logs, l => l.Contains(garbage));
            // the replacement is deterministic
            var b = Collect(loader, 0);
            Assert.Equal(a.Select(x => x.X), b.Select(x => x.X));
            Assert.Equal(a.Select(x => x.Y), b.Select(x => x.Y));
        }
        Assert.Equal("skip", skipConfig.BadImages);
    }

    [Fact]
    public void FolderLoaderIsDeterministicAcrossWorkerCounts()
    {
        WriteImageNet("train", perClass: 4);
        WriteImageNet("val", perClass: 1);
        var config = ImageNetConfig(dir, normalize: true);
        var (train, _) = DataSources.Load(config, _ => { }, needTrain: true);
        var spec = DataSources.Transform(config, training: true);
        List<(float[] X, long[] Y, long[] Shape)> Run(int workers, int epoch)
        {
            using var loader = new DataLoader(train!, 5, shuffle: true, dropLast: false, spec, workers, seed: 11);
            return Collect(loader, epoch);
        }
        var w0 = Run(0, 1);
        foreach (int workers in new[] { 1, 3 })
        {
            var w = Run(workers, 1);
            Assert.Equal(w0.Select(b => b.Y), w.Select(b => b.Y));
            Assert.Equal(w0.Select(b => b.X), w.Select(b => b.X));
        }
        var other = Run(2, 2);
        Assert.NotEqual(w0.SelectMany(b => b.X), other.SelectMany(b => b.X));
    }

    [Fact]
    public void CinicFolderUsesPadCropAt32AndRejectsOtherSizes()
    {
        foreach (string split in new[] { "train", "valid" })
            for (int c = 0; c < 3; c++)
                WriteImage(Path.Combine(dir, split, $"class{c}", "a.png"), 32, 32, Pattern);
        var config = new TrainConfig { Dataset = "CINIC10", DatasetDir = dir };
        var (train, val) = DataSources.Load(config, _ => { }, needTrain: true);
        Assert.Equal((3, 3, 32, 32), (train!.Count, val.Count, val.Height, val.Width));
        var spec = DataSources.Transform(config, training: false);
        Assert.Equal(SpatialTransform.PadCrop, spec.Spatial);
        using var loader = new DataLoader(val, 3, shuffle: false, dropLast: false, spec, workers: 0, seed: 0);
        var x = Collect(loader, 0)[0].X;
        Assert.Equal(Pattern(7, 9).Item1, (byte)x[9 * 32 + 7]);   // raw values, no crop at validation
        WriteImage(Path.Combine(dir, "valid", "class0", "b.png"), 30, 32, Pattern);
        var (_, val2) = DataSources.Load(config, _ => { }, needTrain: false);
        using var loader2 = new DataLoader(val2, 4, shuffle: false, dropLast: false, spec, workers: 0, seed: 0);
        var e = Assert.Throws<InvalidDataException>(() => Collect(loader2, 0));
        Assert.Contains("b.png", e.Message);
    }

    [Fact]
    public void InMemoryDataRefusesImageNetTransforms()
    {
        var ds = new ImageDataset(new byte[3 * 8 * 8], [0], 3, 8, 8);
        var spec = TransformSpec.ForName("imagenet1k_basic", "imagenet1k", false);
        Assert.Throws<ArgumentException>(() => new DataLoader(ds, 1, false, false, spec, 0, 0));
    }

    [Fact]
    public void PythonRandomMatchesCPython()
    {
        // python3: random.seed(0); [random.getrandbits(32) for _ in range(3)]
        var r = new PythonRandom(0);
        Assert.Equal(new uint[] { 3626764237, 1654615998, 3255389356 }, new[] { r.NextUInt32(), r.NextUInt32(), r.NextUInt32() });
        // random.seed(5); x = list(range(10)); random.shuffle(x)
        var x = Enumerable.Range(0, 10).ToList();
        new PythonRandom(5).Shuffle(x);
        Assert.Equal(new[] { 2, 3, 1, 0, 8, 7, 6, 5, 4, 9 }, x);
        var y = Enumerable.Range(0, 10).ToList();
        new PythonRandom((1L << 40) + 7).Shuffle(y);
        Assert.Equal(new[] { 0, 5, 2, 3, 6, 1, 8, 4, 7, 9 }, y);
    }

    [Fact]
    public void Val50kDropsTheFirst50000OfTheSeededShuffle()
    {
        WriteImageNet("train", perClass: 2);
        WriteImageNet("val", perClass: 1);
        var config = new TrainConfig { Dataset = "imagenet1k_val50k", DatasetDir = dir };
        var (train, val) = DataSources.Load(config, _ => { }, needTrain: true);
        Assert.Equal((0, 3), (train!.Count, val.Count));   // fewer than 50 000 training images: nothing left
    }

    /// <summary>Netpbm files, which ImageFolder lists and SkiaSharp cannot decode: binary and ASCII, grey and colour,
    /// a comment in the header, and a smaller maxval scaled as Pillow does (round(v / maxval * 255), half to even).</summary>
    [Fact]
    public void NetpbmImagesDecodeAndTiffIsAClearError()
    {
        string P(string name, string header, byte[] samples)
        {
            string path = Path.Combine(dir, name);
            File.WriteAllBytes(path, [.. System.Text.Encoding.ASCII.GetBytes(header), .. samples]);
            return path;
        }
        var (rgba, w, h) = ImageFolderSource.Decode(P("g.pgm", "P5\n# made by a test\n3 2\n255\n", [0, 7, 255, 128, 1, 2]));
        Assert.Equal((3, 2), (w, h));
        Assert.Equal(new byte[] { 0, 0, 0, 255, 7, 7, 7, 255, 255, 255, 255, 255 }, rgba[..12]);
        Assert.Equal(new byte[] { 128, 128, 128, 255 }, rgba[12..16]);
        (rgba, w, h) = ImageFolderSource.Decode(P("c.ppm", "P6 2 1 255\n", [1, 2, 3, 250, 251, 252]));
        Assert.Equal((2, 1), (w, h));
        Assert.Equal(new byte[] { 1, 2, 3, 255, 250, 251, 252, 255 }, rgba[..8]);
        // maxval 6: 1/6*255 = 42.5 -> 42 (to even), 3/6*255 = 127.5 -> 128, 6 -> 255; ASCII grey
        (rgba, _, _) = ImageFolderSource.Decode(P("a.pgm", "P2\n3 1\n6\n1 3 6\n", []));
        Assert.Equal(new byte[] { 42, 128, 255 }, new[] { rgba[0], rgba[4], rgba[8] });
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderSource.Decode(P("t.tif", "II*\0", new byte[16])));
        Assert.Contains("TIFF", e.Message);
        e = Assert.Throws<InvalidDataException>(() => ImageFolderSource.Decode(P("short.pgm", "P5 4 4 255\n", [1, 2, 3])));
        Assert.Contains("truncated", e.Message);
    }
}
