using System.CommandLine;
using AdaBits.Checkpoints;
using AdaBits.Config;
using AdaBits.Export;
using AdaBits.Modules;
using AdaBits.IO;
using AdaBits.Training;
using TorchSharp;
using TorchSharp.PyBridge;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits export CKPT app:CFG [key=value ...] --format onnx|safetensors [--bits B|all] --out PATH`.</summary>
internal sealed class ExportCommand : CliCommand
{
    const string Help = """
        write a checkpoint as ONNX at one or every bit-width (or in float, or as safetensors)

        usage: adabits export CKPT app:CONFIG.yml [key=value ...] --format onnx --bits B|all [--float] --out PATH
               adabits export CKPT app:CONFIG.yml [key=value ...] --format onnx --float --out FILE
               adabits export CKPT app:CONFIG.yml [key=value ...] --format safetensors --out FILE

        Exports the model of CONFIG with the weights of checkpoint CKPT.
          --format onnx         one ONNX model (opset 21) at bit-width B, in eval mode: weights as integer
                                codes (INT4/UINT4 up to 4 bits, int8/uint8 up to 8) + DequantizeLinear, PACT
                                activations as QuantizeLinear/DequantizeLinear, BN folded per channel.
                                Input float32 [N, C, H, W] as the model receives it (raw 0..255 pixels when
                                normalize is False), output logits [N, classes]. B must be in bits_list
                                (a number, or [bw, ba] for a pair entry).
          --bits all            one file per bit-width of bits_list into the folder PATH (model_8bit.onnx, ...)
          --bits 32, --float    the full-precision network (no quantizers, BN folded), for comparison; with
                                --bits all also written into the folder, as model_float.onnx
          --format safetensors  the model's state dict (all bit-widths) as one safetensors file
          --format engine       one integer-engine artifact (.abits) holding every bit-width of bits_list
                                (weights once, as the top bit-width's codes); run it with 'adabits infer'
          --out PATH            the file (or folder, for --bits all) to write; files are written atomically
        The data set is not read: the input shape follows from dataset (and image_size), the classes from
        num_classes, else the data set (MNIST 10, CIFAR 10/100), else, for image folders, the checkpoint.
        Check an exported model with 'adabits eval-onnx PATH app:CONFIG.yml' (which does read the data).
        """;

    public override int Order => 90;

    public override Command Build()
    {
        var command = new Command("export", Help);
        var ckpt = new Argument<string>("CKPT") { Description = "The checkpoint (best_model.pt of a run folder, or any state dict)" };
        command.Arguments.Add(ckpt);
        var tokens = CliOptions.ConfigTokens(command);
        var format = CliOptions.Choice("--format", "What to write", "onnx", "onnx", "safetensors", "engine");
        var bits = CliOptions.Text("--bits", "B|all", "The bit-width to export (an entry of bits_list), or all");
        var output = CliOptions.Text("--out", "PATH", "The file (or folder, for --bits all) to write", required: true);
        var asFloat = CliOptions.Flag("--float", "Also (or with no --bits, only) the float network: BN folded, no quantizers");
        command.Options.Add(asFloat);
        command.Options.Add(format);
        command.Options.Add(bits);
        command.Options.Add(output);
        command.SetAction(r => Run(r.GetValue(ckpt)!, r.GetValue(tokens)!, r.GetValue(format)!, r.GetValue(bits), r.GetValue(asFloat), r.GetValue(output)!));
        return command;
    }

    public static int Run(string checkpoint, string[] configTokens, string format, string? bitsOption, bool asFloat, string output)
    {
        if (checkpoint.StartsWith("app:", StringComparison.Ordinal) || checkpoint.Contains('='))
            throw new UsageException("export: the first argument must be the checkpoint (see 'export --help')");
        var config = ConfigArgs.Load(configTokens);

        if (format == "onnx")
        {
            string bitsArg = bitsOption ?? (asFloat ? "32" : throw new UsageException("export: --format onnx needs --bits B|all or --float"));
            var bitsToExport = bitsArg == "all" ? config.Quant.BitsList.ToList() : [ParseBits(bitsArg, config)];
            if (asFloat && !bitsToExport.Contains(OnnxExporter.FloatBits)) bitsToExport.Add(OnnxExporter.FloatBits);
            if (bitsArg != "all" && bitsToExport.Count > 1)
                throw new UsageException("export: --float with --bits B writes two models: use --bits all for a folder, or --float alone");
            using var model = LoadModel(config, checkpoint, out int channels, out int height, out int width);
            foreach (var bits in bitsToExport)
            {
                string path = bitsArg == "all" ? Path.Combine(output, FileName(bits)) : output;
                OnnxExporter.Export(model, config, bits, channels, height, width, path, checkpoint);
                Console.WriteLine($"wrote {path} (bits {bits}, {new FileInfo(path).Length / 1024.0:F1} KiB)");
            }
            return 0;
        }
        if (format == "engine")
        {
            if (bitsOption is not null || asFloat) throw new UsageException("export: --bits and --float apply to --format onnx only (an engine artifact holds every bit-width)");
            using var model = LoadModel(config, checkpoint, out int channels, out int height, out int width);
            try
            {
                EngineExporter.Export(model, config.Quant.BitsList, channels, height, width, output);
            }
            catch (NotSupportedException e)
            {
                throw new UsageException($"export: {config.Model} {e.Message}");
            }
            Console.WriteLine($"wrote {output} (bits_list {Bits.ListToString(config.Quant.BitsList)}, {new FileInfo(output).Length / 1024.0:F1} KiB)");
            return 0;
        }
        if (bitsOption is not null || asFloat) throw new UsageException("export: --bits and --float apply to --format onnx only (safetensors holds every bit-width)");
        {
            using var model = LoadModel(config, checkpoint, out _, out _, out _);
            var state = model.state_dict();
            AtomicFile.Write(output, tmp => Safetensors.SaveStateDict(tmp, state));
            Console.WriteLine($"wrote {output} ({state.Count} tensors, {new FileInfo(output).Length / 1024.0:F1} KiB)");
            return 0;
        }
    }

    /// <summary>model_8bit.onnx, or model_w4a8bit.onnx for a [4, 8] entry.</summary>
    public static string FileName(Bits bits) =>
        bits == OnnxExporter.FloatBits && !bits.IsPair ? "model_float.onnx"
        : bits.IsPair ? $"model_w{bits.Weight}a{bits.Activation}bit.onnx" : $"model_{bits.Weight}bit.onnx";

    /// <summary>A bits_list entry (or 32, the float export): `4`, or a pair `[4, 8]` / `4,8`; anything else is a one-line usage error.</summary>
    static Bits ParseBits(string text, TrainConfig config)
    {
        string compact = text.Replace(" ", "").Trim('[', ']');
        var match = config.Quant.BitsList.Append(OnnxExporter.FloatBits).Cast<Bits?>().FirstOrDefault(b =>
            (b!.Value.IsPair ? $"{b.Value.Weight},{b.Value.Activation}" : $"{b.Value.Weight}") == compact);
        return match ?? throw new UsageException($"export: bits {text} is not in bits_list {Bits.ListToString(config.Quant.BitsList)}");
    }

    /// <summary>
    /// The model's input (C, H, W) and class count, without opening the data set: a trained checkpoint is
    /// exported where its training data need not be. The shape comes from the data set's kind; the classes
    /// from num_classes, else the data set's fixed count (MNIST, CIFAR), else, for the image-folder sets whose
    /// classes are their folders, from the checkpoint's classifier (<paramref name="state"/>, when there is one).
    /// </summary>
    internal static (int Channels, int Height, int Width, int Classes) InputShape(TrainConfig config,
        IReadOnlyDictionary<string, torch.Tensor>? state, string command)
    {
        var (channels, height, width, fixedClasses) = DatasetInput.Of(config);
        int? classes = config.NumClasses ?? fixedClasses ?? (state is null ? null : ModelFactory.ClassesOf(state));
        return (channels, height, width, classes ?? throw new UsageException(
            $"{command}: the classes of {config.Dataset} are counted from its image folders, which {command} does not read: set num_classes"));
    }

    static torch.nn.Module<torch.Tensor, torch.Tensor> LoadModel(TrainConfig config, string checkpoint, out int channels, out int height, out int width)
    {
        var state = CheckpointFile.LoadStateDict(checkpoint);
        (channels, height, width, int classes) = InputShape(config, state, "export");
        var model = ModelFactory.Create(config, channels, classes);
        CheckpointFile.LoadInto(model, state, checkpoint);
        return model;
    }
}
