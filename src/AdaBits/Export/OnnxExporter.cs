using AdaBits.Config;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Export;

/// <summary>
/// Writes an AdaBits model at one bit-width as an ONNX model (opset 21, IR 10) that computes what
/// model.eval() + SetBits(bits) computes: weights as integer codes (INT4/UINT4 at up to 4 bits, int8/uint8 at
/// up to 8) with per-tensor DequantizeLinear, PACT activations as QuantizeLinear/DequantizeLinear, each
/// SwitchBN's active copy folded into a per-channel Mul/Add. Input: float32 [N, C, H, W] of what the model
/// receives (raw 0..255 pixels when the config's normalize is False); output: logits [N, classes].
/// </summary>
public static class OnnxExporter
{
    public const string InputName = "input";
    public const string OutputName = "logits";

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

    /// <summary>Throws ArgumentException naming the bits and the list when bits is not an entry of bits_list.</summary>
    public static void CheckBits(QuantOptions options, Bits bits)
    {
        if (options.IndexOf(bits) < 0)
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
        Export(model, config.ToQuantOptions(), bits, channels, height, width, path, metadata);
    }

    /// <summary>Writes the model at <paramref name="bits"/> to <paramref name="path"/> (atomically).</summary>
    public static void Export(nn.Module<Tensor, Tensor> model, QuantOptions options, Bits bits, int channels, int height, int width,
        string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var proto = Build(model, options, bits, channels, height, width, metadata);
        byte[] bytes = proto.ToBytes();
        AtomicFile.Write(path, tmp => File.WriteAllBytes(tmp, bytes));
    }

    /// <summary>The ONNX model in memory. The model's mode and bits are restored afterwards.</summary>
    public static ModelProto Build(nn.Module<Tensor, Tensor> model, QuantOptions options, Bits bits, int channels, int height, int width,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        CheckBits(options, bits);
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"input shape [{channels}, {height}, {width}] must be positive");
        var layers = model.modules().OfType<QuantizedLayer>().ToList();
        foreach (var layer in layers)
            if (layer.LayerOptions.IndexOf(bits) < 0)
                throw new ArgumentException($"bits {bits} is not in the model's bits_list {Bits.ListToString(layer.LayerOptions.BitsList)}");
        if (!layers.All(l => l.weight.device_type == DeviceType.CPU))
            throw new ArgumentException("move the model to the CPU before exporting it");

