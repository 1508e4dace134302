using System.Collections;
using System.IO.Compression;
using System.Text;
using AdaBits.Checkpoints;
using AdaBits.Config;
using AdaBits.Data;
using SkiaSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests.Fuzz;

/// <summary>
/// Seeded mutation fuzzing of every parser of outside input (bounded: a few thousand inputs each, seconds in
/// all): each input parses or gives the parser's one-line error, never another exception, a hang or a huge
/// allocation. Inputs that once failed are kept in Data/fuzz/&lt;target&gt;/ and run first.
/// </summary>
public class ParserFuzzTests() : TempFolderTests("adabits-fuzz-")
{
    string File(string name, byte[] bytes)
    {
        string path = Path.Combine(dir, name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Yaml_config_loader()
    {
        var seeds = Directory.GetFiles(Path.Combine(Mnist.RepoRoot(), "apps"), "*.yml", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal).Select(System.IO.File.ReadAllBytes).ToList();
        seeds.Add(Encoding.UTF8.GetBytes("""
            base: &b {dataset: MNIST, batch_size: 64}
            <<: *b
            model: models.q_mnist_cnn
            bits_list: [8, [4, 2], 2]
            lr: 0.1
            lr_scheduler: multistep
            multistep_lr_milestones: [1, 2]
            num_epochs: 3
            optimizer: sgd
            log_dir: !!str /tmp/x
            topk: [1]
            """));
        string source = Path.Combine(dir, "fuzz.yml");
        FuzzHarness.Run("yaml", seeds, count: 4000, seed: 1601,
            input => ConfigLoader.FromYamlText(Encoding.UTF8.GetString(input), source, warn: _ => { }),
            typeof(ConfigException));
    }

    static byte[] Idx(int magic, int[] dims, byte[] data)
    {
        var b = new List<byte> { 0, 0, 8, (byte)magic };
        foreach (int d in dims) b.AddRange([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        b.AddRange(data);
        return b.ToArray();
    }

    static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest)) gz.Write(raw);
        return ms.ToArray();
    }

    [Fact]
    public void Idx_reader()
    {
        var pixels = Enumerable.Range(0, 5 * 4 * 3).Select(i => (byte)(i * 7)).ToArray();
        var images = Idx(3, [5, 4, 3], pixels);
        var labels = Idx(1, [5], [0, 1, 2, 3, 9]);
        FuzzHarness.Run("idx", [images, labels, Gzip(images), Gzip(labels)], count: 4000, seed: 1602, input =>
        {
            string path = File("fuzz-idx-ubyte", input);
            try { IdxReader.ReadImages(path); }
            catch (InvalidDataException) { IdxReader.ReadLabels(path); }
        }, typeof(InvalidDataException));
    }

    [Fact]
    public void Cifar_binary_reader()
    {
        var rng = new Random(5);
        byte[] Records(int n, int labelBytes)
        {
            var b = new byte[n * (labelBytes + CifarBinary.ImageBytes)];
            rng.NextBytes(b);
            for (int i = 0; i < n; i++)
                for (int l = 0; l < labelBytes; l++) b[i * (labelBytes + CifarBinary.ImageBytes) + l] = (byte)(i % 10);
            return b;
        }
        FuzzHarness.Run("cifar", [Records(3, 1), Records(2, 2)], count: 1500, seed: 1603, input =>
        {
            File("batch.bin", input);
            try { CifarBinary.Read(dir, ["batch.bin"], 1, 10); }
            catch (InvalidDataException) { CifarBinary.Read(dir, ["batch.bin"], 2, 100); }
        }, typeof(InvalidDataException));
    }

    static byte[] Encode(SKEncodedImageFormat format, int w, int h)
    {
        using var bmp = new SKBitmap(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                bmp.SetPixel(x, y, new SKColor((byte)(x * 40), (byte)(y * 50), (byte)(x * y), 255));
        using var image = SKImage.FromBitmap(bmp);
        using var data = image.Encode(format, 90);
        return data.ToArray();
    }

    /// <summary>A 24-bit BMP written by hand (Skia encodes PNG, JPEG and WebP only).</summary>
    static byte[] Bmp(int w, int h)
    {
        int row = (w * 3 + 3) & ~3, size = 54 + row * h;
        var b = new byte[size];
        void I32(int at, int v) => System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(at), v);
        b[0] = (byte)'B'; b[1] = (byte)'M';
        I32(2, size); I32(10, 54); I32(14, 40); I32(18, w); I32(22, h);
        b[26] = 1; b[28] = 24; I32(34, row * h);
        for (int i = 54; i < size; i++) b[i] = (byte)(i * 13);
        return b;
    }

    [Fact]
    public void Image_decoder()
    {
        var seeds = new List<byte[]> { Encode(SKEncodedImageFormat.Png, 6, 5), Encode(SKEncodedImageFormat.Jpeg, 8, 8), Bmp(5, 4), Encode(SKEncodedImageFormat.Webp, 4, 4) };
        FuzzHarness.Run("image", seeds, count: 2500, seed: 1604, input =>
        {
            var (rgba, _, _) = ImageFolderSource.Decode(File("fuzz.img", input));
            System.Buffers.ArrayPool<byte>.Shared.Return(rgba);
        }, typeof(InvalidDataException));
    }

    [Fact]
    public void PyTorch_checkpoint_reader()
    {
        string seedPath = Path.Combine(dir, "seed.pt");
        using (var w = arange(6, dtype: ScalarType.Float32).reshape(2, 3))
        using (var bias = tensor(new float[] { 0.5f, -1 }))
        using (var steps = tensor(new long[] { 3 }))
        {
            var model = new System.Collections.Specialized.OrderedDictionary { ["fc.weight"] = w, ["fc.bias"] = bias, ["n"] = steps };
            CheckpointFile.Save(seedPath, new Hashtable { ["model"] = model, ["step"] = 3L, ["best_val"] = 0.25, ["format"] = "adabits.net/1" });
        }
        var seeds = new List<byte[]> { System.IO.File.ReadAllBytes(seedPath) };
        seeds.AddRange(Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Data"), "remap_tiny_b543*.pt").Order(StringComparer.Ordinal).Select(System.IO.File.ReadAllBytes));
        FuzzHarness.Run("checkpoint", seeds, count: 2500, seed: 1605, input =>
        {
            string path = File("fuzz.pt", input);
            using var scope = NewDisposeScope();
            Exception? first = null;
            try { CheckpointFile.LoadOrderedStateDict(path); }
            catch (InvalidDataException e) { first = e; }
            PickleKeyOrder.StateDictKeys(path);   // the key-order reader on its own, also where the values failed
            if (first is not null) throw first;
        }, typeof(InvalidDataException));
    }
}
