using System.Diagnostics;
using System.Globalization;
using AdaBits.Inference;
using AdaBits.Profiling;
using AdaBits.Reporting;

namespace AdaBits.Cli.Bench;

/// <summary>
/// `adabits bench adaptive`: back-to-back requests through an <see cref="AdaptiveRunner"/> for a fixed time while a
/// background load is off, on, then off again (a third of the time each); a table over time windows and a PNG.
/// Without --budget-ms the budget is taken from a short calibration under the same load: halfway between the p95
/// of the top and of the lowest bit-width, and at least 1.2 x the top bit-width's p95 without load.
/// </summary>
internal static class AdaptiveBench
{
    public sealed record Settings(string Model, int Batch, int Seconds, double Window, int LoadThreads, double? BudgetMs, int Threads,
        string? Artifact, string? OutDir);

    const double CalibrationSeconds = 1.5;
    const double WarmUpSeconds = 0.5;

    public static int Run(Settings s)
    {
        var options = new EngineOptions { Threads = s.Threads };
        InferenceModel engine;
        string what;
        if (s.Artifact is not null)
        {
            engine = ArtifactLoader.Load(s.Artifact, options, "bench adaptive");
            what = s.Artifact;
        }
        else
        {
            if (!EngineBench.ModelNames.Contains(s.Model))
                throw new UsageException($"bench adaptive: --model: unknown model '{s.Model}' (known: {string.Join(", ", EngineBench.ModelNames)})");
            using var model = BenchModel.Random(s.Model);
            engine = new InferenceModel(model.EngineSpec(), options);
            what = $"{s.Model} (random weights, bits_list [{string.Join(", ", engine.BitsList)}])";
        }
        using var session = engine.CreateSession(s.Batch);
        var rng = new Random(7);
        var images = new float[s.Batch * engine.InputsPerImage];
        for (int i = 0; i < images.Length; i++) images[i] = rng.Next(256);
        var logits = new float[s.Batch * engine.OutputsPerImage];
        int top = engine.BitsList.Max(), low = engine.BitsList.Min();
        using var load = new BackgroundLoad(s.LoadThreads);
        Console.WriteLine($"{what}, batch {s.Batch}; engine {s.Threads} threads; background load: {load.Threads} spinning threads " +
            $"({Environment.ProcessorCount} cores); {s.Seconds} s: load off, on, off (a third each)");

        double P95At(int bits, bool loadOn)
        {
            load.On = loadOn;
            session.SetBits(bits);
            for (int i = 0; i < 3; i++) session.Run(images, logits);
            var times = new List<double>();
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < CalibrationSeconds || times.Count < 20)
            {
                long t0 = Stopwatch.GetTimestamp();
                session.Run(images, logits);
                times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            load.On = false;
            return LatencyStats.Quantile(times.Order().ToArray(), 0.95);
        }

        // The JIT compiles each kernel path at full optimisation only after some calls: without this, the first
        // calibration (the top bit-width without load) timed tier-0 code at twice its later latency, the budget
        // came out too loose, and the runner never had to leave the top bit-width.
        foreach (int bits in engine.BitsList)
        {
            session.SetBits(bits);
            var warm = Stopwatch.StartNew();
            for (int i = 0; i < 50 || warm.Elapsed.TotalSeconds < WarmUpSeconds; i++) session.Run(images, logits);
        }

        double budget;
        if (s.BudgetMs is double given) { budget = given; Console.WriteLine($"budget: p95 {budget:F3} ms (--budget-ms)"); }
        else
        {
            double topOff = P95At(top, false), topOn = P95At(top, true), lowOn = P95At(low, true);
            budget = Math.Max((topOn + lowOn) / 2, 1.2 * topOff);
            Console.WriteLine($"calibration (p95 over {CalibrationSeconds} s each): {top} bits {topOff:F3} ms without load, {topOn:F3} ms with; " +
                $"{low} bits {lowOn:F3} ms with load -> budget p95 {budget:F3} ms");
        }

        var runner = new AdaptiveRunner(session, new AdaptiveOptions(budget));
        var samples = new List<AdaptiveSample>();
        double third = s.Seconds / 3.0;
        var spans = new List<(double, double)> { (third, 2 * third) };
        var run = Stopwatch.StartNew();
        double now;
        while ((now = run.Elapsed.TotalSeconds) < s.Seconds)
        {
            bool on = now >= third && now < 2 * third;
            if (load.On != on) load.On = on;
            long t0 = Stopwatch.GetTimestamp();
            int bits = runner.Run(images, logits);
            samples.Add(new AdaptiveSample(now, Stopwatch.GetElapsedTime(t0).TotalMilliseconds, bits, on));
        }
        load.On = false;

        Console.WriteLine();
        Console.WriteLine($"{"window s",-12}{"load",-6}{"requests",9}{"in budget",11}{"p95 ms",10}  bits (share of requests)");
        for (double from = 0; from < s.Seconds - 1e-9; from += s.Window)
        {
            var w = samples.Where(x => x.Seconds >= from && x.Seconds < from + s.Window).ToList();
            if (w.Count == 0) continue;
            string load01 = w.All(x => x.Load) ? "on" : w.Any(x => x.Load) ? "mixed" : "off";
            Console.WriteLine($"{$"{from:F0}-{Math.Min(from + s.Window, s.Seconds):F0}",-12}{load01,-6}{w.Count,9}{InBudget(w, budget),11:P1}{P95(w),10:F3}  {BitsMix(w)}");
        }
        Console.WriteLine();
        var phases = new[] { ("off (first third)", samples.Where(x => x.Seconds < third)), ("on", samples.Where(x => x.Load)),
            ("off (last third)", samples.Where(x => x.Seconds >= 2 * third)) };
        foreach (var (name, set) in phases)
        {
            var w = set.ToList();
            if (w.Count > 0) Console.WriteLine($"load {name}: {w.Count} requests, {InBudget(w, budget):P1} within budget, p95 {P95(w):F3} ms, bits {BitsMix(w)}");
        }
        if (s.OutDir is not null)
        {
            Directory.CreateDirectory(s.OutDir);
            string png = Path.Combine(s.OutDir, "adaptive.png");
            AdaptivePlot.Write(png, samples, budget, spans, $"AdaptiveRunner on {what}, batch {s.Batch}: p95 budget {budget:F2} ms");
            string csv = Path.Combine(s.OutDir, "adaptive.csv");
            AdaBits.IO.AtomicWriter.Default.WriteAllText(csv, "seconds,ms,bits,load\n" + string.Concat(samples.Select(x =>
                string.Create(CultureInfo.InvariantCulture, $"{x.Seconds:F4},{x.Ms:F4},{x.Bits},{(x.Load ? 1 : 0)}\n"))));
            Console.WriteLine($"wrote {png} and {csv}");
        }
        var loaded = samples.Where(x => x.Load).ToList();
        var free = samples.Where(x => !x.Load).ToList();
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"budget_ms: {budget:F3}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"within_budget: {InBudget(samples, budget):F4}"));
        if (loaded.Count > 0) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"within_budget_load_on: {InBudget(loaded, budget):F4}"));
        if (free.Count > 0) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"mean_bits_load_off: {free.Average(x => x.Bits):F2}"));
        if (loaded.Count > 0) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"mean_bits_load_on: {loaded.Average(x => x.Bits):F2}"));
        return 0;
    }

    static double InBudget(List<AdaptiveSample> w, double budget) => w.Count(x => x.Ms <= budget) / (double)w.Count;

    static double P95(List<AdaptiveSample> w) => LatencyStats.Quantile(w.Select(x => x.Ms).Order().ToArray(), 0.95);

    static string BitsMix(List<AdaptiveSample> w) =>
        string.Join(" ", w.GroupBy(x => x.Bits).OrderByDescending(g => g.Key).Select(g => $"{g.Key}:{g.Count() / (double)w.Count:P0}"));
}
