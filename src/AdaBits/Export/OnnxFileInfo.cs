using AdaBits.Export.Onnx;
using Google.Protobuf;

namespace AdaBits.Export;

/// <summary>
/// What an ONNX file holds, read with the generated protobuf classes (no runtime): IR version, opset, metadata_props,
/// the initializers' names, element types and shapes, and the operators used. For checks and reports.
/// </summary>
internal sealed record OnnxFileInfo(long IrVersion, long Opset, IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<OnnxFileInfo.Initializer> Initializers, IReadOnlyList<string> OpTypes)
{
    public sealed record Initializer(string Name, OnnxDataType DataType, long[] Dims, int RawBytes);

    /// <summary>Reads a file; a file that is not an ONNX model gives an InvalidDataException naming it.</summary>
    public static OnnxFileInfo Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model '{path}' not found");
        try
        {
            return Parse(File.ReadAllBytes(path));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}");
        }
    }

    /// <summary>Parses a model's bytes; malformed protobuf gives a one-line InvalidDataException.</summary>
    public static OnnxFileInfo Parse(byte[] bytes)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"not an ONNX model ({e.Message.Split('\n')[0].TrimEnd('.')})");
        }
        var metadata = new Dictionary<string, string>();
        foreach (var p in model.MetadataProps) metadata[p.Key] = p.Value;
        var graph = model.Graph ?? new GraphProto();
        var inits = graph.Initializer
            .Select(t => new Initializer(t.Name, (OnnxDataType)t.DataType, t.Dims.ToArray(), t.RawData.Length)).ToList();
        long opset = model.OpsetImport.Where(o => string.IsNullOrEmpty(o.Domain) || o.Domain == "ai.onnx").Select(o => o.Version)
            .DefaultIfEmpty(0).Max();
        return new OnnxFileInfo(model.IrVersion, opset, metadata, inits, graph.Node.Select(n => n.OpType).ToList());
    }
}
