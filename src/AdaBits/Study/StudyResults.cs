using System.Globalization;
using AdaBits.Modules;

namespace AdaBits.Study;

/// <summary>One variant's top-1 per bit-width over the seeds, and its wall time per seed (all its runs).</summary>
internal sealed record VariantRow(StudyVariant Variant, IReadOnlyDictionary<string, SeedStats> Top1, SeedStats Seconds);

/// <summary>A claimed variant against the baseline at the judged bit-widths, and the verdict.</summary>
internal sealed record VariantVerdict(StudyVariant Variant, Outcome Outcome, IReadOnlyList<BitComparison> Compared);

/// <summary>A claim's table, verdicts and the one-sentence summary of them.</summary>
internal sealed record ClaimResult(ClaimPlan Plan, IReadOnlyList<string> BitsOrder, IReadOnlyList<VariantRow> Rows, IReadOnlyList<VariantVerdict> Verdicts)
{
    public string Sentence => StudyResults.Sentence(this);
}

/// <summary>Aggregates the sub-runs' results.json into per-claim statistics over the seeds.</summary>
internal static class StudyResults
{
    public static IReadOnlyList<ClaimResult> Of(StudyPlan plan, IReadOnlyList<SubRunResult> results)
    {
        var byRun = results.ToDictionary(r => r.Run);
        var claims = new List<ClaimResult>();
        foreach (var claim in plan.Claims.Where(c => c.Skipped is null))
        {
            IReadOnlyList<Bits> Reported(StudyVariant v, VariantPart p) => p.Reports ?? plan.RunOf(claim, v, p, 0)!.Config.Quant.BitsList;
            var bits = claim.Variants.SelectMany(v => v.Parts.SelectMany(p => Reported(v, p)))
                .Distinct().OrderByDescending(b => b.Weight).ThenByDescending(b => b.Activation).ToList();
            var rows = new List<VariantRow>();
            foreach (var v in claim.Variants)
            {
                var top1 = new Dictionary<string, SeedStats>();
                foreach (var b in bits)
                {
                    var values = new List<double>();
                    for (int k = 0; k < plan.Seeds; k++)
                    {
                        var part = v.Parts.FirstOrDefault(p => Reported(v, p).Contains(b));
                        if (part is null || !byRun.TryGetValue(plan.RunOf(claim, v, part, k)!, out var r) || r.Records is null) continue;
                        if (r.Records.Summary.FirstOrDefault(s => s.Bits == b.ToString())?.Top1 is double t) values.Add(t);
                    }
                    top1[b.ToString()] = SeedStats.Of(values);
                }
                var seconds = new List<double>();
                for (int k = 0; k < plan.Seeds; k++)
                {
                    var parts = v.Parts.Select(p => byRun.GetValueOrDefault(plan.RunOf(claim, v, p, k)!)).ToList();
                    if (parts.All(r => r?.Records?.Seconds is not null)) seconds.Add(parts.Sum(r => r!.Seconds));
                }
                rows.Add(new VariantRow(v, top1, SeedStats.Of(seconds)));
            }
            var baseline = rows.First(r => r.Variant.Name == claim.Baseline);
            var verdicts = rows.Where(r => r != baseline).Select(r =>
            {
                var compared = claim.Judged.Select(b => new BitComparison(b.ToString(), r.Top1[b.ToString()], baseline.Top1[b.ToString()])).ToList();
                return new VariantVerdict(r.Variant, VerdictRule.Judge(claim.Claim.Kind, compared), compared);
            }).ToList();
            claims.Add(new ClaimResult(claim, bits.Select(b => b.ToString()).ToList(), rows, verdicts));
        }
        return claims;
    }

    /// <summary>`C2 holds at this budget: on vs off is better at 3, worse at 0, within noise at 1 of the 4 judged bit-widths (8 bits: 0.9812 ± 0.0021 vs ...).`</summary>
    internal static string Sentence(ClaimResult c)
    {
        var parts = c.Verdicts.Select(v =>
        {
            string numbers = string.Join(", ", v.Compared.Select(x => $"{x.Bits} bits {x.Variant.Text()} vs {x.Baseline.Text()}"));
            string counts = v.Compared.Any(x => x.Variant.N < 2 || x.Baseline.N < 2)
                ? "fewer than 2 seeds, so the noise is unknown"
                : string.Create(CultureInfo.InvariantCulture,
                    $"better at {v.Compared.Count(x => x.Above)}, worse at {v.Compared.Count(x => x.Below)}, within noise at {v.Compared.Count(x => !x.Above && !x.Below)} of {v.Compared.Count} judged bit-widths");
            return $"{VerdictRule.Name(v.Outcome)} for {v.Variant.Name} vs {c.Plan.Baseline} ({counts}: {numbers})";
        });
        return $"{c.Plan.Claim.Id} at this budget: {string.Join("; ", parts)}.";
    }
}
