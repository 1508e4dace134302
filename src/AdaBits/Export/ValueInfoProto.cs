using Google.Protobuf;

namespace AdaBits.Export;

/// <summary>
/// onnx.proto ValueInfoProto (name = 1, type = 2) of a tensor: TypeProto.tensor_type = 1 holding
/// elem_type = 1 and shape = 2; TensorShapeProto.dim = 1, each dim_value = 1 or dim_param = 2.
/// A dimension given as a string is symbolic (e.g. the batch size "N").
/// </summary>
public sealed class ValueInfoProto(string name, OnnxDataType elementType, IReadOnlyList<object> dims) : ProtoMessage
{
    public string Name { get; } = name;
    public OnnxDataType ElementType { get; } = elementType;
    /// <summary>long (fixed) or string (symbolic) per dimension.</summary>
    public IReadOnlyList<object> Dims { get; } = dims;

    public override void WriteFields(CodedOutputStream o)
    {
        Proto.String(o, 1, Name);
        Proto.Message(o, 2, new TypeProto(ElementType, Dims));
    }

    sealed class TypeProto(OnnxDataType elementType, IReadOnlyList<object> dims) : ProtoMessage
    {
        public override void WriteFields(CodedOutputStream o) => Proto.Message(o, 1, new TensorType(elementType, dims));
    }

    sealed class TensorType(OnnxDataType elementType, IReadOnlyList<object> dims) : ProtoMessage
    {
        public override void WriteFields(CodedOutputStream o)
        {
            Proto.Int32(o, 1, (int)elementType);
            Proto.Message(o, 2, new Shape(dims));
        }
    }

    sealed class Shape(IReadOnlyList<object> dims) : ProtoMessage
    {
        public override void WriteFields(CodedOutputStream o)
        {
            foreach (var d in dims) Proto.Message(o, 1, new Dimension(d));
        }
    }

    sealed class Dimension(object value) : ProtoMessage
    {
        public override void WriteFields(CodedOutputStream o)
        {
            switch (value)
            {
                case long n:
                    o.WriteTag(1, WireFormat.WireType.Varint);
                    o.WriteInt64(n);
                    break;
                case int n:
                    o.WriteTag(1, WireFormat.WireType.Varint);
                    o.WriteInt64(n);
                    break;
                case string s:
                    Proto.String(o, 2, s);
                    break;
                default:
                    throw new ArgumentException($"dimension {value} is neither a number nor a name");
            }
        }
    }
}
