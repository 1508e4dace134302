using Google.Protobuf;

namespace AdaBits.Export;

/// <summary>
/// What an ONNX file holds, read straight from its protobuf (no runtime): opset, metadata_props, the
/// initializers' names, element types and shapes, and the operators used. For checks and reports.
/// </summary>
public sealed record OnnxFileInfo(long IrVersion, long Opset, IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<OnnxFileInfo.Initializer> Initializers, IReadOnlyList<string> OpTypes)
{
    public sealed record Initializer(string Name, OnnxDataType DataType, long[] Dims, int RawBytes);

    public static OnnxFileInfo Read(string path)
    {
        long ir = 0, opset = 0;
        var metadata = new Dictionary<string, string>();
        var inits = new List<Initializer>();
        var ops = new List<string>();
        foreach (var (field, value) in Fields(File.ReadAllBytes(path)))
            switch (field)
            {
                case 1: ir = (long)value.Varint; break;
                case 7:
                    foreach (var (gf, gv) in Fields(value.Bytes!))
                        if (gf == 5) inits.Add(ReadTensor(gv.Bytes!));
                        else if (gf == 1)
                            foreach (var (nf, nv) in Fields(gv.Bytes!))
                                if (nf == 4) ops.Add(nv.String);
                    break;
                case 8:
                    foreach (var (of, ov) in Fields(value.Bytes!))
                        if (of == 2) opset = (long)ov.Varint;
                    break;
                case 14:
                    string key = "", val = "";
                    foreach (var (mf, mv) in Fields(value.Bytes!))
                        if (mf == 1) key = mv.String; else if (mf == 2) val = mv.String;
                    metadata[key] = val;
                    break;
            }
        return new OnnxFileInfo(ir, opset, metadata, inits, ops);
    }

    static Initializer ReadTensor(byte[] bytes)
    {
        string name = "";
        int type = 0, raw = 0;
        var dims = new List<long>();
        foreach (var (f, v) in Fields(bytes))
            switch (f)
            {
                case 1:
                    if (v.Bytes is null) dims.Add((long)v.Varint);
                    else
                    {
                        var input = new CodedInputStream(v.Bytes);
                        while (!input.IsAtEnd) dims.Add(input.ReadInt64());
                    }
                    break;
                case 2: type = (int)v.Varint; break;
                case 8: name = v.String; break;
                case 9: raw = v.Bytes!.Length; break;
            }
        return new Initializer(name, (OnnxDataType)type, dims.ToArray(), raw);
    }

    readonly record struct Value(ulong Varint, byte[]? Bytes)
    {
        public string String => System.Text.Encoding.UTF8.GetString(Bytes ?? []);
    }

    static IEnumerable<(int Field, Value Value)> Fields(byte[] bytes)
    {
        var input = new CodedInputStream(bytes);
        var list = new List<(int, Value)>();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            int field = WireFormat.GetTagFieldNumber(tag);
            switch (WireFormat.GetTagWireType(tag))
            {
                case WireFormat.WireType.Varint: list.Add((field, new Value(input.ReadUInt64(), null))); break;
                case WireFormat.WireType.LengthDelimited: list.Add((field, new Value(0, input.ReadBytes().ToByteArray()))); break;
                case WireFormat.WireType.Fixed32: list.Add((field, new Value(input.ReadFixed32(), null))); break;
                case WireFormat.WireType.Fixed64: list.Add((field, new Value(input.ReadFixed64(), null))); break;
                default: throw new InvalidDataException($"unsupported protobuf wire type in tag {tag}");
            }
        }
        return list;
    }
}
