namespace AdaBits.Data;

/// <summary>
/// Images held in memory as unsigned bytes, N x C x H x W in one array (sample-major, then channel, row, column),
/// with one integer label per sample.
/// </summary>
internal sealed class ImageDataset : IImageSource
{
    public byte[] Pixels { get; }
    public int[] Labels { get; }
    public int Count { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int NumClasses { get; }

    /// <summary>Bytes of one sample: C * H * W.</summary>
    public int SampleSize => Channels * Height * Width;

    /// <param name="numClasses">Number of classes; null = largest label + 1. Every label must lie in 0..numClasses-1.</param>
    public ImageDataset(byte[] pixels, int[] labels, int channels, int height, int width, int? numClasses = null)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"image shape must be positive, got C={channels} H={height} W={width}");
        long sample = (long)channels * height * width;
        if (pixels.LongLength != labels.LongLength * sample)
            throw new ArgumentException(
                $"{pixels.LongLength} pixel bytes do not hold {labels.Length} images of {channels}x{height}x{width}");
        int max = -1;
        foreach (int l in labels)
        {
            if (l < 0) throw new ArgumentException($"negative label {l}");
            if (l > max) max = l;
        }
        if (numClasses is int k)
        {
            if (k <= 0) throw new ArgumentException($"numClasses must be positive, got {k}");
            if (max >= k) throw new ArgumentException($"label {max} is out of range for {k} classes");
        }
        Pixels = pixels;
        Labels = labels;
        Count = labels.Length;
        Channels = channels;
        Height = height;
        Width = width;
        NumClasses = numClasses ?? max + 1;
    }

    /// <summary>The first n samples (all of them when n >= Count); the class count is kept.</summary>
    public ImageDataset Take(int n)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), $"cannot take {n} samples");
        if (n >= Count) return this;
        return new ImageDataset(Pixels.AsSpan(0, n * SampleSize).ToArray(), Labels[..n], Channels, Height, Width, NumClasses);
    }

    IImageSource IImageSource.Take(int n) => Take(n);

    public int Label(int index) => Labels[index];

    /// <summary>Pad-crop and flip (<see cref="TransformSpec.CropPadding"/>, <see cref="TransformSpec.HorizontalFlip"/>)
    /// of the stored pixels; the other spatial transforms need an image folder.</summary>
    public int Write(int index, TransformSpec transform, float[][] lut, ulong random, Span<float> dst)
    {
        if (transform.Spatial != SpatialTransform.PadCrop)
            throw new ArgumentException($"the {transform.Spatial} transform needs images of any size (an image folder), not an in-memory data set");
        PadCropWrite(Pixels.AsSpan(index * SampleSize, SampleSize), Channels, Height, Width, transform, lut, random, dst);
        return Labels[index];
    }

    /// <summary>Zero-padded random crop and flip of one C x H x W byte image into C x H x W floats.</summary>
    internal static void PadCropWrite(ReadOnlySpan<byte> sampleBytes, int C, int H, int W, TransformSpec transform, float[][] lut,
        ulong random, Span<float> dst)
    {
        int p = transform.CropPadding, plane = H * W;
        var (dy, dx, flip) = transform.Augments ? DataLoader.PadCropAugmentation(transform, random) : (p, p, false);
        for (int c = 0; c < C; c++)
        {
            float[] map = lut[c];
            ReadOnlySpan<byte> src = sampleBytes.Slice(c * plane, plane);
            Span<float> outPlane = dst.Slice(c * plane, plane);
            if (dy == p && dx == p && !flip)
            {
                for (int i = 0; i < plane; i++) outPlane[i] = map[src[i]];
                continue;
            }
            float zero = map[0];
            for (int y = 0; y < H; y++)
            {
                Span<float> row = outPlane.Slice(y * W, W);
                int sy = y + dy - p;
                if ((uint)sy >= (uint)H)
                {
                    row.Fill(zero);
                    continue;
                }
                ReadOnlySpan<byte> srcRow = src.Slice(sy * W, W);
                int shift = dx - p;   // output column x reads source column x + shift
                for (int x = 0; x < W; x++)
                {
                    int sx = x + shift;
                    float v = (uint)sx < (uint)W ? map[srcRow[sx]] : zero;
                    row[flip ? W - 1 - x : x] = v;
                }
            }
        }
    }

    /// <summary>The pixels of sample i (C x H x W).</summary>
    public ReadOnlySpan<byte> Sample(int i) => Pixels.AsSpan(i * SampleSize, SampleSize);

    public override string ToString() => $"{Count} images {Channels}x{Height}x{Width}, {NumClasses} classes";
}
