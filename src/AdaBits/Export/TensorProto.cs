using System.Runtime.InteropServices;
using Google.Protobuf;

namespace AdaBits.Export;

/// <summary>
/// onnx.proto TensorProto (initializers and constant attributes): dims = 1, data_type = 2, name = 8,
/// raw_data = 9 (little-endian; 4-bit types packed two per byte, the first element in the low nibble).
/// </summary>
public sealed class TensorProto : ProtoMessage
{
    public string Name { get; }
    public OnnxDataType DataType { get; }
    public long[] Dims { get; }
    public byte[] RawData { get; }

    TensorProto(string name, OnnxDataType type, long[] dims, byte[] raw)
    {
        Name = name;
        DataType = type;
        Dims = dims;
        RawData = raw;
    }

    public long ElementCount => Dims.Aggregate(1L, (a, b) => a * b);

    public static TensorProto FromFloats(string name, long[] dims, ReadOnlySpan<float> values)
    {
        Check(dims, values.Length);
        return new(name, OnnxDataType.Float, dims, MemoryMarshal.AsBytes(values).ToArray());
    }

    public static TensorProto FromInt64s(string name, long[] dims, ReadOnlySpan<long> values)
    {
        Check(dims, values.Length);
        return new(name, OnnxDataType.Int64, dims, MemoryMarshal.AsBytes(values).ToArray());
    }

    /// <summary>Integer codes stored as <paramref name="type"/> (each value must fit it).</summary>
    public static TensorProto FromIntegers(string name, long[] dims, OnnxDataType type, ReadOnlySpan<int> values)
    {
        Check(dims, values.Length);
        int width = type.Width();
        long lo = type.IsSigned() ? -(1L << (width - 1)) : 0, hi = type.IsSigned() ? (1L << (width - 1)) - 1 : (1L << width) - 1;
        foreach (int v in values)
            if (v < lo || v > hi) throw new ArgumentOutOfRangeException(nameof(values), $"{name}: code {v} does not fit {type}");
        byte[] raw;
        switch (width)
        {
            case 4:
                raw = new byte[(values.Length + 1) / 2];
                for (int i = 0; i < values.Length; i++)
                    raw[i / 2] |= (byte)((values[i] & 0xF) << (i % 2 == 0 ? 0 : 4));
                break;
            case 8:
                raw = new byte[values.Length];
                for (int i = 0; i < values.Length; i++) raw[i] = (byte)values[i];
                break;
            case 16:
                raw = new byte[values.Length * 2];
                for (int i = 0; i < values.Length; i++) BitConverter.TryWriteBytes(raw.AsSpan(2 * i), (short)values[i]);
                break;
            case 32:
                raw = MemoryMarshal.AsBytes(values).ToArray();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "not an integer storage type");
        }
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw_data is little-endian");
        return new(name, type, dims, raw);
    }

    static void Check(long[] dims, int count)
    {
        long n = dims.Aggregate(1L, (a, b) => a * b);
        if (n != count) throw new ArgumentException($"dims [{string.Join(", ", dims)}] hold {n} elements, got {count} values");
    }

    public override void WriteFields(CodedOutputStream o)
    {
        Proto.PackedInt64(o, 1, Dims);
        Proto.Int32(o, 2, (int)DataType);
        Proto.String(o, 8, Name);
        Proto.Bytes(o, 9, RawData);
    }
}
