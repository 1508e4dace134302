namespace AdaBits.Export;

/// <summary>
/// Builds a <see cref="GraphProto"/>: unique value names, initializers (constants) and nodes; each node
/// method returns the name of its (first) output.
/// </summary>
public sealed class OnnxGraphBuilder
{
    readonly Dictionary<string, int> used = new(StringComparer.Ordinal);

    public GraphProto Graph { get; }

    public OnnxGraphBuilder(string name, string? docString = null) => Graph = new GraphProto { Name = name, DocString = docString };

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
        Graph.Nodes.Add(new NodeProto(opType, Fresh($"{output}/{opType}"), inputs, [output], attributes));
        return output;
    }

    public string Initializer(TensorProto tensor)
    {
        Graph.Initializers.Add(tensor);
        return tensor.Name;
    }

    /// <summary>A float32 constant of the given shape.</summary>
    public string Floats(string hint, long[] dims, ReadOnlySpan<float> values) =>
        Initializer(TensorProto.FromFloats(Fresh(hint), dims, values));

    /// <summary>A float32 scalar constant.</summary>
    public string Scalar(string hint, float value) => Floats(hint, [], [value]);

    /// <summary>A 1-D int64 constant (shapes, pads).</summary>
    public string Int64s(string hint, params long[] values) =>
        Initializer(TensorProto.FromInt64s(Fresh(hint), [values.Length], values));

    /// <summary>An integer constant stored as the given type.</summary>
    public string Integers(string hint, long[] dims, OnnxDataType type, ReadOnlySpan<int> values) =>
        Initializer(TensorProto.FromIntegers(Fresh(hint), dims, type, values));

    public void Input(string name, OnnxDataType type, params object[] dims) => Graph.Inputs.Add(new ValueInfoProto(name, type, dims));
    public void Output(string name, OnnxDataType type, params object[] dims) => Graph.Outputs.Add(new ValueInfoProto(name, type, dims));
}
