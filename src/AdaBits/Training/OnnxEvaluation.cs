using System.Diagnostics;
using AdaBits.Config;
using AdaBits.Modules;
using AdaBits.Export;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using DataLoader = AdaBits.Data.DataLoader;
using static TorchSharp.torch;

namespace AdaBits.Training;

/// <summary>What eval-onnx measures: accuracy of the ONNX model and its top-1 agreement with the TorchSharp model.</summary>
internal sealed record OnnxEvalResult(Bits Bits, int Samples, double Top1, double Top5, double Agreement,
    double OnnxSeconds, double TorchSeconds, string Checkpoint);

/// <summary>
/// Runs an exported model with ONNX Runtime (by default basic graph optimizations, so the numbers are the graph's) on a
/// config's validation set, in batches of batch_size, next to the TorchSharp model at the same bit-width.
/// </summary>
internal static class OnnxEvaluation
{
    public static SessionOptions Options(GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_BASIC) =>
        new() { GraphOptimizationLevel = level };

    /// <summary>
    /// The bits come from the model's metadata and must be in the config's bits_list; the TorchSharp weights are
    /// pretrained_file when the config sets it, else the checkpoint named in the metadata.
    /// </summary>
    public static OnnxEvalResult Run(TrainConfig config, string onnxPath, Action<string>? log = null,
        GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_BASIC)
    {
        log ??= _ => { };
        if (!File.Exists(onnxPath)) throw new FileNotFoundException($"ONNX model '{onnxPath}' not found");
        using var sessionOptions = Options(level);
        using var session = new InferenceSession(onnxPath, sessionOptions);
        var meta = session.ModelMetadata.CustomMetadataMap;
        if (!meta.TryGetValue(OnnxExporter.Keys.Bits, out string? bitsText))
            throw new InvalidDataException($"{onnxPath}: no '{OnnxExporter.Keys.Bits}' in its metadata (not exported by adabits export?)");
        var bits = config.Quant.BitsList.Append(OnnxExporter.FloatBits).Cast<Bits?>().FirstOrDefault(b => b.ToString() == bitsText)
            ?? throw new ArgumentException($"{onnxPath}: its bits {bitsText} are not in the config's bits_list {Bits.ListToString(config.Quant.BitsList)}");
        string checkpoint = !string.IsNullOrEmpty(config.PretrainedFile)
            ? Trainer.PretrainedPath(config)
            : meta.TryGetValue(OnnxExporter.Keys.Checkpoint, out var c) && !string.IsNullOrEmpty(c)
                ? c
                : throw new ArgumentException($"{onnxPath}: its metadata names no checkpoint; pass pretrained_file=PATH");
        if (!File.Exists(checkpoint))
            throw new FileNotFoundException($"checkpoint '{checkpoint}' not found (pass pretrained_file=PATH)");

        using var runLog = new RunLog(TextWriter.Null);
        using var trainer = new Trainer(config, runLog, training: false);
        // the key remap is for pretrained_file (an external checkpoint), never for our own best_model.pt
        trainer.LoadWeights(checkpoint, remapKeys: config.PretrainedModelRemapKeys && !string.IsNullOrEmpty(config.PretrainedFile));
        var model = trainer.Model;
        model.eval();
        model.SetBits(bits);
        var device = Trainer.DeviceFor(config.Device);

        var (_, val) = DataSources.Load(config, log, needTrain: false);
        var inputMeta = session.InputMetadata[OnnxExporter.InputName];
        int[] dims = inputMeta.Dimensions;
        if (dims.Length != 4 || dims[1] != val.Channels || dims[2] != val.Height || dims[3] != val.Width)
            throw new ArgumentException($"{onnxPath}: input [{string.Join(", ", dims)}] does not fit the data's [N, {val.Channels}, {val.Height}, {val.Width}]");
        using var loader = new DataLoader(val, config.BatchSize, shuffle: false, dropLast: false,
            DataSources.Transform(config, training: false), config.DataLoaderWorkers, config.RandomSeed);

        int samples = 0, top1 = 0, top5 = 0, agree = 0;
        var onnxClock = new Stopwatch();
        var torchClock = new Stopwatch();
        using var runOptions = new RunOptions();
        using var _ = no_grad();
        foreach (var (input, target) in loader.Epoch(0))
        {
            using var _input = input;
            using var _target = target;
            int n = (int)input.shape[0];
            float[] x = input.contiguous().data<float>().ToArray();
            long[] labels = target.data<long>().ToArray();

            onnxClock.Start();
            using var ortInput = OrtValue.CreateTensorValueFromMemory(x, input.shape);
            using var outputs = session.Run(runOptions, [OnnxExporter.InputName], [ortInput], [OnnxExporter.OutputName]);
            float[] logits = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            onnxClock.Stop();

            torchClock.Start();
            int[] torchTop1;
            using (var scope = NewDisposeScope())
                torchTop1 = model.call(input.to(device)).argmax(1).to(CPU).data<long>().Select(v => (int)v).ToArray();
            torchClock.Stop();

            int classes = logits.Length / n;
            int k = Math.Min(5, classes);
            for (int i = 0; i < n; i++)
            {
                var row = logits.AsSpan(i * classes, classes);
                int best = ArgMax(row);
                // rank of the label: how many classes score higher (ties: earlier index first, as argmax)
                int label = (int)labels[i];
                float v = row[label];
                int rank = 0;
                for (int j = 0; j < classes; j++) if (row[j] > v || (row[j] == v && j < label)) rank++;
                if (best == label) top1++;
                if (rank < k) top5++;
                if (best == torchTop1[i]) agree++;
            }
            samples += n;
        }
        if (samples == 0) throw new InvalidOperationException("the validation set is empty");
        return new OnnxEvalResult(bits, samples, (double)top1 / samples, (double)top5 / samples, (double)agree / samples,
            onnxClock.Elapsed.TotalSeconds, torchClock.Elapsed.TotalSeconds, checkpoint);
    }

    static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int j = 1; j < row.Length; j++) if (row[j] > row[best]) best = j;
        return best;
    }
}
