using Google.Protobuf;

namespace AdaBits.Export;

/// <summary>onnx.proto NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7.</summary>
public sealed class NodeProto(string opType, string name, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs,
    IReadOnlyList<AttributeProto>? attributes = null) : ProtoMessage
{
    public string OpType { get; } = opType;
    public string Name { get; } = name;
    public IReadOnlyList<string> Inputs { get; } = inputs;
    public IReadOnlyList<string> Outputs { get; } = outputs;
    public IReadOnlyList<AttributeProto> Attributes { get; } = attributes ?? [];

    public override void WriteFields(CodedOutputStream o)
    {
        // an empty input name (an optional input left out) must still be written, to keep positions
        foreach (var i in Inputs) { o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString(i); }
        foreach (var x in Outputs) { o.WriteTag(2, WireFormat.WireType.LengthDelimited); o.WriteString(x); }
        Proto.String(o, 3, Name);
        Proto.String(o, 4, OpType);
        Proto.Messages(o, 5, Attributes);
    }
}
