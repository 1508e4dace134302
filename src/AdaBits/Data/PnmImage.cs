using System.Buffers;

namespace AdaBits.Data;

/// <summary>
/// Netpbm grey and colour images (P2, P3, P5, P6, 8-bit), which torchvision's ImageFolder lists and Pillow
/// decodes, but SkiaSharp has no codec for; hand-written because the format is a text header and raw
/// samples. Values of a smaller maxval are scaled to 0..255 as Pillow does (rounded half to even).
/// </summary>
internal static class PnmImage
{
    public static bool Is(ReadOnlySpan<byte> file) => file.Length >= 2 && file[0] == 'P' && file[1] is (byte)'2' or (byte)'3' or (byte)'5' or (byte)'6';

    /// <summary>RGBA (alpha 255) in a pooled buffer, as <see cref="ImageFolderSource.Decode"/> returns it.</summary>
    public static (byte[] Rgba, int Width, int Height) Decode(byte[] file, long maxPixels)
    {
        char kind = (char)file[1];
        int at = 2;
        int width = Header(file, ref at, "width"), height = Header(file, ref at, "height"), maxval = Header(file, ref at, "maxval");
        if (width <= 0 || height <= 0) throw new InvalidDataException($"PNM image has size {width}x{height}");
        if (maxval < 1 || maxval > 255) throw new InvalidDataException($"PNM maxval {maxval} is not supported (expected 1..255: 8-bit samples)");
        if ((long)width * height > maxPixels) throw new InvalidDataException($"PNM header says {width}x{height} pixels, implausible (corrupt)");
        bool binary = kind is '5' or '6';
        int channels = kind is '3' or '6' ? 3 : 1;
        long samples = (long)width * height * channels;
        if (binary)
        {
            at++; // exactly one whitespace byte separates the header from the samples
            if (file.Length - at < samples) throw new InvalidDataException($"PNM image is truncated: {file.Length - at} sample bytes, expected {samples}");
        }
        var rgba = ArrayPool<byte>.Shared.Rent(width * height * 4);
        for (long p = 0; p < (long)width * height; p++)
        {
            for (int c = 0; c < 3; c++)
            {
                int v = c < channels ? binary ? file[at + p * channels + c] : Header(file, ref at, "sample") : rgba[p * 4];
                if (c < channels)
                {
                    if (v > maxval) throw new InvalidDataException($"PNM sample {v} exceeds maxval {maxval}");
                    if (maxval != 255) v = Scaled(v, maxval);
                }
                rgba[p * 4 + c] = (byte)v;
            }
            rgba[p * 4 + 3] = 255;
        }
        return (rgba, width, height);
    }

    /// <summary>Pillow's round(value / maxval * 255): the same double operations, then round half to even.</summary>
    static int Scaled(int v, int maxval) => (int)Math.Round((double)v / maxval * 255, MidpointRounding.ToEven);

    /// <summary>The next decimal number of the header (or of an ASCII image's samples), skipping whitespace and # comments.</summary>
    static int Header(byte[] file, ref int at, string what)
    {
        while (at < file.Length && (char.IsWhiteSpace((char)file[at]) || file[at] == '#'))
            if (file[at] == '#') while (at < file.Length && file[at] != '\n') at++;
            else at++;
        if (at >= file.Length || !char.IsAsciiDigit((char)file[at])) throw new InvalidDataException($"PNM file: expected the {what} at byte {at}");
        long v = 0;
        while (at < file.Length && char.IsAsciiDigit((char)file[at]))
        {
            v = v * 10 + (file[at++] - '0');
            if (v > int.MaxValue) throw new InvalidDataException($"PNM file: {what} too large");
        }
        return (int)v;
    }
}
