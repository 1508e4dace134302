using System.CommandLine;
using System.Diagnostics;
using AdaBits.Data;
using AdaBits.Inference;
using AdaBits.Training;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits infer MODEL.abits --bits B app:CFG [key=value ...]`: the integer engine on the config's validation set.</summary>
internal sealed class InferCommand : CliCommand
{
    const string Help = """
        run an integer-engine artifact on the config's validation set

        usage: adabits infer MODEL.abits --bits B app:CONFIG.yml [key=value ...] [--threads N]

        Loads the artifact written by 'adabits export ... --format engine', sets bit-width B (an entry of
        the artifact's bits_list) and classifies the config's validation set (val_limit applies):
        prints top-1 accuracy and images/s (engine time only, batches of batch_size).
        A damaged, truncated or newer-version artifact is a one-line error.
        """;

    public override int Order => 96;

    public override Command Build()
    {
        var command = new Command("infer", Help);
        var model = new Argument<string>("MODEL.abits") { Description = "The engine artifact" };
        command.Arguments.Add(model);
        var tokens = CliOptions.ConfigTokens(command);
        var bits = CliOptions.Text("--bits", "B", "The bit-width to run (an entry of the artifact's bits_list)", required: true);
        var threads = CliOptions.Text("--threads", "N", "Engine worker threads, the caller included (default: all cores)");
        command.Options.Add(bits);
        command.Options.Add(threads);
        command.SetAction(r => Run(r.GetValue(model)!, r.GetValue(tokens)!, r.GetValue(bits)!, r.GetValue(threads)));
        return command;
    }

    public static int Run(string modelPath, string[] configTokens, string bitsText, string? threadsText)
    {
        if (!int.TryParse(bitsText, out int bits))
            throw new UsageException($"infer: --bits {bitsText} is not a number");
        int threads = Environment.ProcessorCount;
        if (threadsText is not null && (!int.TryParse(threadsText, out threads) || threads < 1))
            throw new UsageException($"infer: --threads {threadsText} must be a positive integer");
        if (!File.Exists(modelPath)) throw new UsageException($"infer: {modelPath}: no such file");
        InferenceModel engine;
        try
        {
            engine = InferenceModel.Load(modelPath, new EngineOptions { Threads = threads });
        }
        catch (ArtifactException e)
        {
            Console.Error.WriteLine($"adabits: {e.Message}");
            return 1;
        }
        if (!engine.BitsList.Contains(bits))
            throw new UsageException($"infer: bits {bits} is not in the artifact's bits_list [{string.Join(", ", engine.BitsList)}]");
        var config = ConfigArgs.Load(configTokens);
        var (_, val) = DataSources.Load(config, Console.Error.WriteLine, needTrain: false);
        int perImage = engine.InputsPerImage, classes = engine.OutputsPerImage;
        if (val.Channels * val.Height * val.Width != perImage)
            throw new UsageException($"infer: {modelPath} takes {perImage} values per image, the validation set has [{val.Channels}, {val.Height}, {val.Width}]");
        int batch = Math.Max(1, config.BatchSize);
        using var session = engine.CreateSession(maxBatch: batch);
        session.SetBits(bits);
        using var loader = new DataLoader(val, batch, shuffle: false, dropLast: false,
            DataSources.Transform(config, training: false), config.DataLoaderWorkers, config.RandomSeed);
        var logits = new float[batch * classes];
        int samples = 0, correct = 0;
        var clock = new Stopwatch();
        foreach (var (input, target) in loader.Epoch(0))
        {
            using var _i = input;
            using var _t = target;
            int n = (int)input.shape[0];
            float[] x = input.contiguous().data<float>().ToArray();
            long[] y = target.data<long>().ToArray();
            clock.Start();
            session.Run(x, logits.AsSpan(0, n * classes));
            clock.Stop();
            for (int i = 0; i < n; i++)
            {
                int best = 0;
                for (int c = 1; c < classes; c++)
                    if (logits[i * classes + c] > logits[i * classes + best]) best = c;
                if (best == y[i]) correct++;
            }
            samples += n;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"model: {modelPath} (bits {bits}, {threads} threads)");
        Console.WriteLine($"{samples} validation images: top1 {(double)correct / Math.Max(samples, 1):F4}  ({samples / Math.Max(seconds, 1e-9):F0} img/s, engine {seconds:F2} s)");
        return 0;
    }
}
