using System.Buffers;
using System.Collections.Concurrent;
using SkiaSharp;

namespace AdaBits.Data;

/// <summary>What to do with an image file that cannot be decoded.</summary>
internal enum BadImagePolicy
{
    /// <summary>Stop: the error names the file.</summary>
    Fail,
    /// <summary>Log the file once and deliver, in its place, another sample chosen deterministically.</summary>
    Skip,
}

/// <summary>
/// torchvision ImageFolder: one sub-folder per class (class index = position among the sorted folder names,
/// ordinal), image files found recursively in each (sorted folder, then sorted file name; extensions .jpg
/// .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, any case). Images are decoded (SkiaSharp; Netpbm by PnmImage;
/// TIFF is refused with a message) when the loader asks
/// for them, converted to RGB, then cropped and resized as the transform says, with PIL's bilinear resampling
/// (its coefficients and 22-bit fixed-point arithmetic, so resized pixels match Pillow's for the same decoded
/// image). <see cref="Height"/> x <see cref="Width"/>: the size of the delivered samples (the transform's crop
/// for the ImageNet transforms; the images' own size, which every file must have, for pad-crop transforms).
/// </summary>
internal sealed class ImageFolderSource : IImageSource
{
    public static readonly IReadOnlyList<string> Extensions = [".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"];

    readonly string[] paths;
    readonly int[] labels;
    readonly ConcurrentDictionary<int, string> bad = new();
    readonly Action<string>? log;

    public string Root { get; }
    public IReadOnlyList<string> Classes { get; }
    public IReadOnlyList<string> Paths => paths;
    public int Count => paths.Length;
    /// <summary>Every image is converted to RGB, whatever its file holds.</summary>
    public const int ChannelCount = 3;

    public int Channels => ChannelCount;
    public int Height { get; }
    public int Width { get; }
    public int NumClasses => Classes.Count;
    public BadImagePolicy BadImages { get; }

    /// <summary>Files found unreadable so far (index, reason), for reports.</summary>
    public IReadOnlyDictionary<int, string> BadFiles => bad;

    ImageFolderSource(string root, IReadOnlyList<string> classes, string[] paths, int[] labels, int height, int width,
        BadImagePolicy policy, Action<string>? log)
    {
        Root = root;
        Classes = classes;
        this.paths = paths;
        this.labels = labels;
        Height = height;
        Width = width;
        BadImages = policy;
        this.log = log;
    }

    /// <summary>Scans root (class folders); samples are delivered as height x width.</summary>
    public static ImageFolderSource Open(string root, int height, int width, BadImagePolicy policy = BadImagePolicy.Fail,
        Action<string>? log = null)
    {
        var (classes, samples) = Scan(root);
        return new ImageFolderSource(root, classes, samples.Select(s => s.Path).ToArray(), samples.Select(s => s.Label).ToArray(),
            height, width, policy, log);
    }

