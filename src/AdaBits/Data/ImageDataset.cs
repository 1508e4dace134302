namespace AdaBits.Data;

/// <summary>
/// Images held in memory as unsigned bytes, N x C x H x W in one array (sample-major, then channel, row, column),
/// with one integer label per sample.
/// </summary>
public sealed class ImageDataset
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

    /// <summary>The pixels of sample i (C x H x W).</summary>
    public ReadOnlySpan<byte> Sample(int i) => Pixels.AsSpan(i * SampleSize, SampleSize);

    public override string ToString() => $"{Count} images {Channels}x{Height}x{Width}, {NumClasses} classes";
}
