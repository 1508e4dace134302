using Google.Protobuf;

namespace AdaBits.Export;

/// <summary>
/// onnx.proto ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6, graph = 7,
/// opset_import = 8 (OperatorSetIdProto: domain = 1, version = 2), metadata_props = 14
/// (StringStringEntryProto: key = 1, value = 2).
/// </summary>
public sealed class ModelProto : ProtoMessage
{
    /// <summary>IR version 10 (ONNX 1.16): the first with INT4/UINT4 and opset 21.</summary>
    public const long IrVersion = 10;
    public const long Opset = 21;

    public required GraphProto Graph { get; init; }
    public string ProducerName { get; init; } = "AdaBits.NET";
    public string ProducerVersion { get; init; } = "";
    public string? DocString { get; init; }
    public long OpsetVersion { get; init; } = Opset;
    public IReadOnlyList<KeyValuePair<string, string>> Metadata { get; init; } = [];

    public override void WriteFields(CodedOutputStream o)
    {
        Proto.Int64(o, 1, IrVersion);
        Proto.String(o, 2, ProducerName);
        Proto.String(o, 3, ProducerVersion);
        Proto.String(o, 6, DocString);
        Proto.Message(o, 7, Graph);
        Proto.Message(o, 8, new OpsetId("", OpsetVersion));
        foreach (var (k, v) in Metadata) Proto.Message(o, 14, new StringEntry(k, v));
    }

    sealed class OpsetId(string domain, long version) : ProtoMessage
    {
        public override void WriteFields(CodedOutputStream o)
        {
            Proto.String(o, 1, domain);
            Proto.Int64(o, 2, version);
        }
    }

    sealed class StringEntry(string key, string value) : ProtoMessage
    {
        public override void WriteFields(CodedOutputStream o)
        {
            Proto.String(o, 1, key);
            Proto.String(o, 2, value);
        }
    }

    public void Save(string path) => File.WriteAllBytes(path, ToBytes());
}
