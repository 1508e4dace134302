using System.IO.Compression;

namespace AdaBits.Data;

/// <summary>Unsigned-byte images of one IDX file: Count x Rows x Cols.</summary>
internal sealed record IdxImages(int Count, int Rows, int Cols, byte[] Pixels);

/// <summary>
/// Reads IDX files (the MNIST format: big-endian magic 0x00000803 for images, 0x00000801 for labels,
/// then one big-endian int32 per dimension, then the bytes), raw or gzip-compressed; gzip is recognised
/// by its magic bytes 1f 8b, not by the file name. Every problem is an <see cref="InvalidDataException"/>
/// whose one-line message names the file.
/// </summary>
internal static class IdxReader
{
    const int UnsignedByteType = 0x08;

    public static IdxImages ReadImages(string path)
    {
        var (dims, data) = Read(path, 3);
        return new IdxImages(dims[0], dims[1], dims[2], data);
    }

    public static byte[] ReadLabels(string path) => Read(path, 1).Data;

    /// <summary>An images file and its labels file as one data set of 1-channel images.</summary>
    /// <param name="numClasses">When given, every label must be below it.</param>
    public static ImageDataset ReadPair(string imagesPath, string labelsPath, int? numClasses = null)
    {
        var images = ReadImages(imagesPath);
        byte[] labels = ReadLabels(labelsPath);
        if (labels.Length != images.Count)
            throw new InvalidDataException(
                $"{labelsPath}: {labels.Length} labels, but {imagesPath} has {images.Count} images");
        var ints = new int[labels.Length];
        for (int i = 0; i < labels.Length; i++)
        {
            if (numClasses is int k && labels[i] >= k)
                throw new InvalidDataException($"{labelsPath}: label {labels[i]} at index {i} is not below the {k} classes");
            ints[i] = labels[i];
        }
        return new ImageDataset(images.Pixels, ints, 1, images.Rows, images.Cols, numClasses);
    }

    /// <summary>The dimensions and the data of an unsigned-byte IDX file with the expected number of dimensions.</summary>
    public static (int[] Dims, byte[] Data) Read(string path, int expectedDims)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        try
        {
            using var stream = Open(path);
            Span<byte> head = stackalloc byte[4];
            if (ReadFully(stream, head) < 4)
                throw new InvalidDataException($"{path}: truncated: shorter than the 4-byte IDX magic");
            uint magic = (uint)(head[0] << 24 | head[1] << 16 | head[2] << 8 | head[3]);
            uint expected = (uint)(UnsignedByteType << 8 | expectedDims);
            if (head[0] != 0 || head[1] != 0 || head[2] != UnsignedByteType)
                throw new InvalidDataException(
                    $"{path}: bad magic 0x{magic:x8} (expected 0x{expected:x8}, an IDX file of unsigned bytes)");
            int n = head[3];
            if (n != expectedDims)
                throw new InvalidDataException(
                    $"{path}: {n} dimensions (magic 0x{magic:x8}), expected {expectedDims} (magic 0x{expected:x8})");
            var dims = new int[n];
            long total = 1;
            Span<byte> d = stackalloc byte[4];
            for (int i = 0; i < n; i++)
            {
                if (ReadFully(stream, d) < 4)
                    throw new InvalidDataException($"{path}: truncated: the header ends inside dimension {i}");
                long v = (uint)(d[0] << 24 | d[1] << 16 | d[2] << 8 | d[3]);
                if (v > int.MaxValue)
                    throw new InvalidDataException($"{path}: dimension {i} is {v}, too large");
                dims[i] = (int)v;
                total *= v;
                if (total > Array.MaxLength)
                    throw new InvalidDataException($"{path}: the header's dimensions ({string.Join(" x ", dims[..(i + 1)])}) are too large");
            }
            // A corrupt header must not make us allocate gigabytes: a raw file holds at most what is left of it, and
            // a gzip stream is read in pieces, so memory follows the bytes that are really there.
            if (stream.CanSeek && total > stream.Length - stream.Position)
                throw new InvalidDataException(
                    $"{path}: truncated: the header says {string.Join(" x ", dims)} = {total} bytes of data, the file has {stream.Length - stream.Position}");
            var data = stream.CanSeek ? new byte[total] : ReadAtMost(stream, total);
            int got = stream.CanSeek ? ReadFully(stream, data) : data.Length;
            if (got < total)
                throw new InvalidDataException(
                    $"{path}: truncated: the header says {string.Join(" x ", dims)} = {total} bytes of data, the file has {got}");
            return (dims, data);
        }
        catch (Exception e) when (e is not InvalidDataException and not FileNotFoundException)
        {
            throw new InvalidDataException($"{path}: cannot read as IDX: {e.Message.ReplaceLineEndings(" ")}", e);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            // e.g. a corrupt gzip stream: say which file
            throw new InvalidDataException($"{path}: {e.Message.ReplaceLineEndings(" ")}", e);
        }
    }

    /// <summary>True when the file starts with the gzip magic 1f 8b.</summary>
    public static bool IsGzip(string path)
    {
        using var f = File.OpenRead(path);
        return f.ReadByte() == 0x1f && f.ReadByte() == 0x8b;
    }

    static Stream Open(string path)
    {
        bool gz = IsGzip(path);
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return gz ? new GZipStream(file, CompressionMode.Decompress) : file;
    }

    /// <summary>Up to `count` bytes of a stream, in a buffer that grows with what is read.</summary>
    static byte[] ReadAtMost(Stream s, long count)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[1 << 16];
        while (buffer.Length < count)
        {
            int r = s.Read(chunk, 0, (int)Math.Min(chunk.Length, count - buffer.Length));
            if (r == 0) break;
            buffer.Write(chunk, 0, r);
        }
        return buffer.Length == count ? buffer.GetBuffer().AsSpan(0, (int)count).ToArray() : buffer.ToArray();
    }

    static int ReadFully(Stream s, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int r = s.Read(buffer[total..]);
            if (r == 0) break;
            total += r;
        }
        return total;
    }
}
