using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace AdaBits.Inference;

/// <summary>
/// The engine artifact (.abits). Layout, little-endian:
///   header (fixed 16 bytes): magic "ABITSENG", u32 format version, u32 section count;
///   section table: per section u32 tag (fourcc), u32 flags (1 = Brotli: the stored bytes are the u64 raw
///   length and a Brotli stream), u64 offset, u64 stored length, 32-byte SHA-256 of the stored bytes;
///   32-byte SHA-256 of everything before it (header + table);
///   the sections: "META" (UTF-8 JSON: structure, per-slot scalars, references into the blobs),
///   "LEVL" (weight level indices, one byte each, stored once per layer at the top bits for nested schemes),
///   "F32 " (float32 arrays: folded BN per slot, bias).
/// META and LEVL are Brotli-compressed: level indices of trained (bell-shaped) weights take fewer than 8
/// bits of entropy, which pays for the per-bit-width BN copies. A reader of version V reads files of version &lt;= V. Hand-written rather than protobuf/zip because the
/// weight blob is a flat byte array that the loader packs directly, and the checks must name what is wrong.
/// </summary>
public static class ArtifactFile
{
    public const int FormatVersion = 1;
    static ReadOnlySpan<byte> Magic => "ABITSENG"u8;
    const int HeaderBytes = 16, EntryBytes = 56, HashBytes = 32;
    static readonly string[] Tags = ["META", "LEVL", "F32 "];

