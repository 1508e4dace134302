using System.Diagnostics;

namespace AdaBits.Inference;

/// <summary>
/// Budget: p95 latency in ms. Window: recent requests per bit-width the p95 is taken over. MinSamples:
/// requests at a bit-width before it may change again (hysteresis in time). UpMargin: move up only where
/// the higher bit-width's predicted p95 is at most this fraction of the budget (hysteresis in level).
/// </summary>
public sealed record AdaptiveOptions(double BudgetMs, int Window = 32, int MinSamples = 16, double UpMargin = 0.85);

/// <summary>
/// Picks the highest bit-width whose recent p95 latency meets the budget, from its own measurements: a
/// p95 over budget moves one bit-width down; a higher one is tried again only when its latency, predicted
/// from the current p95 times the cost ratio of the two bit-widths (measured in the windows on either side
/// of the last switch between them, so under the same load; 1.25 before any), is under UpMargin x budget.
/// Pure logic (no clock), so it is tested with scripted latencies; allocation-free per request.
/// </summary>
public sealed class BitWidthController
{
    readonly AdaptiveOptions options;
    readonly int[] bits;               // descending
    readonly double[][] windows;
    readonly int[] filled, next;
    readonly double[] ratio;           // ratio[i]: latency of bits[i - 1] over bits[i], measured across a switch
    readonly double[] scratch;
    int current, sinceChange, from = -1;
    double fromMedian;

    public BitWidthController(IReadOnlyList<int> bitsList, AdaptiveOptions options)
    {
        if (!(options.BudgetMs > 0) || options.Window < 2 || options.MinSamples < 1 || options.MinSamples > options.Window || !(options.UpMargin > 0 && options.UpMargin <= 1))
            throw new ArgumentException($"adaptive options out of range: {options}");
        this.options = options;
        bits = bitsList.Distinct().OrderByDescending(b => b).ToArray();
        windows = bits.Select(_ => new double[options.Window]).ToArray();
        filled = new int[bits.Length];
        next = new int[bits.Length];
        ratio = bits.Select(_ => 1.25).ToArray();
        scratch = new double[options.Window];
    }

    public int Bits => bits[current];

    /// <summary>The p95 of the recent requests at the current bit-width (NaN before any).</summary>
    public double CurrentP95 => Percentile(current, 0.95);

    /// <summary>Records one request's latency at the current bit-width; returns the bit-width for the next one.</summary>
    public int Record(double ms)
    {
        int i = current;
        windows[i][next[i]] = ms;
        next[i] = (next[i] + 1) % options.Window;
        if (filled[i] < options.Window) filled[i]++;
        sinceChange++;
        if (sinceChange < options.MinSamples) return Bits;
        double p95 = Percentile(i, 0.95);
        if (from >= 0)
        {
            // the first window after a switch, measured right after the old one: the cost ratio of the pair
            double median = Percentile(i, 0.5);
            if (from == i - 1) ratio[i] = fromMedian / median; else ratio[from] = median / fromMedian;
            from = -1;
        }
        if (p95 > options.BudgetMs && i + 1 < bits.Length) Move(i + 1);
        else if (i > 0 && p95 * ratio[i] <= options.UpMargin * options.BudgetMs) Move(i - 1);
        return Bits;
    }

    void Move(int to)
    {
        from = current;
        fromMedian = Percentile(current, 0.5);
        current = to;
        sinceChange = 0;
        filled[to] = 0;   // its old samples were measured under another load
        next[to] = 0;
    }

    double Percentile(int i, double p)
    {
        int n = filled[i];
        if (n == 0) return double.NaN;
        Array.Copy(windows[i], scratch, n);
        Array.Sort(scratch, 0, n);
        return scratch[Math.Min(n - 1, (int)Math.Ceiling(p * n) - 1)];
    }
}

/// <summary>Runs requests on a session at the bit-width a <see cref="BitWidthController"/> picks, timing each.</summary>
public sealed class AdaptiveRunner
{
    readonly InferenceSession session;
    readonly Func<long> timestamp;
    readonly double ticksPerMs;
    public BitWidthController Controller { get; }

    /// <param name="timestamp">A tick source (default Stopwatch); tests pass a fake clock.</param>
    public AdaptiveRunner(InferenceSession session, AdaptiveOptions options, Func<long>? timestamp = null, long ticksPerSecond = 0)
    {
        this.session = session;
        Controller = new BitWidthController(session.Model.BitsList, options);
        this.timestamp = timestamp ?? Stopwatch.GetTimestamp;
        ticksPerMs = (timestamp is null ? Stopwatch.Frequency : ticksPerSecond) / 1000.0;
        if (!(ticksPerMs > 0)) throw new ArgumentException("a custom clock needs its ticks per second");
        session.SetBits(Controller.Bits);
    }

    /// <summary>Runs one request; returns the bit-width it ran at.</summary>
    public int Run(ReadOnlySpan<float> images, Span<float> logits)
    {
        int ranAt = session.Bits;
        long t0 = timestamp();
        session.Run(images, logits);
        int nextBits = Controller.Record((timestamp() - t0) / ticksPerMs);
        if (nextBits != ranAt) session.SetBits(nextBits);
        return ranAt;
    }
}
