using System.Diagnostics;
using System.Text;

namespace AdaBits.Inference;

/// <summary>
/// Side-by-side latency of the engine at every bit-width on random-weight models (bench/AdaBits.Inference.Bench
/// runs it). Rounds are interleaved (every bit-width once per round, the starting one rotating) so that
/// background load hits all bit-widths alike; each figure is a median over rounds. Not a test: speed is
/// quoted as ratios from one run.
/// </summary>
internal static class EngineBenchmark
{
    public sealed record Row(string Model, int Batch, int Bits, double MedianMs, string Paths, string Variant = "");

    public static (List<Row> Rows, double SwitchMs, long SwitchBytes) Run(IEnumerable<(string Model, int Batch, int Rounds)> cases, int[] bits,
        EngineOptions options, TextWriter log) => Run(cases, bits, [("", options)], log);

    /// <summary>Several engine variants (e.g. the baseline and the current engine) measured in the same rounds.</summary>
    public static (List<Row> Rows, double SwitchMs, long SwitchBytes) Run(IEnumerable<(string Model, int Batch, int Rounds)> cases, int[] bits,
        IReadOnlyList<(string Name, EngineOptions Options)> variants, TextWriter log, int gapMs = 0)
    {
        var rows = new List<Row>();
        double switchMs = double.NaN;
        long switchBytes = 0;
        foreach (var group in cases.GroupBy(c => c.Model))
        {
            var spec = RandomModels.Build(group.Key, bits);
            var models = variants.Select(v => new InferenceModel(spec, v.Options)).ToArray();
            var model = models[^1];
            foreach (var (_, batch, rounds) in group)
            {
                var sessions = models.Select(m => m.CreateSession(batch)).ToArray();
                var session = sessions[^1];
                var rng = new Random(1);
                var images = new float[batch * model.InputsPerImage];
                for (int i = 0; i < images.Length; i++) images[i] = (float)rng.NextDouble();
                var logits = new float[batch * model.OutputsPerImage];
                var runs = Enumerable.Range(0, variants.Count).SelectMany(v => bits.Select(b => (v, b))).ToArray();
                var times = runs.ToDictionary(r => r, _ => new List<double>());
                foreach (var (v, b) in runs) { sessions[v].SetBits(b); sessions[v].Run(images, logits); } // warm-up
                for (int r = 0; r < rounds; r++)
                    for (int j = 0; j < runs.Length; j++)
                    {
                        var (v, b) = runs[(j + r) % runs.Length];
                        sessions[v].SetBits(b);
                        if (gapMs > 0) Thread.Sleep(gapMs); // an idle pause first: the run starts cold, as a sporadic request does
                        long t0 = Stopwatch.GetTimestamp();
                        sessions[v].Run(images, logits);
                        times[(v, b)].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    }
                foreach (var (v, b) in runs)
                {
                    var row = new Row(group.Key, batch, b, Median(times[(v, b)]), PathsAt(models[v], Array.IndexOf(bits, b)), variants[v].Name);
                    rows.Add(row);
                    log.WriteLine($"{row.Model,-13} batch {row.Batch,3} {row.Bits} bits {row.Variant,-9} {row.MedianMs,9:F3} ms  {row.Paths}");
                }
                foreach (var s in sessions[..^1]) s.Dispose();
                using var owned = session;
                if (double.IsNaN(switchMs))
                {
                    const int n = 10000;
                    long a0 = GC.GetAllocatedBytesForCurrentThread(), t0 = Stopwatch.GetTimestamp();
                    for (int i = 0; i < n; i++) session.SetBits(bits[i % bits.Length]);
                    switchMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds / n;
                    switchBytes = GC.GetAllocatedBytesForCurrentThread() - a0;
                }
            }
        }
        return (rows, switchMs, switchBytes);
    }

    static string PathsAt(InferenceModel model, int slot) =>
        string.Join(",", model.Layers.Where(l => l is DenseLayer or DepthwiseLayer).Select(l => l.PathAt(slot)).Distinct());

    static double Median(List<double> v)
    {
        var s = v.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    public static string Table(List<Row> rows, double switchMs, long switchBytes)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| model | batch | " + string.Join(" | ", rows.Select(r => r.Bits).Distinct().Select(b => $"{b}-bit ms (x 8-bit)")) + " |");
        sb.AppendLine("|---|---|" + string.Concat(rows.Select(r => r.Bits).Distinct().Select(_ => "---|")));
        foreach (var g in rows.GroupBy(r => (r.Model, r.Batch, r.Variant)))
        {
            double eight = g.First(r => r.Bits == g.Max(x => x.Bits)).MedianMs;
            string name = g.Key.Variant == "" ? g.Key.Model : $"{g.Key.Model} ({g.Key.Variant})";
            sb.AppendLine($"| {name} | {g.Key.Batch} | " + string.Join(" | ", g.Select(r => $"{r.MedianMs:F3} ({r.MedianMs / eight:F2})")) + " |");
        }
        string last = rows[^1].Variant;
        var mb1 = rows.Where(r => r.Model == "mobilenet_v1" && r.Batch == 1 && r.Variant == last).ToList();
        if (mb1.Any(r => r.Bits == 2) && mb1.Any(r => r.Bits == 8))
            sb.AppendLine($"engine_2bit_vs_8bit: {mb1.First(r => r.Bits == 2).MedianMs / mb1.First(r => r.Bits == 8).MedianMs:F3}");
        sb.AppendLine($"switch_ms: {switchMs:F6} ({switchBytes} bytes allocated over 10000 switches)");
        return sb.ToString();
    }
}