        bool wasTraining = model.training;
        var before = model.modules().OfType<IBitSwitchable>().FirstOrDefault()?.Bits;
        try
        {
            model.eval();
            model.SetBits(bits);
            using var _ = no_grad();
            var graph = new OnnxGraphBuilder($"{model.GetName()}_{bits}bit",
                $"{model.GetName()} at bits {bits} (eval mode), exported by AdaBits.NET");
            var emit = new OnnxLayerEmitter(graph);
            graph.Input(InputName, OnnxDataType.Float, "N", (long)channels, (long)height, (long)width);
            var x = new OnnxValue(InputName, channels, height, width);
            var y = model switch
            {
                QMnistCnn m => EmitQMnistCnn(emit, m, x),
                QResNetCifar r => EmitQResNetCifar(emit, r, x),
                _ => throw new NotSupportedException(
                    $"ONNX export supports QMnistCnn and QResNetCifar, not {model.GetType().Name}"),
            };
            // the last node's output becomes the graph output "logits"
            graph.Graph.Nodes.Add(new NodeProto("Identity", "logits/Identity", [y.Name], [OutputName]));
            graph.Output(OutputName, OnnxDataType.Float, "N", y.Channels);

            var props = new List<KeyValuePair<string, string>>
            {
                new(Keys.Bits, bits.ToString()),
                new(Keys.BitsList, Bits.ListToString(options.BitsList)),
            };
            if (metadata is not null)
                props.AddRange(metadata.Where(p => p.Key is not (Keys.Bits or Keys.BitsList)));
            return new ModelProto
            {
                Graph = graph.Graph,
                ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
                DocString = graph.Graph.DocString,
                Metadata = props,
            };
        }
        finally
        {
            model.train(wasTraining);
            if (before is Bits b) model.SetBits(b);
        }
    }

    /// <summary>QMnistCnn: head and four conv-BN-ReLU units, global average pool, the linear classifier.</summary>
    static OnnxValue EmitQMnistCnn(OnnxLayerEmitter emit, QMnistCnn model, OnnxValue x)
    {
        var head = (nn.Module)Child(model, "head");
        var units = new List<(string Name, nn.Module Unit)> { ("head", head) };
        units.AddRange(Child(model, "body").named_children().Select(c => ($"body.{c.name}", (nn.Module)c.module)));
        for (int i = 0; i < units.Count; i++)
        {
            var (name, unit) = units[i];
            var conv = (QConv2d)Child(unit, "0");
            var bn = (SwitchableBatchNorm2d)Child(unit, "1");
            x = emit.EmitQConv(x, conv, $"{name}.0");
            x = emit.EmitBatchNorm(x, bn, $"{name}.1");
            var next = i + 1 < units.Count ? (QConv2d)Child(units[i + 1].Unit, "0") : null;
            // the next conv's PACT clip contains the ReLU (the model skips it too; either way exact)
            if (next is null || !next.ClipsInputAtZero(false)) x = emit.EmitRelu(x, $"{name}.2");
        }
        x = emit.EmitGlobalAveragePoolFlatten(x, "avgpool");
        return emit.EmitQLinear(x, (QLinear)Child(Child(model, "classifier"), "0"), "classifier.0");
    }

    /// <summary>QResNetCifar: head conv-BN-ReLU, the basic blocks, global average pool, the linear classifier.</summary>
    static OnnxValue EmitQResNetCifar(OnnxLayerEmitter emit, QResNetCifar model, OnnxValue x)
    {
        var head = Child(model, "head");
        x = emit.EmitQConv(x, (QConv2d)Child(head, "0"), "head.0");
        x = emit.EmitBatchNorm(x, (SwitchableBatchNorm2d)Child(head, "1"), "head.1");
        x = emit.EmitRelu(x, "head.2");
        foreach (var (name, module) in model.named_children())
            if (module is QBasicBlock block) x = EmitQBasicBlock(emit, block, x, name);
        x = emit.EmitGlobalAveragePoolFlatten(x, "avgpool");
        return emit.EmitQLinear(x, (QLinear)Child(Child(model, "classifier"), "0"), "classifier.0");
    }

    /// <summary>relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), the shortcut a conv-BN projection or x itself.</summary>
    public static OnnxValue EmitQBasicBlock(OnnxLayerEmitter emit, QBasicBlock block, OnnxValue x, string name)
    {
        var body = Child(block, "body");
        var conv2 = (QConv2d)Child(body, "3");
        var y = emit.EmitQConv(x, (QConv2d)Child(body, "0"), $"{name}.body.0");
        y = emit.EmitBatchNorm(y, (SwitchableBatchNorm2d)Child(body, "1"), $"{name}.body.1");
        if (!conv2.ClipsInputAtZero(conv2.DoubleSide)) y = emit.EmitRelu(y, $"{name}.body.2");
        y = emit.EmitQConv(y, conv2, $"{name}.body.3");
        y = emit.EmitBatchNorm(y, (SwitchableBatchNorm2d)Child(body, "4"), $"{name}.body.4");
        var residual = x;
        var shortcut = block.named_children().FirstOrDefault(c => c.name == "shortcut").module;
        if (shortcut is not null)
        {
            residual = emit.EmitQConv(x, (QConv2d)Child(shortcut, "0"), $"{name}.shortcut.0");
            residual = emit.EmitBatchNorm(residual, (SwitchableBatchNorm2d)Child(shortcut, "1"), $"{name}.shortcut.1");
        }
        return emit.EmitRelu(emit.EmitAdd(y, residual, $"{name}.add"), $"{name}.post_relu");
    }

    /// <summary>A named child module (state-dict naming), with a clear error when the layout is not the expected one.</summary>
    public static nn.Module Child(nn.Module parent, string name) =>
        parent.named_children().FirstOrDefault(c => c.name == name).module
        ?? throw new InvalidOperationException($"{parent.GetName()} has no submodule '{name}'");
}
