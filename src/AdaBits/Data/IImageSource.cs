namespace AdaBits.Data;

/// <summary>
/// What a <see cref="DataLoader"/> reads: labelled images that it can ask for one at a time, transformed.
/// <see cref="ImageDataset"/> holds them in memory; <see cref="ImageFolderSource"/> decodes files on demand.
/// </summary>
internal interface IImageSource
{
    int Count { get; }
    int Channels { get; }

    /// <summary>Height of the samples the loader delivers (after the transform).</summary>
    int Height { get; }

    /// <summary>Width of the samples the loader delivers (after the transform).</summary>
    int Width { get; }

    int NumClasses { get; }

    int Label(int index);

    /// <summary>The first n samples (all of them when n >= Count); the class count is kept.</summary>
    IImageSource Take(int n);

    /// <summary>
    /// Writes sample <paramref name="index"/>, transformed, into <paramref name="dst"/> (Channels x Height x Width
    /// floats, channel-major), mapping each final 8-bit value v of channel c to lut[c][v]. <paramref name="random"/>
    /// is the sample's random state for this epoch (a pure function of seed, epoch and index); everything the
    /// transform draws comes from it. Returns the label of what was written (a source that replaces an unreadable
    /// image by another returns the other's label).
    /// </summary>
    int Write(int index, TransformSpec transform, float[][] lut, ulong random, Span<float> dst);
}
