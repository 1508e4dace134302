using System.Diagnostics;
using System.Globalization;
using System.Text;
using AdaBits.Cli.Commands;
using AdaBits.Inference;
using AdaBits.IO;
using AdaBits.Modules;
using AdaBits.Profiling;
using TorchSharp;

namespace AdaBits.Cli.Bench;

/// <summary>
/// `adabits bench engine`: per model and batch one interleaved run of every back-end (TorchSharp eval, ONNX Runtime
/// on the float and QDQ exports, the engine at every bit-width). A round runs each back-end once, the first one
/// rotating, so background load on the shared cores hits all of them alike; figures are medians over rounds.
/// </summary>
internal static class EngineBench
{
    public static readonly string[] ModelNames = ["q_mnist_cnn", "resnet20", "mobilenet_v1", "mobilenet_v2"];

    public sealed record Settings(string[] ConfigTokens, string? Models, string? Batches, int? Reps, int Seconds,
        string? TorchBits, string? QdqBits, int Threads, string? Checkpoint, string? Artifact, string? OutDir);

    public sealed record Row(string Model, int Batch, string Backend, int Bits, double MedianMs, double P95Ms, int Reps)
    {
        public double ImagesPerSecond => Batch * 1000 / MedianMs;
        public string BitsText => Bits >= 32 ? "fp32" : Bits.ToString(CultureInfo.InvariantCulture);
    }

    const int MinAutoReps = 5, MaxAutoReps = 100, SwitchCount = 10_000;
    /// <summary>A pause after each timed run: OpenMP's threads spin for a while after a TorchSharp forward and would take
    /// the cores from the back-end timed next (ORT's spinning is switched off in its session options).</summary>
    const int GapMs = 5;

    public static int Run(Settings s)
    {
        var batches = ParseInts(s.Batches ?? "1,64", "--batches", 1, 4096);
        bool fromConfig = s.ConfigTokens.Length > 0;
        if (!fromConfig && (s.Checkpoint is not null || s.Artifact is not null))
            throw new UsageException("bench engine: --checkpoint and --artifact need the model's config (app:CONFIG.yml)");
        if (fromConfig && s.Models is not null) throw new UsageException("bench engine: --models applies to the random-weight models only (no config)");
        var names = fromConfig ? [""] : (s.Models ?? string.Join(",", ModelNames)).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var n in names)
            if (!fromConfig && !ModelNames.Contains(n)) throw new UsageException($"bench engine: --models: unknown model '{n}' (known: {string.Join(", ", ModelNames)})");
        if (s.Artifact is not null && !File.Exists(s.Artifact)) throw new UsageException($"bench engine: {s.Artifact}: no such file");

        torch.set_num_threads(s.Threads);
        var engineOptions = new EngineOptions { Threads = s.Threads };
        Console.WriteLine($"threads: engine {engineOptions.Threads} (caller included, its own workers); ONNX Runtime intra_op {s.Threads}, inter_op 1, " +
            $"sequential, ORT_ENABLE_ALL; TorchSharp {torch.get_num_threads()} ({Environment.ProcessorCount} cores)");
        Console.WriteLine(s.Reps is int r
            ? $"rounds: {r} per case (--reps)"
            : $"rounds: per case as many as fit in {s.Seconds} s after 2 warm-up rounds ({MinAutoReps}..{MaxAutoReps}; MobileNets at 224 batch 64 get the minimum: " +
              "TorchSharp's fake-quant forward alone takes seconds there, so their p95 is near the maximum of few rounds)");

        var rows = new List<Row>();
        double switchMs = 0;
        long switchBytes = 0;
        foreach (var name in names)
        {
            using var model = fromConfig ? BenchModel.FromConfig(ConfigArgs.Load(s.ConfigTokens), s.Checkpoint) : BenchModel.Random(name);
            var top = model.BitsList.MaxBy(b => b.Weight);
            var torchBits = PickBits(s.TorchBits, model, [top], "--torch-bits");
            var qdqBits = PickBits(s.QdqBits, model, model.BitsList.Where(b => b == top || b.Weight == 4).Distinct().ToList(), "--qdq-bits");
            var clock = Stopwatch.StartNew();
            var engine = s.Artifact is null ? new InferenceModel(model.EngineSpec(), engineOptions) : LoadArtifact(s.Artifact, engineOptions, model);
            var ortSessions = new List<(string Name, int Bits, Microsoft.ML.OnnxRuntime.InferenceSession Session)>();
            try
            {
                using (var so = OrtBackend.Options(s.Threads))
                {
                    ortSessions.Add(("ort-fp32", 32, new(model.Onnx(AdaBits.Export.OnnxExporter.FloatBits), so)));
                    foreach (var b in qdqBits) ortSessions.Add(("ort-qdq", b.Weight, new(model.Onnx(b), so)));
                }
                Console.WriteLine($"{model.Name}: {model.Channels}x{model.Height}x{model.Width}, bits_list {Bits.ListToString(model.BitsList)}, weights {model.Weights}; " +
                    $"engine {(s.Artifact is null ? "built in memory from the lowered graph" : s.Artifact)}; exports and sessions ready in {clock.Elapsed.TotalSeconds:F1} s");
                foreach (int batch in batches)
                {
                    var (caseRows, ms, bytes) = RunCase(model, engine, ortSessions, torchBits, batch, s);
                    rows.AddRange(caseRows);
                    switchMs = Math.Max(switchMs, ms);
                    switchBytes += bytes;
                }
            }
            finally
            {
                foreach (var o in ortSessions) o.Session.Dispose();
            }
        }