    /// <summary>The class names and the (path, label) list in torchvision's order.</summary>
    public static (string[] Classes, List<(string Path, int Label)> Samples) Scan(string root)
    {
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"{root}: image folder not found (expected one sub-folder of images per class)");
        string[] classes = Directory.GetDirectories(root).Select(Path.GetFileName).Select(n => n!)
            .Order(StringComparer.Ordinal).ToArray();
        if (classes.Length == 0) throw new FileNotFoundException($"{root}: no class folders found (expected one sub-folder of images per class)");
        var samples = new List<(string, int)>();
        var empty = new List<string>();
        for (int c = 0; c < classes.Length; c++)
        {
            string dir = Path.Combine(root, classes[c]);
            int before = samples.Count;
            // os.walk sorted by folder path, files sorted by name
            var folders = new List<string> { dir };
            folders.AddRange(Directory.GetDirectories(dir, "*", SearchOption.AllDirectories));
            foreach (string folder in folders.Order(StringComparer.Ordinal))
                foreach (string file in Directory.GetFiles(folder).Order(StringComparer.Ordinal))
                    if (Extensions.Contains(Path.GetExtension(file).ToLowerInvariant()))
                        samples.Add((file, c));
            if (samples.Count == before) empty.Add(classes[c]);
        }
        if (empty.Count > 0)
            throw new FileNotFoundException($"{root}: no image files ({string.Join(" ", Extensions)}) in class folder(s) {string.Join(", ", empty.Take(5))}{(empty.Count > 5 ? ", ..." : "")}");
        return (classes, samples);
    }

    /// <summary>The samples at the given positions, in that order (classes kept).</summary>
    public ImageFolderSource Subset(IEnumerable<int> indices)
    {
        int[] idx = indices.ToArray();
        return new ImageFolderSource(Root, Classes, idx.Select(i => paths[i]).ToArray(), idx.Select(i => labels[i]).ToArray(),
            Height, Width, BadImages, log);
    }

    public IImageSource Take(int n)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), $"cannot take {n} samples");
        return n >= Count ? this : Subset(Enumerable.Range(0, n));
    }

    /// <summary>The same files delivered at another size.</summary>
    public ImageFolderSource WithSize(int height, int width) =>
        new(Root, Classes, paths, labels, height, width, BadImages, log);

    public int Label(int index) => labels[index];

    public int Write(int index, TransformSpec transform, float[][] lut, ulong random, Span<float> dst)
    {
        const int maxReplacements = 100;
        for (int attempt = 0; ; attempt++)
        {
            int i = index;
            ulong r = random;
            if (attempt > 0)
            {
                i = SampleRandom.Below(SampleRandom.Mix(random ^ (0xBAD0000UL + (ulong)attempt)), Count);
                r = SampleRandom.Mix(random + (ulong)attempt);
            }
            if (BadImages == BadImagePolicy.Skip && bad.ContainsKey(i))
            {
                if (attempt >= maxReplacements) throw new InvalidDataException($"{Root}: no readable image found in {maxReplacements} tries (too many unreadable files)");
                continue;
            }
            try
            {
                WriteImage(paths[i], transform, lut, r, dst);
                return labels[i];
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                if (BadImages == BadImagePolicy.Fail)
                    throw new InvalidDataException($"{paths[i]}: {e.Message} (set bad_images: skip to skip unreadable images)", e);
                if (bad.TryAdd(i, e.Message)) log?.Invoke($"skipping unreadable image {paths[i]}: {e.Message}");
                if (attempt >= maxReplacements) throw new InvalidDataException($"{Root}: no readable image found in {maxReplacements} tries (too many unreadable files)");
            }
        }
    }

    void WriteImage(string path, TransformSpec t, float[][] lut, ulong random, Span<float> dst)
    {
        var (rgba, w, h) = Decode(path);
        try
        {
            int plane = Height * Width;
            switch (t.Spatial)
            {
                case SpatialTransform.PadCrop:
                {
                    if (w != Width || h != Height)
                        throw new InvalidDataException($"image is {w}x{h}, expected {Width}x{Height} (this transform does not resize)");
                    var chw = new byte[3 * plane];
                    for (int y = 0, o = 0; y < h; y++)
                        for (int x = 0; x < w; x++, o++)
                        {
                            int s = (y * w + x) * 4;
                            chw[o] = rgba[s];
                            chw[plane + o] = rgba[s + 1];
                            chw[2 * plane + o] = rgba[s + 2];
                        }
                    ImageDataset.PadCropWrite(chw, 3, Height, Width, t, lut, random, dst);
                    return;
                }
                case SpatialTransform.RandomResizedCrop:
                {
                    var (top, left, ch, cw) = RandomResizedCropBox(h, w, random);
                    bool flip = t.HorizontalFlip && (SampleRandom.Mix(random ^ 0xF11FUL) >> 63) != 0;
                    byte[] pix = Resample(rgba, w, left, top, cw, ch, Width, Height, 0, 0, Width, Height);
                    ToFloats(pix, Width, Height, flip, lut, dst);
                    return;
                }
                case SpatialTransform.ResizeCenterCrop:
                {
                    var (rw, rh) = ResizedSize(w, h, t.ResizeSize);
                    if (rw < Width || rh < Height)
                        throw new ArgumentException($"Resize({t.ResizeSize}) gives {rw}x{rh}, smaller than the {Width}x{Height} crop");
                    int top = (int)Math.Round((rh - Height) / 2.0, MidpointRounding.ToEven);
                    int left = (int)Math.Round((rw - Width) / 2.0, MidpointRounding.ToEven);
                    byte[] pix = Resample(rgba, w, 0, 0, w, h, rw, rh, left, top, Width, Height);
                    ToFloats(pix, Width, Height, false, lut, dst);
                    return;
                }
                default:
                    throw new ArgumentException($"unknown spatial transform {t.Spatial}");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
        }
    }

    static void ToFloats(byte[] pix, int W, int H, bool flip, float[][] lut, Span<float> dst)
    {
        int plane = W * H;
        float[] m0 = lut[0], m1 = lut[1], m2 = lut[2];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
            {
                int s = (y * W + x) * 3, o = y * W + (flip ? W - 1 - x : x);
                dst[o] = m0[pix[s]];
                dst[plane + o] = m1[pix[s + 1]];
                dst[2 * plane + o] = m2[pix[s + 2]];
            }
    }

    const long MaxPixels = 1L << 27;

    /// <summary>Decodes an image file to RGBA (unpremultiplied; grey and palette images expanded), in a pooled buffer.</summary>
    public static (byte[] Rgba, int Width, int Height) Decode(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        if (PnmImage.Is(file)) return PnmImage.Decode(file, Math.Min(MaxPixels, (1 << 20) + 4096L * file.Length));
        if (file.Length >= 4 && ((file[0] == 'I' && file[1] == 'I' && file[2] == 42 && file[3] == 0) || (file[0] == 'M' && file[1] == 'M' && file[2] == 0 && file[3] == 42)))
            throw new InvalidDataException("TIFF images cannot be decoded here (SkiaSharp has no TIFF codec): convert them to PNG");
        using var data = SKData.CreateCopy(file);
        using var codec = SKCodec.Create(data) ?? throw new InvalidDataException("not a decodable image (unknown or corrupt format)");
        int w = codec.Info.Width, h = codec.Info.Height;
        if (w <= 0 || h <= 0) throw new InvalidDataException($"image has size {w}x{h}");
        // The size comes from the header: a corrupt one must not make us allocate gigabytes. Real images compress
        // far less than 4096 pixels per byte, and none of a data set is near 128 megapixels.
        if ((long)w * h > Math.Min(MaxPixels, (1 << 20) + 4096L * file.Length))
            throw new InvalidDataException($"image header says {w}x{h} pixels, implausible for a file of {file.Length} bytes (corrupt)");
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        byte[] rgba = ArrayPool<byte>.Shared.Rent(w * h * 4);
        SKCodecResult result;
        var pin = System.Runtime.InteropServices.GCHandle.Alloc(rgba, System.Runtime.InteropServices.GCHandleType.Pinned);
        try { result = codec.GetPixels(info, pin.AddrOfPinnedObject()); }
        finally { pin.Free(); }
        if (result != SKCodecResult.Success)
        {
            ArrayPool<byte>.Shared.Return(rgba);
            throw new InvalidDataException($"cannot decode image ({result})");
        }
        return (rgba, w, h);
    }

    /// <summary>torchvision Resize(size) of the shorter side: (width, height) after it.</summary>
    public static (int Width, int Height) ResizedSize(int w, int h, int size)
    {
        if (w <= h) return (size, (int)((long)size * h / w));
        return ((int)((long)size * w / h), size);
    }

    /// <summary>torchvision RandomResizedCrop.get_params (scale 0.08-1, log-uniform ratio 3/4-4/3, 10 tries, then the
    /// central fallback) with randomness from the sample's state: (top, left, height, width).</summary>
    public static (int Top, int Left, int Height, int Width) RandomResizedCropBox(int height, int width, ulong random)
    {
        const double minScale = 0.08, maxScale = 1.0, minRatio = 3.0 / 4.0, maxRatio = 4.0 / 3.0;
        double area = (double)height * width, logMin = Math.Log(minRatio), logMax = Math.Log(maxRatio);
        ulong s = random;
        double Uniform(double a, double b) { s = SampleRandom.Mix(s); return a + (b - a) * ((s >> 11) * (1.0 / (1UL << 53))); }
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double targetArea = area * Uniform(minScale, maxScale);
            double aspect = Math.Exp(Uniform(logMin, logMax));
            int w = (int)Math.Round(Math.Sqrt(targetArea * aspect), MidpointRounding.ToEven);
            int h = (int)Math.Round(Math.Sqrt(targetArea / aspect), MidpointRounding.ToEven);
            if (0 < w && w <= width && 0 < h && h <= height)
            {
                s = SampleRandom.Mix(s);
                int i = SampleRandom.Below(s, height - h + 1);
                s = SampleRandom.Mix(s);
                int j = SampleRandom.Below(s, width - w + 1);
                return (i, j, h, w);
            }
        }
        double inRatio = (double)width / height;
        int cw, chh;
        if (inRatio < minRatio) { cw = width; chh = (int)Math.Round(cw / minRatio, MidpointRounding.ToEven); }
        else if (inRatio > maxRatio) { chh = height; cw = (int)Math.Round(chh * maxRatio, MidpointRounding.ToEven); }
        else { cw = width; chh = height; }
        return ((height - chh) / 2, (width - cw) / 2, chh, cw);
    }

    const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Pillow's bilinear coefficients (precompute_coeffs + normalize_coeffs_8bpc) for an input of inSize
    /// resized to outSize, for the outputs first..first+count-1: per output (xmin, taps, fixed-point weights).</summary>
    static (int[] Min, int[] Taps, int[] K, int KSize) Coeffs(int inSize, int outSize, int first, int count)
    {
        double scale = (double)inSize / outSize, filterScale = Math.Max(scale, 1.0), support = 1.0 * filterScale;
        int ksize = (int)Math.Ceiling(support) * 2 + 1;
        var min = new int[count];
        var taps = new int[count];
        var k = new int[count * ksize];
        var w = new double[ksize];
        for (int n = 0; n < count; n++)
        {
            int xx = first + n;
            double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterScale;
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            for (int x = 0; x < xmax; x++)
            {
                double a = Math.Abs((x + xmin - center + 0.5) * ss);
                w[x] = a < 1.0 ? 1.0 - a : 0.0;
                ww += w[x];
            }
            for (int x = 0; x < xmax; x++)
            {
                double v = ww != 0.0 ? w[x] / ww : w[x];
                k[n * ksize + x] = (int)(v < 0 ? Math.Truncate(-0.5 + v * (1 << PrecisionBits)) : Math.Truncate(0.5 + v * (1 << PrecisionBits)));
            }
            min[n] = xmin;
            taps[n] = xmax;
        }
        return (min, taps, k, ksize);
    }

    static byte Clip8(int ss)
    {
        int v = ss >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    /// <summary>
    /// The region (cropX, cropY, cropW, cropH) of an RGBA image with row length srcW, taken as an image of its own and
    /// resized to outW x outH with Pillow's bilinear filter (horizontal pass, rounded to 8 bits, then vertical pass);
    /// only the output window (winX, winY, winW, winH) is computed. Returns winH x winW x 3 bytes (RGB).
    /// </summary>
    public static byte[] Resample(byte[] rgba, int srcW, int cropX, int cropY, int cropW, int cropH, int outW, int outH,
        int winX, int winY, int winW, int winH)
    {
        var (vMin, vTaps, vK, vKs) = Coeffs(cropH, outH, winY, winH);
        var (hMin, hTaps, hK, hKs) = Coeffs(cropW, outW, winX, winW);
        int rowFirst = vMin[0], rowLast = 0;
        for (int n = 0; n < winH; n++)
        {
            rowFirst = Math.Min(rowFirst, vMin[n]);
            rowLast = Math.Max(rowLast, vMin[n] + vTaps[n]);
        }
        int rows = rowLast - rowFirst;
        // horizontal pass over the rows the vertical pass reads
        var tmp = new byte[rows * winW * 3];
        const int half = 1 << (PrecisionBits - 1);
        for (int r = 0; r < rows; r++)
        {
            int srcRow = ((cropY + rowFirst + r) * srcW + cropX) * 4;
            for (int n = 0; n < winW; n++)
            {
                int s0 = half, s1 = half, s2 = half, kb = n * hKs, taps = hTaps[n];
                int p = srcRow + hMin[n] * 4;
                for (int x = 0; x < taps; x++, p += 4)
                {
                    int kk = hK[kb + x];
                    s0 += rgba[p] * kk;
                    s1 += rgba[p + 1] * kk;
                    s2 += rgba[p + 2] * kk;
                }
                int o = (r * winW + n) * 3;
                tmp[o] = Clip8(s0);
                tmp[o + 1] = Clip8(s1);
                tmp[o + 2] = Clip8(s2);
            }
        }
        var result = new byte[winH * winW * 3];
        int rowBytes = winW * 3;
        for (int n = 0; n < winH; n++)
        {
            int kb = n * vKs, taps = vTaps[n], baseRow = vMin[n] - rowFirst;
            int o = n * rowBytes;
            for (int i = 0; i < rowBytes; i++)
            {
                int ss = half;
                for (int y = 0; y < taps; y++) ss += tmp[(baseRow + y) * rowBytes + i] * vK[kb + y];
                result[o + i] = Clip8(ss);
            }
        }
        return result;
    }

    public override string ToString() => $"{Count} images in {NumClasses} class folders under {Root}, delivered as 3x{Height}x{Width}";
}
