using System.Runtime.InteropServices;
using AdaBits.Export.Onnx;
using Google.Protobuf;

namespace AdaBits.Export;

/// <summary>
/// Builds an ONNX <see cref="GraphProto"/> (the protoc-generated message): unique value names, initializers
/// (constants) and nodes; each node method returns the name of its output.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    readonly Dictionary<string, int> used = new(StringComparer.Ordinal);

    public GraphProto Graph { get; }

    public OnnxGraphBuilder(string name, string? docString = null)
    {
        Graph = new GraphProto { Name = name };
        if (!string.IsNullOrEmpty(docString)) Graph.DocString = docString;
    }

    /// <summary>A name not used before in this graph, derived from the hint.</summary>
    public string Fresh(string hint)
    {
        string baseName = string.IsNullOrEmpty(hint) ? "v" : hint;
        if (!used.TryGetValue(baseName, out int n))
        {
            used[baseName] = 1;
            return baseName;
        }
        string name;
        do name = $"{baseName}_{n++}"; while (used.ContainsKey(name));
        used[baseName] = n;
        used[name] = 1;
        return name;
    }

    /// <summary>Adds a node with one output named after the hint; returns that output's name.</summary>
    public string Node(string opType, string outputHint, IReadOnlyList<string> inputs, params AttributeProto[] attributes)
    {
        string output = Fresh(outputHint);
        AddNode(opType, inputs, output, attributes);
        return output;
    }

    /// <summary>Adds a node writing the given (already unique) output name.</summary>
    public void AddNode(string opType, IReadOnlyList<string> inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Fresh($"{output}/{opType}") };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
    }

    string Initializer(string hint, long[] dims, OnnxDataType type, byte[] raw)
    {
        var t = new TensorProto { Name = Fresh(hint), DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        t.Dims.AddRange(dims);
        Graph.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>A float32 constant of the given shape.</summary>
    public string Floats(string hint, long[] dims, ReadOnlySpan<float> values)
    {
        Check(hint, dims, values.Length);
        return Initializer(hint, dims, OnnxDataType.Float, MemoryMarshal.AsBytes(values).ToArray());
    }

    /// <summary>A float32 scalar constant.</summary>
    public string Scalar(string hint, float value) => Floats(hint, [], [value]);

    /// <summary>A 1-D int64 constant (shapes, pads).</summary>
    public string Int64s(string hint, params long[] values) =>
        Initializer(hint, [values.Length], OnnxDataType.Int64, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    /// <summary>
    /// Integer codes stored as <paramref name="type"/> (each value must fit it): little-endian raw_data, 4-bit types
    /// packed two per byte with the first element in the low nibble (the ONNX layout).
    /// </summary>
    public string Integers(string hint, long[] dims, OnnxDataType type, ReadOnlySpan<int> values)
    {
        Check(hint, dims, values.Length);
        int width = type.Width();
        long lo = type.IsSigned() ? -(1L << (width - 1)) : 0, hi = type.IsSigned() ? (1L << (width - 1)) - 1 : (1L << width) - 1;
        foreach (int v in values)
            if (v < lo || v > hi) throw new ArgumentOutOfRangeException(nameof(values), $"{hint}: code {v} does not fit {type}");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw_data is little-endian");
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
        return Initializer(hint, dims, type, raw);
    }

    static void Check(string hint, long[] dims, int count)
    {
        long n = dims.Aggregate(1L, (a, b) => a * b);
        if (n != count) throw new ArgumentException($"{hint}: dims [{string.Join(", ", dims)}] hold {n} elements, got {count} values");
    }

    public void Input(string name, OnnxDataType type, params object[] dims) => Graph.Input.Add(ValueInfo(name, type, dims));
    public void Output(string name, OnnxDataType type, params object[] dims) => Graph.Output.Add(ValueInfo(name, type, dims));

    /// <summary>A tensor's value info; each dimension a number (fixed) or a string (symbolic, e.g. the batch "N").</summary>
    static ValueInfoProto ValueInfo(string name, OnnxDataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d switch
            {
                long n => new TensorShapeProto.Types.Dimension { DimValue = n },
                int n => new TensorShapeProto.Types.Dimension { DimValue = n },
                string s => new TensorShapeProto.Types.Dimension { DimParam = s },
                _ => throw new ArgumentException($"dimension {d} is neither a number nor a name"),
            });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };
}
