using AdaBits.Config;
using AdaBits.Export.Onnx;
using AdaBits.Graph;
using AdaBits.Modules;
using AdaBits.IO;
using Google.Protobuf;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Export;

/// <summary>
/// Writes a model at one bit-width as an ONNX model (opset 21, IR 10) that computes what model.eval() +
/// SetBits(bits) computes, from its lowered graph (GraphBuilder, then GraphPasses.ForInference): weights as
/// integer codes (INT4/UINT4 at up to 4 bits, int8/uint8 at up to 8) with per-tensor DequantizeLinear, PACT
/// activations as QuantizeLinear/DequantizeLinear, each SwitchBN's active copy folded into a per-channel Mul/Add.
/// Bits 32 (<see cref="FloatBits"/>) writes the full-precision network (no quantizers, BN folded) even when
/// bits_list does not hold 32. Input: float32 [N, C, H, W] of what the model receives (raw 0..255 pixels when the
/// config's normalize is False); output: logits [N, classes].
/// </summary>
internal static class OnnxExporter
{
    public const string InputName = "input";
    public const string OutputName = "logits";
    /// <summary>IR version 10 (ONNX 1.16): the first with INT4/UINT4 and opset 21.</summary>
    public const long IrVersion = 10;
    public const long Opset = 21;

    /// <summary>The full-precision export (`--bits 32`, `--float`).</summary>
    public static readonly Bits FloatBits = new(32);

    /// <summary>Metadata keys written into metadata_props.</summary>
    public static class Keys
    {
        public const string Bits = "bits";
        public const string BitsList = "bits_list";
        public const string Checkpoint = "checkpoint";
        public const string Config = "config";
        public const string Model = "model";
        public const string Input = "input";
    }

    /// <summary>Throws ArgumentException naming the bits and the list when bits is neither an entry of bits_list nor 32.</summary>
    public static void CheckBits(QuantOptions options, Bits bits)
    {
        if (options.IndexOf(bits) < 0 && bits != FloatBits)
            throw new ArgumentException($"bits {bits} is not in bits_list {Bits.ListToString(options.BitsList)}");
    }

    /// <summary>Exports with the config's quantization settings; metadata records the config (and checkpoint) paths.</summary>
    public static void Export(nn.Module<Tensor, Tensor> model, TrainConfig config, Bits bits, int channels, int height, int width,
        string path, string? checkpointPath = null)
    {
        var metadata = new Dictionary<string, string>
        {
            [Keys.Config] = string.IsNullOrEmpty(config.SourcePath) ? "" : Path.GetFullPath(config.SourcePath),
            [Keys.Model] = config.Model,
            [Keys.Input] = config.Normalize
                ? "float32 [N, C, H, W], normalized as the config's data transform does"
                : "float32 [N, C, H, W], raw pixel values 0..255 (normalize False)",
        };
        if (checkpointPath is not null) metadata[Keys.Checkpoint] = Path.GetFullPath(checkpointPath);
        Export(model, config.Quant, bits, channels, height, width, path, metadata);
    }

    /// <summary>Writes the model at <paramref name="bits"/> to <paramref name="path"/> (atomically).</summary>
    public static void Export(nn.Module<Tensor, Tensor> model, QuantOptions options, Bits bits, int channels, int height, int width,
        string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        byte[] bytes = Build(model, options, bits, channels, height, width, metadata).ToByteArray();
        AtomicFile.Write(path, tmp => File.WriteAllBytes(tmp, bytes));
    }

    /// <summary>The ONNX model in memory. The model's mode and bits are restored afterwards.</summary>
    internal static ModelProto Build(nn.Module<Tensor, Tensor> model, QuantOptions options, Bits bits, int channels, int height, int width,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        CheckBits(options, bits);
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"input shape [{channels}, {height}, {width}] must be positive");
        var layers = model.modules().OfType<QuantizedLayer>().ToList();
        foreach (var layer in layers)
            if (layer.LayerOptions.IndexOf(bits) < 0 && bits != FloatBits)
                throw new ArgumentException($"bits {bits} is not in the model's bits_list {Bits.ListToString(layer.LayerOptions.BitsList)}");
        if (!layers.All(l => l.weight.device_type == DeviceType.CPU))
            throw new ArgumentException("move the model to the CPU before exporting it");

        var lowered = GraphPasses.ForInference(GraphBuilder.Build(model, bits, channels, height, width));
        string label = bits == FloatBits ? "float" : $"{bits}bit";
        var graph = new OnnxGraphBuilder($"{model.GetName()}_{label}",
            $"{model.GetName()} at bits {bits} (eval mode), exported by AdaBits.NET");
        graph.Input(InputName, OnnxDataType.Float, "N", (long)channels, (long)height, (long)width);
        string y = new OnnxNodeWriter(graph).Write(lowered, InputName);
        // the last node's output becomes the graph output "logits"
        graph.AddNode("Identity", [y], OutputName);
        graph.Output(OutputName, OnnxDataType.Float, new object[] { "N" }.Concat(lowered.Output.Shape.Cast<object>()).ToArray());

        var proto = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "AdaBits.NET",
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
            DocString = graph.Graph.DocString,
            Graph = graph.Graph,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = Keys.Bits, Value = bits.ToString() });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = Keys.BitsList, Value = Bits.ListToString(options.BitsList) });
        if (metadata is not null)
            foreach (var (k, v) in metadata.Where(p => p.Key is not (Keys.Bits or Keys.BitsList)))
                proto.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return proto;
    }
}
