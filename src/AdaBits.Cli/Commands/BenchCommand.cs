using System.CommandLine;
using System.Diagnostics;
using AdaBits.Models;
using AdaBits.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits bench ...`: benchmarks, one subcommand each (a new one is a new <see cref="CliCommand"/> with Parent "bench").</summary>
internal sealed class BenchGroupCommand : CliCommand
{
    public override int Order => 70;

    public override Command Build() => new("bench", "benchmarks (bench <name> --help)");
}

/// <summary>`adabits bench quant-overhead`.</summary>
internal sealed class BenchQuantOverheadCommand : CliCommand
{
    const string Help = """
        the cost of fake quantization (ResNet-20, fp32 vs 4 bits, interleaved)

        The cost of fake quantization on the CIFAR ResNet-20 shape (3x32x32, random data). Measures,
        interleaved in one run, a training step (forward, backward, SGD step) and an eval forward of
        the plain fp32 network and of the quantized network at 4 bits (clamp, rescale, rescale_conv
        on), then prints the medians and, last, train_overhead_ratio and eval_overhead_ratio
        (quantized time / fp32 time). Each round times both networks, each first in turn; on a
        shared 2-core machine a ratio over 15 rounds still moves by about 0.05 between runs.
        """;

    public override string Parent => "bench";

    public override Command Build()
    {
        var batch = CliOptions.Int("--batch", "Batch size", 128, 1, 4096);
        var rounds = CliOptions.Int("--rounds", "Timed rounds", 40, 3, 1000);
        var warmup = CliOptions.Int("--warmup", "Warm-up rounds", 5, 0, 100);
        var command = new Command("quant-overhead", Help) { batch, rounds, warmup };
        command.SetAction(r => BenchCommand.QuantOverhead(r.GetValue(batch), r.GetValue(rounds), r.GetValue(warmup)));
        return command;
    }
}

/// <summary>`adabits bench data`.</summary>
internal sealed class BenchDataCommand : CliCommand
{
    const string Help = """
        the training data pipeline's images per second

        The training data pipeline of a data set (imagenet1k, imagenet1k_val50k, CINIC10: image
        folders decoded and transformed; CIFAR10/100, MNIST, FashionMNIST: in memory) at DIR, as
        training reads it (shuffled, augmented, batches of --batch, --workers loader threads, default
        the processor count). Runs whole epochs until --seconds have passed (after one warm-up batch)
        and prints, last, images_per_second: decoded and transformed training images per second.
        --generate N first writes N synthetic 500x375 JPEGs (quality 90, 10 class folders) into
        DIR/train and 10 into DIR/val, for a measurement without ImageNet.

""";

    public override string Parent => "bench";

    public override Command Build()
    {
        var dataset = CliOptions.Text("--dataset", "NAME", "The data set (as the config's dataset key)", required: true);
        var dir = CliOptions.Text("--dir", "DIR", "Its folder (the config's dataset_dir)", required: true);
        var batch = CliOptions.Int("--batch", "Batch size", 256, 1, 65536);
        var workers = CliOptions.Int("--workers", "Loader threads (default: the processor count)", null, 0, 256);
        var seconds = CliOptions.Int("--seconds", "Seconds to run", 10, 1, 36000);
        var transforms = CliOptions.Text("--transforms", "NAME", "The config's data_transforms");
        var badImages = CliOptions.Choice("--bad-images", "What an undecodable image does", "fail", "fail", "skip");
        var generate = CliOptions.Int("--generate", "First write N synthetic JPEGs into DIR", null, 10, 10_000_000);
        var command = new Command("data", Help) { dataset, dir, batch, workers, seconds, transforms, badImages, generate };
        command.SetAction(r =>
        {
            if (r.GetResult(generate) is { Implicit: false }) BenchCommand.Generate(r.GetValue(dir)!, r.GetValue(generate));
            return BenchCommand.Data(r.GetValue(dataset)!, r.GetValue(dir)!, r.GetValue(batch),
                r.GetResult(workers) is { Implicit: false } ? r.GetValue(workers) : Environment.ProcessorCount,
                r.GetValue(seconds), r.GetValue(transforms), r.GetValue(badImages)!);
        });
        return command;
    }
}

/// <summary>`mpirun -np N adabits bench comm`.</summary>
internal sealed class BenchCommCommand : CliCommand
{
    const string Help = """
        the communication share of data-parallel training steps (under mpirun)

        Under an MPI launcher with 2 or more ranks: data-parallel training steps of the 4-bit
        ResNet-20 of quant-overhead at a global batch of --batch (batch / ranks per rank, random data),
        gradients averaged by the trainer's in-place bucket all-reduce, which first waits in a barrier
        for the slowest rank. Prints the median step time, wait (load imbalance) and all-reduce
        (transfer) times, the same all-reduce once more outside the step, wait_share (waiting over step
        time) and, last, comm_share: all-reduce time over step time, both summed over rounds and ranks.
        """;

    public override string Parent => "bench";

    public override Command Build()
    {
        var batch = CliOptions.Int("--batch", "Global batch size (split over the ranks)", 128, 1, 65536);
        var rounds = CliOptions.Int("--rounds", "Timed rounds", 40, 3, 1000);
        var warmup = CliOptions.Int("--warmup", "Warm-up rounds", 5, 0, 100);
        var command = new Command("comm", Help) { batch, rounds, warmup };
        command.SetAction(r => BenchCommand.Comm(r.GetValue(batch), r.GetValue(rounds), r.GetValue(warmup)));
        return command;
    }
}

/// <summary>The benchmarks' bodies.</summary>
internal static class BenchCommand
{
    /// <summary>Synthetic ImageNet-like JPEGs: smooth gradients plus per-image noise, 500 x 375.</summary>
    internal static void Generate(string dir, int count)
    {
        const int w = 500, h = 375, classes = 10;
        var rng = new Random(1);
        var pixels = new byte[w * h * 4];
        for (int i = 0; i < count + classes; i++)
        {
            bool val = i >= count;
            int c = i % classes;
            string folder = Path.Combine(dir, val ? "val" : "train", $"n{c:D8}");
            Directory.CreateDirectory(folder);
            int fx = rng.Next(1, 5), fy = rng.Next(1, 5);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int o = (y * w + x) * 4, noise = rng.Next(-20, 21);
                    pixels[o] = (byte)Math.Clamp(x * fx * 255 / w % 256 + noise, 0, 255);
                    pixels[o + 1] = (byte)Math.Clamp(y * fy * 255 / h % 256 + noise, 0, 255);
                    pixels[o + 2] = (byte)Math.Clamp((x + y) * 255 / (w + h) + c * 20 + noise, 0, 255);
                    pixels[o + 3] = 255;
                }
            var info = new SkiaSharp.SKImageInfo(w, h, SkiaSharp.SKColorType.Rgba8888, SkiaSharp.SKAlphaType.Unpremul);
            using var data = SkiaSharp.SKData.CreateCopy(pixels);
            using var image = SkiaSharp.SKImage.FromPixels(info, data, w * 4);
            using var jpeg = image.Encode(SkiaSharp.SKEncodedImageFormat.Jpeg, 90);
            File.WriteAllBytes(Path.Combine(folder, $"img{i:D7}.JPEG"), jpeg.ToArray());
        }
        Console.WriteLine($"wrote {count} training and {classes} validation JPEGs of {w}x{h} under {dir}");
    }

    internal static int Data(string dataset, string dir, int batch, int workers, int seconds, string? transforms, string badImages)
    {
        var config = new AdaBits.Config.TrainConfig
        {
            Dataset = dataset, DatasetDir = dir, DataTransforms = transforms, BadImages = badImages, DataLoaderWorkers = workers,
        };
        var (train, _) = AdaBits.Training.DataSources.Load(config, Console.Error.WriteLine, needTrain: true);
        var transform = AdaBits.Training.DataSources.Transform(config, training: true);
        using var loader = new AdaBits.Data.DataLoader(train!, Math.Min(batch, train!.Count), shuffle: true, dropLast: true, transform, workers, seed: 0);
        Console.WriteLine($"{dataset} at {dir}: {train.Count} training images -> 3x{train.Height}x{train.Width} ({transform}), batch {loader.BatchSize}, {workers} workers");
        var clock = new Stopwatch();
        long images = 0;
        bool warm = false;
        for (int epoch = 0; clock.Elapsed.TotalSeconds < seconds; epoch++)
        {
            foreach (var (x, y) in loader.Epoch(epoch))
            {
                int n = (int)x.shape[0];
                x.Dispose();
                y.Dispose();
                if (!warm) { warm = true; clock.Start(); continue; }   // the first batch pays for thread start-up
                images += n;
                if (clock.Elapsed.TotalSeconds >= seconds) break;
            }
        }
        double rate = images / clock.Elapsed.TotalSeconds;
        Console.WriteLine($"{images} images in {clock.Elapsed.TotalSeconds:F2} s");
        Console.WriteLine($"images_per_second: {rate:F1}");
        return 0;
    }

    internal static int Comm(int batch, int rounds, int warmup)
    {
        var world = AdaBits.Distributed.World.Process;
        if (!world.IsDistributed)
            throw new UsageException("bench comm: run it under an MPI launcher with 2 or more ranks (mpirun -np 2 ./adabits bench comm)");
        if (batch % world.Size != 0) throw new UsageException($"bench comm: --batch {batch} is not divisible by the {world.Size} ranks");
        int? threads = world.ApplyThreadCount();
        int local = batch / world.Size;
        torch.manual_seed(0);
        var options = new QuantOptions { BitsList = [new Bits(4)], Clamp = true, Rescale = true, RescaleConv = true };
        using var q = new QResNetCifar(options).SetBits(4);
        AdaBits.Distributed.DataParallel.BroadcastModel(world, q);
        var parameters = q.parameters().ToArray();
        torch.manual_seed(1 + world.Rank);
        using var x = randint(0, 256, [local, 3, 32, 32]).to(float32);
        using var y = randint(0, 10, [local]);
        using var opt = new AdaBits.Training.Sgd(parameters, 0.01, 0.9, false, _ => 0);
        using var buckets = new AdaBits.Distributed.GradientBuckets(world, parameters);
        q.train();
        var step = new List<double>(); var comm = new List<double>(); var wait = new List<double>(); var bare = new List<double>();
        for (int r = 0; r < warmup + rounds; r++)
        {
            double before = buckets.Seconds, waitBefore = buckets.WaitSeconds;
            var sw = Stopwatch.StartNew();
            using (NewDisposeScope())
            {
                opt.ZeroGrad();
                nn.functional.cross_entropy(q.call(x), y).backward();
                buckets.AllReduceAverage();
                opt.Step();
            }
            double ms = sw.Elapsed.TotalMilliseconds, c = (buckets.Seconds - before) * 1000, w = (buckets.WaitSeconds - waitBefore) * 1000;
            // the same all-reduce once more outside the step: the transfer with no backward just before it
            world.Barrier();
            var bw = Stopwatch.StartNew();
            foreach (var b in buckets.Buckets) world.AllReduceSum(b);
            double alone = bw.Elapsed.TotalMilliseconds;
            world.Barrier();
            if (r >= warmup) { step.Add(ms); comm.Add(c); wait.Add(w); bare.Add(alone); }
        }
        // the shares over every rank: all-reduce (or wait) seconds over step seconds, summed over the ranks
        double Median(List<double> v) { var o = v.Order().ToList(); return o.Count % 2 == 1 ? o[o.Count / 2] : (o[o.Count / 2 - 1] + o[o.Count / 2]) / 2; }
        double[] sums = [step.Sum(), comm.Sum(), wait.Sum()];
        world.AllReduceSum(sums.AsSpan());
        if (world.IsRoot)
        {
            long n = parameters.Sum(p => p.numel());
            Console.WriteLine($"ResNet-20 4-bit, global batch {batch} = {world.Size} ranks x {local}, {threads?.ToString() ?? "OMP_NUM_THREADS"} threads per rank, " +
                $"{n:N0} parameters ({n * 4 / 1e6:F2} MB of gradients, {buckets.Count} bucket(s)), {rounds} rounds after {warmup} warm-up");
            Console.WriteLine($"step_ms (median, rank 0): {Median(step):F1}");
            Console.WriteLine($"wait_for_slowest_rank_ms (median, rank 0): {Median(wait):F2}");
            Console.WriteLine($"allreduce_in_step_ms (median, rank 0, after the wait): {Median(comm):F2}");
            Console.WriteLine($"allreduce_alone_ms (median, rank 0): {Median(bare):F2}");
            Console.WriteLine($"comm_share_median_step (rank 0): {Median(comm) / Median(step):F4}");
            Console.WriteLine($"wait_share: {sums[2] / sums[0]:F4}");
            Console.WriteLine($"comm_share: {sums[1] / sums[0]:F4}");
        }
        return 0;
    }

    internal static int QuantOverhead(int batch, int rounds, int warmup)
    {
        torch.manual_seed(0);
        var options = new QuantOptions { BitsList = [new Bits(4)], Clamp = true, Rescale = true, RescaleConv = true };
        using var fp = new FloatResNetCifar();
        using var q = new QResNetCifar(options).SetBits(4);
        using var x = randint(0, 256, [batch, 3, 32, 32]).to(float32);
        using var y = randint(0, 10, [batch]);
        var optFp = optim.SGD(fp.parameters(), 0.01, momentum: 0.9);
        var optQ = optim.SGD(q.parameters(), 0.01, momentum: 0.9);

        double TrainStep(nn.Module<Tensor, Tensor> m, optim.Optimizer opt)
        {
            var sw = Stopwatch.StartNew();
            using (NewDisposeScope())
            {
                m.train();
                opt.zero_grad();
                var loss = nn.functional.cross_entropy(m.call(x), y);
                loss.backward();
                opt.step();
            }
            return sw.Elapsed.TotalMilliseconds;
        }
        double EvalStep(nn.Module<Tensor, Tensor> m)
        {
            var sw = Stopwatch.StartNew();
            using (NewDisposeScope())
            using (no_grad())
            {
                m.eval();
                m.call(x);
            }
            return sw.Elapsed.TotalMilliseconds;
        }

        Console.WriteLine($"ResNet-20, batch {batch}, {torch.get_num_threads()} threads, {rounds} rounds after {warmup} warm-up (interleaved)");
        var tf = new List<double>(); var tq = new List<double>(); var ef = new List<double>(); var eq = new List<double>();
        // Each network goes first in every other round, so neither always runs on the caches the other left.
        void Rounds(Func<double> fpStep, Func<double> qStep, List<double> fpTimes, List<double> qTimes)
        {
            for (int r = 0; r < warmup + rounds; r++)
            {
                double a1, a2;
                if (r % 2 == 0) { a1 = fpStep(); a2 = qStep(); }
                else { a2 = qStep(); a1 = fpStep(); }
                if (r >= warmup) { fpTimes.Add(a1); qTimes.Add(a2); }
            }
        }
        Rounds(() => TrainStep(fp, optFp), () => TrainStep(q, optQ), tf, tq);
        Rounds(() => EvalStep(fp), () => EvalStep(q), ef, eq);
        double Median(List<double> v) { var s = v.Order().ToList(); return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2; }
        double mtf = Median(tf), mtq = Median(tq), mef = Median(ef), meq = Median(eq);
        Console.WriteLine();
        Console.WriteLine($"{"step",-12}{"fp32 ms",10}{"4-bit ms",10}{"ratio",8}{"img/s fp32",12}{"img/s 4-bit",13}");
        Console.WriteLine($"{"train",-12}{mtf,10:F1}{mtq,10:F1}{mtq / mtf,8:F3}{batch / mtf * 1000,12:F0}{batch / mtq * 1000,13:F0}");
        Console.WriteLine($"{"eval",-12}{mef,10:F1}{meq,10:F1}{meq / mef,8:F3}{batch / mef * 1000,12:F0}{batch / meq * 1000,13:F0}");
        Console.WriteLine();
        Console.WriteLine($"train_overhead_ratio: {mtq / mtf:F3}");
        Console.WriteLine($"eval_overhead_ratio: {meq / mef:F3}");
        return 0;
    }
}
