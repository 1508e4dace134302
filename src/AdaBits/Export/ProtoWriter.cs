using Google.Protobuf;

namespace AdaBits.Export;

/// <summary>
/// A protobuf message of the ONNX schema subset that this exporter writes. Each message writes its own
/// fields; nested messages are written length-delimited (serialised first, then copied in).
/// </summary>
public abstract class ProtoMessage
{
    /// <summary>Writes this message's fields (not a length prefix).</summary>
    public abstract void WriteFields(CodedOutputStream output);

    /// <summary>The message's wire bytes.</summary>
    public byte[] ToBytes()
    {
        using var memory = new MemoryStream();
        using (var output = new CodedOutputStream(memory, leaveOpen: true))
        {
            WriteFields(output);
            output.Flush();
        }
        return memory.ToArray();
    }
}

/// <summary>Field writers for the wire types ONNX uses (proto3: default values are left out).</summary>
internal static class Proto
{
    public static void String(CodedOutputStream o, int field, string? value)
    {
        if (string.IsNullOrEmpty(value)) return;
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteString(value);
    }

    public static void Bytes(CodedOutputStream o, int field, byte[] value)
    {
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(UnsafeByteOperations.UnsafeWrap(value));
    }

    public static void Int64(CodedOutputStream o, int field, long value)
    {
        if (value == 0) return;
        o.WriteTag(field, WireFormat.WireType.Varint);
        o.WriteInt64(value);
    }

    public static void Int32(CodedOutputStream o, int field, int value)
    {
        if (value == 0) return;
        o.WriteTag(field, WireFormat.WireType.Varint);
        o.WriteInt32(value);
    }

    public static void Float(CodedOutputStream o, int field, float value)
    {
        o.WriteTag(field, WireFormat.WireType.Fixed32);
        o.WriteFloat(value);
    }

    /// <summary>A repeated int64 field, packed.</summary>
    public static void PackedInt64(CodedOutputStream o, int field, IReadOnlyCollection<long> values)
    {
        if (values.Count == 0) return;
        int size = values.Sum(CodedOutputStream.ComputeInt64Size);
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteLength(size);
        foreach (long v in values) o.WriteInt64(v);
    }

    /// <summary>A repeated float field, packed.</summary>
    public static void PackedFloat(CodedOutputStream o, int field, IReadOnlyCollection<float> values)
    {
        if (values.Count == 0) return;
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteLength(values.Count * 4);
        foreach (float v in values) o.WriteFloat(v);
    }

    public static void Message(CodedOutputStream o, int field, ProtoMessage? message)
    {
        if (message is null) return;
        Bytes(o, field, message.ToBytes());
    }

    public static void Messages(CodedOutputStream o, int field, IEnumerable<ProtoMessage> messages)
    {
        foreach (var m in messages) Bytes(o, field, m.ToBytes());
    }
}
