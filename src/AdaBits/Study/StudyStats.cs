using System.Globalization;

namespace AdaBits.Study;

/// <summary>Mean and sample standard deviation of one variant's top-1 at one bit-width, over the seeds that finished.</summary>
internal readonly record struct SeedStats(double Mean, double Std, int N)
{
    /// <summary>Sample standard deviation (n - 1): with one seed it is undefined (NaN), not zero.</summary>
    public static SeedStats Of(IReadOnlyCollection<double> values)
    {
        int n = values.Count;
        if (n == 0) return new SeedStats(double.NaN, double.NaN, 0);
        double mean = values.Average();
        double std = n < 2 ? double.NaN : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (n - 1));
        return new SeedStats(mean, std, n);
    }

    public string Text() => N == 0 ? "–" : N == 1
        ? Mean.ToString("F4", CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{Mean:F4} ± {Std:F4}");
}

internal enum Outcome { Holds, DoesNotHold, Inconclusive }

/// <summary>What a claim says of its variant against the baseline.</summary>
internal enum ClaimKind
{
    /// <summary>The variant's top-1 is higher.</summary>
    Better,
    /// <summary>The variant's top-1 is not lower (the adaptive model against individually trained ones).</summary>
    AtLeastAsGood,
}

/// <summary>One bit-width's comparison: the variant's and the baseline's statistics and what the rule makes of them.</summary>
internal sealed record BitComparison(string Bits, SeedStats Variant, SeedStats Baseline)
{
    public double Difference => Variant.Mean - Baseline.Mean;

    /// <summary>The pooled sample standard deviation of the two: sqrt((s1² + s2²) / 2).</summary>
    public double Noise => Math.Sqrt((Variant.Std * Variant.Std + Baseline.Std * Baseline.Std) / 2);

    public bool Above => Difference > Noise;
    public bool Below => Difference < -Noise;
}

/// <summary>
/// The verdict rule of a study (written out in study.md). At each judged bit-width the difference of the means
/// (variant - baseline) is compared with the pooled standard deviation of the seeds: above it counts as
/// better, below minus it as worse, in between as within noise. Better: holds when better at more than half
/// of the judged bit-widths, does not hold when worse at more than half, else inconclusive. At least as good:
/// holds when not worse at more than half, does not hold when worse at more than half (else inconclusive).
/// Fewer than two seeds on either side leave the noise unknown: inconclusive.
/// </summary>
internal static class VerdictRule
{
    public const string Text =
        "At each judged bit-width, d = mean top-1 of the variant - mean top-1 of the baseline (over seeds) is " +
        "compared with the pooled sample standard deviation s = sqrt((s_variant² + s_baseline²) / 2): d > s is " +
        "*better*, d < -s *worse*, otherwise *within noise*. A claim that a variant is better **holds** when it " +
        "is better at more than half of the judged bit-widths, **does not hold** when it is worse at more than " +
        "half, and is **inconclusive** otherwise (differences within noise, or mixed). A claim that a variant is " +
        "at least as good holds when it is not worse at more than half and does not hold when it is worse at more " +
        "than half. With fewer than 2 finished seeds per variant the noise is unknown and every verdict is " +
        "inconclusive.";

    public static Outcome Judge(ClaimKind kind, IReadOnlyList<BitComparison> judged)
    {
        if (judged.Count == 0 || judged.Any(c => c.Variant.N < 2 || c.Baseline.N < 2)) return Outcome.Inconclusive;
        int n = judged.Count, better = judged.Count(c => c.Above), worse = judged.Count(c => c.Below);
        if (2 * worse > n) return Outcome.DoesNotHold;
        int favourable = kind == ClaimKind.Better ? better : n - worse;
        return 2 * favourable > n ? Outcome.Holds : Outcome.Inconclusive;
    }

    public static string Name(Outcome o) => o switch
    {
        Outcome.Holds => "holds",
        Outcome.DoesNotHold => "does not hold",
        _ => "inconclusive",
    };
}
