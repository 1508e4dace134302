using Google.Protobuf;

namespace AdaBits.Export;

/// <summary>onnx.proto GraphProto: node = 1, name = 2, initializer = 5, doc_string = 10, input = 11, output = 12.</summary>
public sealed class GraphProto : ProtoMessage
{
    public string Name { get; init; } = "graph";
    public string? DocString { get; init; }
    public List<NodeProto> Nodes { get; } = [];
    public List<TensorProto> Initializers { get; } = [];
    public List<ValueInfoProto> Inputs { get; } = [];
    public List<ValueInfoProto> Outputs { get; } = [];

    public override void WriteFields(CodedOutputStream o)
    {
        Proto.Messages(o, 1, Nodes);
        Proto.String(o, 2, Name);
        Proto.Messages(o, 5, Initializers);
        Proto.String(o, 10, DocString);
        Proto.Messages(o, 11, Inputs);
        Proto.Messages(o, 12, Outputs);
    }
}
