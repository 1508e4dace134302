using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using AdaBits.Export;
using AdaBits.Training;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits eval-onnx MODEL.onnx app:CFG [key=value ...] [--json]`.</summary>
internal sealed class EvalOnnxCommand : CliCommand
{
    const string Help = """
        run an exported ONNX model on the validation set, compared with TorchSharp

        Runs an exported model with ONNX Runtime (basic graph optimizations) on the config's validation
        set and reports top-1 / top-5 accuracy and the agreement of its top-1 predictions with the
        TorchSharp model at the same bit-width (the bits in the model's metadata). The TorchSharp
        weights are the checkpoint named in the metadata, or pretrained_file=PATH.
        --optimization: ONNX Runtime's graph optimization level (none: the graph as written; default
        basic: constants folded, which may also fold the Mul/Add of a batch norm into its convolution;
        extended/all may fuse quantized operators, which is faster and can change the last digits).
        --json prints {"bits": B, "top1": ..., "top5": ..., "agreement": ..., ...} (fractions in [0, 1]).
        """;

    public override int Order => 95;

    public override Command Build()
    {
        var command = new Command("eval-onnx", Help);
        var model = new Argument<string>("MODEL.onnx") { Description = "The exported model" };
        command.Arguments.Add(model);
        var tokens = CliOptions.ConfigTokens(command);
        var json = CliOptions.Flag("--json", "Print one JSON object");
        var optimization = CliOptions.Choice("--optimization", "ONNX Runtime's graph optimization level", "basic", "none", "basic", "extended", "all");
        command.Options.Add(json);
        command.Options.Add(optimization);
        command.SetAction(r => Run(r.GetValue(model)!, r.GetValue(tokens)!, r.GetValue(json), r.GetValue(optimization)!));
        return command;
    }

    public static int Run(string modelPath, string[] configTokens, bool json, string optimization)
    {
        if (!modelPath.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            throw new UsageException("eval-onnx: the first argument must be the model (a .onnx file; see 'eval-onnx --help')");
        var config = ConfigArgs.Load(configTokens);
        var level = optimization switch
        {
            "none" => Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "extended" => Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all" => Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_ALL,
            _ => Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        };
        var r = OnnxEvaluation.Run(config, modelPath, json ? null : Console.Error.WriteLine, level);
        if (json)
        {
            Console.WriteLine(ToJson(r));
            return 0;
        }
        Console.WriteLine($"model: {modelPath} (bits {r.Bits}), checkpoint: {r.Checkpoint}");
        Console.WriteLine($"{r.Samples} validation images: top1 {r.Top1:F4}  top5 {r.Top5:F4}  agreement with TorchSharp {r.Agreement:F4}");
        Console.WriteLine($"time: ONNX Runtime {r.OnnxSeconds:F2} s ({r.Samples / Math.Max(r.OnnxSeconds, 1e-9):F0} img/s), TorchSharp {r.TorchSeconds:F2} s");
        return 0;
    }

    public static string ToJson(OnnxEvalResult r)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WritePropertyName("bits");
            if (r.Bits.IsPair)
            {
                w.WriteStartArray();
                w.WriteNumberValue(r.Bits.Weight);
                w.WriteNumberValue(r.Bits.Activation);
                w.WriteEndArray();
            }
            else w.WriteNumberValue(r.Bits.Weight);
            w.WriteNumber("top1", r.Top1);
            w.WriteNumber("top5", r.Top5);
            w.WriteNumber("agreement", r.Agreement);
            w.WriteNumber("samples", r.Samples);
            w.WriteNumber("onnx_seconds", Math.Round(r.OnnxSeconds, 3));
            w.WriteNumber("torch_seconds", Math.Round(r.TorchSeconds, 3));
            w.WriteString("checkpoint", r.Checkpoint);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
