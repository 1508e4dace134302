using System.CommandLine;
using System.Diagnostics;
using AdaBits.Data;
using AdaBits.Inference;
using AdaBits.Training;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits infer MODEL.abits --bits B app:CFG [key=value ...]`: the integer engine on a labelled data set.</summary>
internal sealed class InferCommand : CliCommand
{
    const string Help = """
        run an integer-engine artifact on a labelled data set: top-1 and images/s

        usage: adabits infer MODEL.abits --bits B app:CONFIG.yml [key=value ...] [--threads N]
               adabits infer MODEL.abits --bits B app:CONFIG.yml --images IMAGES-idx3-ubyte --labels LABELS-idx1-ubyte
               adabits infer MODEL.abits --bits B app:CONFIG.yml --folder DIR

        Loads the artifact written by 'adabits export ... --format engine', sets bit-width B (an entry of
        the artifact's bits_list) and classifies a labelled data set: the config's validation set
        (val_limit applies), an IDX image/label pair (MNIST's format, .gz read as well), or an image
        folder with one subfolder per class (sorted names = class indices, as torchvision's
        ImageFolder), delivered at the artifact's input size. Images go through the config's
        validation transform (normalize, resize and crop). Prints top-1 accuracy and images/s (engine
        time only, batches of batch_size). A missing or damaged file is a one-line error.
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
        var images = CliOptions.Text("--images", "FILE", "IDX images file (idx3-ubyte, optionally .gz); needs --labels");
        var labels = CliOptions.Text("--labels", "FILE", "IDX labels file (idx1-ubyte, optionally .gz) for --images");
        var folder = CliOptions.Text("--folder", "DIR", "Image folder with one subfolder per class");
        foreach (var o in new Option[] { bits, threads, images, labels, folder }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(model)!, r.GetValue(tokens)!, r.GetValue(bits)!, r.GetValue(threads),
            new DataChoice(r.GetValue(images), r.GetValue(labels), r.GetValue(folder))));
        return command;
    }

    /// <summary>Where the labelled images come from: an IDX pair, a folder, or (all null) the config's validation set.</summary>
    public sealed record DataChoice(string? Images, string? Labels, string? Folder);

    public static int Run(string modelPath, string[] configTokens, string bitsText, string? threadsText, DataChoice? data = null)
    {
        data ??= new DataChoice(null, null, null);
        if (!int.TryParse(bitsText, out int bits))
            throw new UsageException($"infer: --bits {bitsText} is not a number");
        int threads = Environment.ProcessorCount;
        if (threadsText is not null && (!int.TryParse(threadsText, out threads) || threads < 1))
            throw new UsageException($"infer: --threads {threadsText} must be a positive integer");
        if ((data.Images is null) != (data.Labels is null))
            throw new UsageException("infer: --images and --labels go together (an IDX images file and its labels file)");
        if (data.Images is not null && data.Folder is not null)
            throw new UsageException("infer: give either --images/--labels or --folder, not both");
        foreach (var f in new[] { data.Images, data.Labels })
            if (f is not null && !File.Exists(f)) throw new UsageException($"infer: {f}: no such file");
        if (data.Folder is not null && !Directory.Exists(data.Folder)) throw new UsageException($"infer: {data.Folder}: no such folder");
        var engine = ArtifactLoader.Load(modelPath, new EngineOptions { Threads = threads }, "infer");
        if (!engine.BitsList.Contains(bits))
            throw new UsageException($"infer: bits {bits} is not in the artifact's bits_list [{string.Join(", ", engine.BitsList)}]");
        var config = ConfigArgs.Load(configTokens);
        var (source, what) = Source(config, engine, data);
        int classes = engine.OutputsPerImage;
        if (source.Channels * source.Height * source.Width != engine.InputsPerImage)
            throw new UsageException($"infer: {modelPath} takes [{string.Join(", ", engine.InputShape)}] per image, {what} has [{source.Channels}, {source.Height}, {source.Width}]");
        if (source.NumClasses > classes)
            throw new UsageException($"infer: {what} has {source.NumClasses} classes, {modelPath} outputs {classes}");
        int batch = Math.Max(1, config.BatchSize);
        using var session = engine.CreateSession(maxBatch: batch);
        session.SetBits(bits);
        using var loader = new DataLoader(source, batch, shuffle: false, dropLast: false,
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
        Console.WriteLine($"{samples} {what}: top1 {(double)correct / Math.Max(samples, 1):F4}  ({samples / Math.Max(seconds, 1e-9):F0} img/s, engine {seconds:F2} s)");
        return 0;
    }

    static (IImageSource Source, string What) Source(AdaBits.Config.TrainConfig config, InferenceModel engine, DataChoice data)
    {
        try
        {
            if (data.Images is not null)
                return (IdxReader.ReadPair(data.Images, data.Labels!, config.NumClasses ?? engine.OutputsPerImage), $"images of {data.Images}");
            if (data.Folder is not null)
            {
                var (_, h, w) = engine.InputShape;
                var policy = config.BadImages == "skip" ? BadImagePolicy.Skip : BadImagePolicy.Fail;
                var folder = ImageFolderSource.Open(data.Folder, h, w, policy, Console.Error.WriteLine);
                return (folder, $"images under {data.Folder}");
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new UsageException($"infer: {e.Message}");
        }
        var (_, val) = DataSources.Load(config, Console.Error.WriteLine, needTrain: false);
        return (val, "validation images");
    }
}
