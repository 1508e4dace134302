using System.Diagnostics;

namespace AdaBits.Profiling;

/// <summary>
/// The wall times of repeated forwards after warm-up: the median and the spread (min, quartiles, max), with
/// the number of timed runs and of warm-up runs it took to get there.
/// </summary>
public sealed record LatencyStats(double MedianMs, double MinMs, double Q1Ms, double Q3Ms, double MaxMs, int Runs, int Warmup)
{
    public static LatencyStats Of(IReadOnlyList<double> timesMs, int warmup)
    {
        if (timesMs.Count == 0) throw new ArgumentException("no times to summarise", nameof(timesMs));
        var t = timesMs.Order().ToArray();
        return new LatencyStats(Quantile(t, 0.5), t[0], Quantile(t, 0.25), Quantile(t, 0.75), t[^1], t.Length, warmup);
    }

    /// <summary>Linear interpolation between order statistics (numpy's default): the median of 4 values is the mean of the middle two.</summary>
    public static double Quantile(double[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>
    /// Runs `forward` until it is warm, then `repeats` timed runs. Warm: at least `minWarmup` runs and the last
    /// two groups of three runs have medians within 10% of each other (first calls, JIT, thread start and
    /// allocator growth are over), or the warm-up budget (`maxWarmup` runs or two seconds) is spent.
    /// </summary>
    public static LatencyStats Measure(Action forward, int minWarmup, int repeats, int maxWarmup = 100)
    {
        if (minWarmup < 0) throw new ArgumentOutOfRangeException(nameof(minWarmup), "warm-up count must be >= 0");
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), "repeat count must be >= 1");
        var warm = new List<double>();
        var budget = Stopwatch.StartNew();
        while (warm.Count < Math.Max(minWarmup, 6) && warm.Count < maxWarmup || warm.Count < maxWarmup && !Settled(warm) && budget.Elapsed.TotalSeconds < 2)
            warm.Add(Time(forward));
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++) times[i] = Time(forward);
        return Of(times, warm.Count);
    }

    static bool Settled(List<double> warm)
    {
        if (warm.Count < 6) return false;
        double a = Median3(warm[^6], warm[^5], warm[^4]), b = Median3(warm[^3], warm[^2], warm[^1]);
        return Math.Abs(a - b) <= 0.1 * Math.Max(a, b);
    }

    static double Median3(double a, double b, double c) => Math.Max(Math.Min(a, b), Math.Min(Math.Max(a, b), c));

    static double Time(Action forward)
    {
        var sw = Stopwatch.StartNew();
        forward();
        return sw.Elapsed.TotalMilliseconds;
    }
}