    public static void Write(ModelSpec spec, string path)
    {
        ModelSpecCheck.Shapes(spec);
        var levels = new MemoryStream();
        var floats = new MemoryStream();
        var meta = new MetaDto
        {
            BitsList = spec.BitsList, InputChannels = spec.InputChannels, InputHeight = spec.InputHeight, InputWidth = spec.InputWidth,
            Layers = spec.Layers.Select(l => ToDto(l, levels, floats)).ToArray(),
        };
        byte[][] sections = [Compress(JsonSerializer.SerializeToUtf8Bytes(meta, Json)), Compress(levels.ToArray()), floats.ToArray()];
        int tableEnd = HeaderBytes + EntryBytes * sections.Length + HashBytes;
        var head = new byte[tableEnd];
        Magic.CopyTo(head);
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(8), FormatVersion);
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(12), sections.Length);
        long offset = tableEnd;
        for (int i = 0; i < sections.Length; i++)
        {
            var e = head.AsSpan(HeaderBytes + i * EntryBytes, EntryBytes);
            Encoding.ASCII.GetBytes(Tags[i], e);
            BinaryPrimitives.WriteInt32LittleEndian(e[4..], i < 2 ? FlagBrotli : 0);
            BinaryPrimitives.WriteInt64LittleEndian(e[8..], offset);
            BinaryPrimitives.WriteInt64LittleEndian(e[16..], sections[i].Length);
            SHA256.HashData(sections[i], e[24..]);
            offset += sections[i].Length;
        }
        SHA256.HashData(head.AsSpan(0, tableEnd - HashBytes), head.AsSpan(tableEnd - HashBytes));
        string tmp = path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            f.Write(head);
            foreach (var s in sections) f.Write(s);
        }
        File.Move(tmp, path, overwrite: true);
    }

    public static ModelSpec Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw Fail(path, $"cannot be read ({e.Message})"); }
        return Parse(bytes, path);
    }

    internal static ModelSpec Parse(byte[] bytes, string path)
    {
        if (bytes.Length < HeaderBytes || !bytes.AsSpan(0, 8).SequenceEqual(Magic))
            throw Fail(path, "is not an AdaBits engine artifact (no ABITSENG magic)");
        int version = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8));
        if (version > FormatVersion) throw Fail(path, $"has format version {version}; this engine reads versions up to {FormatVersion}");
        if (version < 1) throw Fail(path, $"has an invalid format version {version}");
        int count = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(12));
        if (count != Tags.Length) throw Fail(path, $"has {count} sections, expected {Tags.Length}");
        int tableEnd = HeaderBytes + EntryBytes * count + HashBytes;
        if (bytes.Length < tableEnd) throw Fail(path, $"is truncated: {bytes.Length} bytes, the header alone needs {tableEnd}");
        if (!SHA256.HashData(bytes.AsSpan(0, tableEnd - HashBytes)).AsSpan().SequenceEqual(bytes.AsSpan(tableEnd - HashBytes, HashBytes)))
            throw Fail(path, "has a damaged header (checksum mismatch)");
        var sections = new ArraySegment<byte>[count];
        for (int i = 0; i < count; i++)
        {
            var e = bytes.AsSpan(HeaderBytes + i * EntryBytes, EntryBytes);
            string tag = Encoding.ASCII.GetString(e[..4]);
            if (tag != Tags[i]) throw Fail(path, $"section {i} is '{tag}', expected '{Tags[i]}'");
            long off = BinaryPrimitives.ReadInt64LittleEndian(e[8..]), len = BinaryPrimitives.ReadInt64LittleEndian(e[16..]);
            if (off < tableEnd || len < 0 || off + len > bytes.Length)
                throw Fail(path, $"is truncated: section '{tag.Trim()}' needs bytes {off}..{off + len}, the file has {bytes.Length}");
            sections[i] = new ArraySegment<byte>(bytes, (int)off, (int)len);
            if (!SHA256.HashData(sections[i]).AsSpan().SequenceEqual(e[24..]))
                throw Fail(path, $"is damaged: section '{tag.Trim()}' fails its SHA-256 checksum");
            int flags = BinaryPrimitives.ReadInt32LittleEndian(e[4..]);
            if ((flags & ~FlagBrotli) != 0) throw Fail(path, $"section '{tag.Trim()}' has unknown flags {flags}");
            if ((flags & FlagBrotli) != 0)
                sections[i] = Decompress(sections[i]) ?? throw Fail(path, $"is damaged: section '{tag.Trim()}' does not decompress");
        }
        try
        {
            var meta = JsonSerializer.Deserialize<MetaDto>(sections[0], Json) ?? throw new InvalidDataException("empty META section");
            var spec = new ModelSpec
            {
                BitsList = meta.BitsList, InputChannels = meta.InputChannels, InputHeight = meta.InputHeight, InputWidth = meta.InputWidth,
                Layers = meta.Layers.Select(l => FromDto(l, sections[1], sections[2])).ToArray(),
            };
            ModelSpecCheck.Shapes(spec);
            return spec;
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or ArgumentException or NullReferenceException or IndexOutOfRangeException or FormatException or OverflowException or KeyNotFoundException)
        {
            throw Fail(path, $"has an invalid model description: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    /// <summary>How the weights of each layer are stored: "nested" (top bits only) or "per_bit" levels.</summary>
    public static IReadOnlyList<(string Layer, string Storage, int[] StoredBits)> WeightStorage(ModelSpec spec) =>
        spec.Layers.Where(l => l.Op != LayerOp.GlobalAvgPool).Select(l => (l.Name, Storage(l), StoredBits(l))).ToArray();

    static string Storage(LayerSpec l) => QuantMath.Nested(l.WeightScheme) ? "nested" : "per_bit";

    static int[] StoredBits(LayerSpec l) =>
        QuantMath.Nested(l.WeightScheme) ? [l.WeightBits.Max()] : l.WeightBits.Distinct().OrderByDescending(b => b).ToArray();

    const int FlagBrotli = 1;

    static byte[] Compress(byte[] raw)
    {
        var dst = new byte[8 + System.IO.Compression.BrotliEncoder.GetMaxCompressedLength(raw.Length)];
        BinaryPrimitives.WriteInt64LittleEndian(dst, raw.Length);
        if (!System.IO.Compression.BrotliEncoder.TryCompress(raw, dst.AsSpan(8), out int n, quality: 9, window: 22))
            throw new InvalidOperationException("Brotli compression failed");
        return dst[..(8 + n)];
    }

    static ArraySegment<byte>? Decompress(ArraySegment<byte> stored)
    {
        if (stored.Count < 8) return null;
        long raw = BinaryPrimitives.ReadInt64LittleEndian(stored);
        if (raw < 0 || raw > int.MaxValue) return null;
        var dst = new byte[raw];
        if (!System.IO.Compression.BrotliDecoder.TryDecompress(stored.AsSpan(8), dst, out int n) || n != raw) return null;
        return new ArraySegment<byte>(dst);
    }

    static ArtifactException Fail(string path, string what) => new($"{path}: {what}");

    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    static LayerDto ToDto(LayerSpec l, MemoryStream levels, MemoryStream floats)
    {
        Blob Bytes(byte[] a) { var b = new Blob(levels.Length, a.Length); levels.Write(a); return b; }
        Blob? Floats(float[]? a)
        {
            if (a is null) return null;
            var b = new Blob(floats.Length, a.Length);
            floats.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()));
            return b;
        }
        bool weighted = l.Op != LayerOp.GlobalAvgPool;
        return new LayerDto
        {
            Op = l.Op.ToString(), Name = l.Name, Input = l.Input, Output = l.Output, Residual = l.Residual, Relu = l.Relu,
            InChannels = l.InChannels, OutChannels = l.OutChannels, Kernel = [l.KernelH, l.KernelW], Stride = [l.StrideH, l.StrideW],
            Pad = [l.PadH, l.PadW], Groups = l.Groups,
            WeightScheme = weighted ? l.WeightScheme.ToString().ToLowerInvariant() : null,
            WeightStorage = weighted ? Storage(l) : null,
            WeightBits = weighted ? l.WeightBits : null,
            WeightLevels = weighted ? StoredBits(l).ToDictionary(b => b.ToString(), b => Bytes(l.WeightLevels[b])) : null,
            SatScale = weighted ? l.SatScale : null,
            BnScale = l.BnScale?.Select(a => Floats(a)!).ToArray(),
            BnShift = l.BnShift?.Select(a => Floats(a)!).ToArray(),
            Bias = Floats(l.Bias), BiasDivisor = l.BiasDivisor,
            InputQuant = l.InputQuant is { } q ? new QuantDto { Scheme = q.Scheme.ToString().ToLowerInvariant(), DoubleSided = q.DoubleSided, Alpha = q.Alpha, Bits = q.Bits } : null,
        };
    }

    static LayerSpec FromDto(LayerDto d, ArraySegment<byte> levels, ArraySegment<byte> floats)
    {
        byte[] Bytes(Blob b)
        {
            if (b.Offset < 0 || b.Count < 0 || b.Offset + b.Count > levels.Count) throw new InvalidDataException($"layer '{d.Name}': weight levels outside the LEVL section");
            return levels.AsSpan((int)b.Offset, (int)b.Count).ToArray();
        }
        float[]? Floats(Blob? b)
        {
            if (b is null) return null;
            if (b.Offset < 0 || b.Count < 0 || b.Offset + 4L * b.Count > floats.Count) throw new InvalidDataException($"layer '{d.Name}': float array outside the F32 section");
            return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(floats.AsSpan((int)b.Offset, 4 * (int)b.Count)).ToArray();
        }
        if (!Enum.TryParse<LayerOp>(d.Op, out var op)) throw new InvalidDataException($"layer '{d.Name}': unknown op '{d.Op}'");
        return new LayerSpec
        {
            Op = op, Name = d.Name ?? "", Input = d.Input, Output = d.Output, Residual = d.Residual, Relu = d.Relu,
            InChannels = d.InChannels, OutChannels = d.OutChannels, KernelH = d.Kernel[0], KernelW = d.Kernel[1],
            StrideH = d.Stride[0], StrideW = d.Stride[1], PadH = d.Pad[0], PadW = d.Pad[1], Groups = d.Groups,
            WeightScheme = d.WeightScheme is null ? QuantScheme.Modified : Scheme(d.WeightScheme, d.Name),
            WeightBits = d.WeightBits ?? [],
            WeightLevels = d.WeightLevels?.ToDictionary(kv => int.Parse(kv.Key), kv => Bytes(kv.Value)) ?? new Dictionary<int, byte[]>(),
            SatScale = d.SatScale ?? [],
            BnScale = d.BnScale?.Select(b => Floats(b)!).ToArray(),
            BnShift = d.BnShift?.Select(b => Floats(b)!).ToArray(),
            Bias = Floats(d.Bias), BiasDivisor = d.BiasDivisor,
            InputQuant = d.InputQuant is { } q ? new ActivationSpec(Scheme(q.Scheme, d.Name), q.DoubleSided, q.Alpha, q.Bits) : null,
        };
    }

    static QuantScheme Scheme(string s, string? layer) =>
        Enum.TryParse<QuantScheme>(s, ignoreCase: true, out var v) ? v : throw new InvalidDataException($"layer '{layer}': unknown scheme '{s}'");

    sealed record Blob(long Offset, long Count);

    sealed class QuantDto
    {
        public string Scheme { get; set; } = "";
        public bool DoubleSided { get; set; }
        public float[] Alpha { get; set; } = [];
        public int[] Bits { get; set; } = [];
    }

    sealed class LayerDto
    {
        public string Op { get; set; } = "";
        public string? Name { get; set; }
        public int Input { get; set; }
        public int Output { get; set; }
        public int Residual { get; set; } = -1;
        public bool Relu { get; set; }
        public int InChannels { get; set; }
        public int OutChannels { get; set; }
        public int[] Kernel { get; set; } = [1, 1];
        public int[] Stride { get; set; } = [1, 1];
        public int[] Pad { get; set; } = [0, 0];
        public int Groups { get; set; } = 1;
        public string? WeightScheme { get; set; }
        public string? WeightStorage { get; set; }
        public int[]? WeightBits { get; set; }
        public Dictionary<string, Blob>? WeightLevels { get; set; }
        public float[]? SatScale { get; set; }
        public Blob[]? BnScale { get; set; }
        public Blob[]? BnShift { get; set; }
        public Blob? Bias { get; set; }
        public float[]? BiasDivisor { get; set; }
        public QuantDto? InputQuant { get; set; }
    }

    sealed class MetaDto
    {
        public int FormatVersion { get; set; } = ArtifactFile.FormatVersion;
        public int[] BitsList { get; set; } = [];
        public int InputChannels { get; set; }
        public int InputHeight { get; set; }
        public int InputWidth { get; set; }
        public LayerDto[] Layers { get; set; } = [];
    }
}
