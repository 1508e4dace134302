using Google.Protobuf;

namespace AdaBits.Export;

/// <summary>
/// onnx.proto AttributeProto: name = 1, f = 2, i = 3, s = 4, t = 5, floats = 7, ints = 8, type = 20
/// (AttributeType FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7).
/// </summary>
public sealed class AttributeProto : ProtoMessage
{
    public string Name { get; }
    object Value { get; }

    AttributeProto(string name, object value)
    {
        Name = name;
        Value = value;
    }

    public static AttributeProto Int(string name, long value) => new(name, value);
    public static AttributeProto Float(string name, float value) => new(name, value);
    public static AttributeProto String(string name, string value) => new(name, value);
    public static AttributeProto Ints(string name, params long[] values) => new(name, values);
    public static AttributeProto Floats(string name, params float[] values) => new(name, values);
    public static AttributeProto Tensor(string name, TensorProto value) => new(name, value);

    public override void WriteFields(CodedOutputStream o)
    {
        Proto.String(o, 1, Name);
        switch (Value)
        {
            case float f:
                Proto.Float(o, 2, f);
                Proto.Int32(o, 20, 1);
                break;
            case long i:
                if (i != 0) Proto.Int64(o, 3, i);
                else { o.WriteTag(3, WireFormat.WireType.Varint); o.WriteInt64(0); }
                Proto.Int32(o, 20, 2);
                break;
            case string s:
                Proto.Bytes(o, 4, System.Text.Encoding.UTF8.GetBytes(s));
                Proto.Int32(o, 20, 3);
                break;
            case TensorProto t:
                Proto.Message(o, 5, t);
                Proto.Int32(o, 20, 4);
                break;
            case float[] fs:
                Proto.PackedFloat(o, 7, fs);
                Proto.Int32(o, 20, 6);
                break;
            case long[] ints:
                Proto.PackedInt64(o, 8, ints);
                Proto.Int32(o, 20, 7);
                break;
            default:
                throw new InvalidOperationException($"attribute {Name}: unsupported value {Value.GetType().Name}");
        }
    }
}
