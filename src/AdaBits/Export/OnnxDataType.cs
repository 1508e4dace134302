namespace AdaBits.Export;

/// <summary>TensorProto.DataType values of onnx.proto (the subset this exporter uses or reads).</summary>
internal enum OnnxDataType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    UInt4 = 21,
    Int4 = 22,
}

internal static class OnnxDataTypes
{
    /// <summary>Bits per element of an integer type.</summary>
    public static int Width(this OnnxDataType type) => type switch
    {
        OnnxDataType.UInt4 or OnnxDataType.Int4 => 4,
        OnnxDataType.UInt8 or OnnxDataType.Int8 => 8,
        OnnxDataType.UInt16 or OnnxDataType.Int16 => 16,
        OnnxDataType.Int32 or OnnxDataType.Float => 32,
        OnnxDataType.Int64 => 64,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no fixed width"),
    };

    public static bool IsSigned(this OnnxDataType type) =>
        type is OnnxDataType.Int4 or OnnxDataType.Int8 or OnnxDataType.Int16 or OnnxDataType.Int32 or OnnxDataType.Int64;

    /// <summary>The narrowest integer type of ONNX's DequantizeLinear (opset 21) that holds every value in [min, max].</summary>
    public static OnnxDataType IntegerFor(long min, long max)
    {
        bool signed = min < 0;
        foreach (int width in new[] { 4, 8, 16 })
        {
            long lo = signed ? -(1L << (width - 1)) : 0, hi = signed ? (1L << (width - 1)) - 1 : (1L << width) - 1;
            if (min >= lo && max <= hi)
                return (width, signed) switch
                {
                    (4, true) => OnnxDataType.Int4,
                    (4, false) => OnnxDataType.UInt4,
                    (8, true) => OnnxDataType.Int8,
                    (8, false) => OnnxDataType.UInt8,
                    (16, true) => OnnxDataType.Int16,
                    _ => OnnxDataType.UInt16,
                };
        }
        if (min >= int.MinValue && max <= int.MaxValue) return OnnxDataType.Int32;
        throw new ArgumentOutOfRangeException(nameof(max), $"integer codes [{min}, {max}] do not fit int32");
    }
}
