using System.CommandLine;
using AdaBits.Cli.Bench;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits bench engine`: the integer engine against TorchSharp and ONNX Runtime, side by side.</summary>
internal sealed class BenchEngineCommand : CliCommand
{
    const string Help = """
        the integer engine at every bit-width against TorchSharp and ONNX Runtime (interleaved)

        usage: adabits bench engine [--models LIST] [--batches LIST] [--reps N] [--out DIR]
               adabits bench engine --checkpoint CKPT app:CONFIG.yml [key=value ...]
               adabits bench engine --artifact MODEL.abits app:CONFIG.yml [--checkpoint CKPT]

        Without a config: random-weight models (bits_list [8, 6, 5, 4, 3, 2]) q_mnist_cnn (1x28x28),
        resnet20 (3x32x32) and mobilenet_v1/v2 (3x224x224, 1000 classes), at batch 1 and 64. With a
        config: its model and bits_list, the weights of --checkpoint (else the config's initialisation);
        --artifact runs that file on the engine side. Per model and batch, one interleaved run (each
        round runs every back-end once, the first one rotating): TorchSharp eval (fake quantization,
        --torch-bits), ONNX Runtime on the float export and on the QDQ export (--qdq-bits), both
        ORT_ENABLE_ALL, and the engine at every bit-width. Repetitions: --reps, or as many rounds as fit
        in --seconds per case (5..100). Prints a table (median and p95 latency, images/s) and, last,
        engine_8bit_vs_ort_fp32 and engine_8bit_vs_ort_qdq (resnet20, batch 64), engine_2bit_vs_8bit
        (mobilenet_v1, batch 1), each a ratio of medians, and switch_ms (SetBits). --out DIR also gets
        the table as engine_bench.csv and engine_bench.md.
        """;

    public override string Parent => "bench";

    public override Command Build()
    {
        var command = new Command("engine", Help);
        var tokens = CliOptions.ConfigTokens(command);
        var models = CliOptions.Text("--models", "LIST", $"Random-weight models, comma-separated (default: {string.Join(",", EngineBench.ModelNames)})");
        var batches = CliOptions.Text("--batches", "LIST", "Batch sizes, comma-separated (default: 1,64)");
        var reps = CliOptions.Int("--reps", "Timed rounds per case (default: as many as fit in --seconds, 5..100)", null, 1, 10000);
        var seconds = CliOptions.Int("--seconds", "Target seconds of timed rounds per case", 25, 1, 3600);
        var torchBits = CliOptions.Text("--torch-bits", "LIST|all", "Bit-widths for the TorchSharp eval model (default: the highest)");
        var qdqBits = CliOptions.Text("--qdq-bits", "LIST|all", "Bit-widths for ONNX Runtime on the QDQ export (default: the highest and 4)");
        var threads = CliOptions.Int("--threads", "Threads of every back-end (default: all cores)", null, 1, 1024);
        var checkpoint = CliOptions.Text("--checkpoint", "CKPT", "Weights for the config's model");
        var artifact = CliOptions.Text("--artifact", "MODEL.abits", "The engine artifact to run (needs the config of its model)");
        var output = CliOptions.Text("--out", "DIR", "Also write the table as engine_bench.csv and engine_bench.md into DIR");
        foreach (var o in new Option[] { models, batches, reps, seconds, torchBits, qdqBits, threads, checkpoint, artifact, output }) command.Options.Add(o);
        command.SetAction(r => EngineBench.Run(new EngineBench.Settings(
            r.GetValue(tokens)!, r.GetValue(models), r.GetValue(batches),
            r.GetResult(reps) is { Implicit: false } ? r.GetValue(reps) : null, r.GetValue(seconds),
            r.GetValue(torchBits), r.GetValue(qdqBits),
            r.GetResult(threads) is { Implicit: false } ? r.GetValue(threads) : Environment.ProcessorCount,
            r.GetValue(checkpoint), r.GetValue(artifact), r.GetValue(output))));
        return command;
    }
}