        string table = Table(rows);
        Console.WriteLine();
        Console.Write(table);
        var lines = SummaryLines(rows, switchMs, switchBytes);
        if (s.OutDir is not null)
        {
            Directory.CreateDirectory(s.OutDir);
            AtomicWriter.Default.WriteAllText(Path.Combine(s.OutDir, "engine_bench.csv"), Csv(rows));
            AtomicWriter.Default.WriteAllText(Path.Combine(s.OutDir, "engine_bench.md"), Markdown(rows) + "\n" + string.Join("\n", lines) + "\n");
            Console.WriteLine($"wrote {Path.Combine(s.OutDir, "engine_bench.csv")} and engine_bench.md");
        }
        Console.WriteLine();
        foreach (var l in lines) Console.WriteLine(l);
        return 0;
    }

    static InferenceModel LoadArtifact(string path, EngineOptions options, BenchModel model)
    {
        var engine = ArtifactLoader.Load(path, options, "bench engine");
        if (engine.InputsPerImage != model.PerImage)
            throw new UsageException($"bench engine: {path} takes {engine.InputsPerImage} values per image, the config's model {model.PerImage}");
        if (!engine.BitsList.SequenceEqual(model.BitsList.Select(b => b.Weight)))
            throw new UsageException($"bench engine: {path} holds bits_list [{string.Join(", ", engine.BitsList)}], the config {Bits.ListToString(model.BitsList)}");
        return engine;
    }

    static (List<Row> Rows, double SwitchMs, long SwitchBytes) RunCase(BenchModel model, InferenceModel engine,
        List<(string Name, int Bits, Microsoft.ML.OnnxRuntime.InferenceSession Session)> ort, IReadOnlyList<Bits> torchBits, int batch, Settings s)
    {
        var images = model.Images(batch);
        int classes = engine.OutputsPerImage;
        using var session = engine.CreateSession(batch);
        var logits = new float[batch * classes];
        var backends = new List<BenchBackend>();
        try
        {
            foreach (var b in torchBits) backends.Add(new TorchBackend(model, b, images, batch));
            foreach (var (name, bits, o) in ort) backends.Add(new OrtBackend(name, bits, o, model, images, batch, classes));
            foreach (int b in engine.BitsList) backends.Add(new EngineBackend(session, b, images, logits));
            var times = backends.Select(_ => new List<double>()).ToArray();

            double RoundMs(int round, bool keep)
            {
                long start = Stopwatch.GetTimestamp();
                for (int j = 0; j < backends.Count; j++)
                {
                    int k = (j + round) % backends.Count;
                    long t0 = Stopwatch.GetTimestamp();
                    backends[k].Run();
                    if (keep) times[k].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    Thread.Sleep(GapMs);
                }
                return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }

            RoundMs(0, keep: false);
            double warm = RoundMs(1, keep: false);
            int reps = s.Reps ?? Math.Clamp((int)(s.Seconds * 1000 / warm), MinAutoReps, MaxAutoReps);
            Console.WriteLine($"  {model.Name} batch {batch}: {backends.Count} back-ends, round {warm / 1000:F2} s, {reps} rounds");
            for (int r = 0; r < reps; r++) RoundMs(r, keep: true);

            var rows = backends.Select((b, i) =>
            {
                var sorted = times[i].Order().ToArray();
                return new Row(model.Name, batch, b.Name, b.Bits, LatencyStats.Quantile(sorted, 0.5), LatencyStats.Quantile(sorted, 0.95), reps);
            }).ToList();

            long a0 = GC.GetAllocatedBytesForCurrentThread(), t = Stopwatch.GetTimestamp();
            var bitsList = engine.BitsList;
            for (int i = 0; i < SwitchCount; i++) session.SetBits(bitsList[i % bitsList.Count]);
            double switchMs = Stopwatch.GetElapsedTime(t).TotalMilliseconds / SwitchCount;
            return (rows, switchMs, GC.GetAllocatedBytesForCurrentThread() - a0);
        }
        finally
        {
            foreach (var b in backends) b.Dispose();
        }
    }

    /// <summary>A list of the model's bits_list entries (or "all"); <paramref name="fallback"/> when not given.</summary>
    static IReadOnlyList<Bits> PickBits(string? text, BenchModel model, IReadOnlyList<Bits> fallback, string option)
    {
        if (text is null) return fallback;
        if (text == "all") return model.BitsList;
        return ParseInts(text, option, 1, 8).Select(b => model.BitsList.FirstOrDefault(x => x.Weight == b && !x.IsPair) is { Weight: > 0 } m ? m
            : throw new UsageException($"bench engine: {option}: {b} is not in bits_list {Bits.ListToString(model.BitsList)}")).ToList();
    }

    static int[] ParseInts(string text, string option, int min, int max) =>
        text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(t =>
            int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max ? v
                : throw new UsageException($"bench engine: {option}: '{t}' is not an integer in {min}..{max}")).ToArray();

    /// <summary>The engine's top bit-width row of the same model and batch: the reference of the ratio column.</summary>
    static Row? EngineTop(IEnumerable<Row> rows, string model, int batch) =>
        rows.Where(r => r.Model == model && r.Batch == batch && r.Backend == "engine").MaxBy(r => r.Bits);

    static string[] Header => ["model", "batch", "back-end", "bits", "median ms", "p95 ms", "img/s", "x engine top", "rounds"];

    static string[] Cells(Row r, List<Row> rows)
    {
        var top = EngineTop(rows, r.Model, r.Batch);
        return [r.Model, r.Batch.ToString(CultureInfo.InvariantCulture), r.Backend, r.BitsText, Fmt(r.MedianMs), Fmt(r.P95Ms),
            r.ImagesPerSecond.ToString("F0", CultureInfo.InvariantCulture),
            top is null ? "" : (r.MedianMs / top.MedianMs).ToString("F2", CultureInfo.InvariantCulture), r.Reps.ToString(CultureInfo.InvariantCulture)];
    }

    static string Fmt(double ms) => ms.ToString(ms < 10 ? "F3" : ms < 100 ? "F2" : "F1", CultureInfo.InvariantCulture);

    public static string Table(List<Row> rows)
    {
        var cells = rows.Select(r => Cells(r, rows)).Prepend(Header).ToList();
        var widths = Enumerable.Range(0, Header.Length).Select(i => cells.Max(c => c[i].Length)).ToArray();
        var sb = new StringBuilder();
        foreach (var c in cells)
            sb.AppendLine(string.Join("  ", c.Select((x, i) => i < 4 ? x.PadRight(widths[i]) : x.PadLeft(widths[i]))).TrimEnd());
        return sb.ToString();
    }

    public static string Markdown(List<Row> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| " + string.Join(" | ", Header) + " |");
        sb.AppendLine("|" + string.Concat(Header.Select((_, i) => i < 4 ? "---|" : "---:|")));
        foreach (var r in rows) sb.AppendLine("| " + string.Join(" | ", Cells(r, rows)) + " |");
        return sb.ToString();
    }

    public static string Csv(List<Row> rows)
    {
        var sb = new StringBuilder("model,batch,backend,bits,median_ms,p95_ms,images_per_s,ratio_to_engine_top,rounds\n");
        foreach (var r in rows) sb.AppendLine(string.Join(",", Cells(r, rows)));
        return sb.ToString();
    }

    /// <summary>The four lines the benchmark ends with; a ratio whose case did not run says so.</summary>
    public static List<string> SummaryLines(List<Row> rows, double switchMs, long switchBytes)
    {
        Row? Find(string model, int batch, string backend, Func<Row, bool> bits) =>
            rows.FirstOrDefault(r => r.Model == model && r.Batch == batch && r.Backend == backend && bits(r));
        string Ratio(string key, Row? a, Row? b, string missing) =>
            a is null || b is null ? $"{key}: n/a ({missing} not run)" : $"{key}: {(a.MedianMs / b.MedianMs).ToString("F3", CultureInfo.InvariantCulture)}";
        var e8 = Find("resnet20", 64, "engine", r => r.Bits == 8);
        return
        [
            Ratio("engine_8bit_vs_ort_fp32", e8, Find("resnet20", 64, "ort-fp32", _ => true), "resnet20 batch 64 engine 8-bit / ort-fp32"),
            Ratio("engine_8bit_vs_ort_qdq", e8, Find("resnet20", 64, "ort-qdq", r => r.Bits == 8), "resnet20 batch 64 engine 8-bit / ort-qdq 8-bit"),
            Ratio("engine_2bit_vs_8bit", Find("mobilenet_v1", 1, "engine", r => r.Bits == 2), Find("mobilenet_v1", 1, "engine", r => r.Bits == 8),
                "mobilenet_v1 batch 1 engine 2-bit / 8-bit"),
            $"switch_ms: {switchMs.ToString("F6", CultureInfo.InvariantCulture)} (slowest case's mean over {SwitchCount} SetBits calls; {switchBytes} bytes allocated in all)",
        ];
    }
}
