using System.Security.Cryptography;
using System.Text;
using AdaBits.Config;

namespace AdaBits.Study;

/// <summary>
/// One training run of a study: an ordinary run folder under the study's runs/, named by the seed and a hash of
/// its whole effective config, so two claims that need the same run (a baseline equal to the config) share it,
/// and a study re-run with other --seeds or --only finds the runs it already has.
/// </summary>
internal sealed record SubRun(string Dir, TrainConfig Config, int Seed, IReadOnlyList<string> Overrides)
{
    public string Name => Path.GetFileName(Dir);

    /// <summary>What the ETA is proportioned by: bit-widths trained per step times epochs.</summary>
    public double Cost => (Config.AdaptiveTraining ? Config.Quant.BitsList.Count : 1) * (double)Math.Max(1, Config.NumEpochs);
}

/// <summary>The claims to run, made concrete for a base config, and the sub-runs they need (seed-major order).</summary>
internal sealed class StudyPlan
{
    public const string RunsFolder = "runs";

    public TrainConfig Base { get; }
    public string Dir { get; }
    public int Seeds { get; }
    public IReadOnlyList<ClaimPlan> Claims { get; }
    public IReadOnlyList<SubRun> Runs { get; }
    readonly Dictionary<(ClaimPlan, StudyVariant, VariantPart, int), SubRun> byUse;

    StudyPlan(TrainConfig baseConfig, string dir, int seeds, List<ClaimPlan> claims, List<SubRun> runs,
        Dictionary<(ClaimPlan, StudyVariant, VariantPart, int), SubRun> byUse)
    {
        Base = baseConfig;
        Dir = dir;
        Seeds = seeds;
        Claims = claims;
        Runs = runs;
        this.byUse = byUse;
    }

    /// <summary>The sub-run of a variant's part at seed index k (null when the claim was skipped).</summary>
    public SubRun? RunOf(ClaimPlan claim, StudyVariant variant, VariantPart part, int k) =>
        byUse.TryGetValue((claim, variant, part, k), out var r) ? r : null;

    /// <summary>`C2 on`, `C4 on`, `C1 individual [4]`: every claim variant the run serves.</summary>
    public IReadOnlyList<string> Uses(SubRun run) => byUse.Where(p => p.Value == run)
        .Select(p => $"{p.Key.Item1.Claim.Id} {p.Key.Item2.Name}" + (p.Key.Item3.Reports is { } r ? $" {Modules.Bits.ListToString(r)}" : ""))
        .Distinct().ToList();

    /// <summary><c>&lt;log_dir&gt;/study-&lt;config stem&gt;-&lt;8 hex digits of the base config's hash&gt;</c>.</summary>
    public static string DefaultDir(TrainConfig baseConfig) =>
        Path.Combine(baseConfig.LogDir, $"study-{Path.GetFileNameWithoutExtension(baseConfig.SourcePath)}-{Identity(baseConfig)}");

    /// <summary>
    /// Plans the study. <paramref name="load"/> turns config tokens (the base tokens plus a variant's overrides) into a
    /// config; a claim whose overrides it refuses (a key this build does not know) is skipped with the message.
    /// </summary>
    public static StudyPlan Make(TrainConfig baseConfig, IReadOnlyList<string> baseTokens, Func<IReadOnlyList<string>, TrainConfig> load,
        IEnumerable<Claim> claims, int seeds, string dir)
    {
        if (seeds < 1) throw new ArgumentOutOfRangeException(nameof(seeds), $"--seeds must be at least 1, got {seeds}");
        string runsDir = Path.Combine(dir, RunsFolder);
        var plans = new List<ClaimPlan>();
        var byIdentity = new Dictionary<string, SubRun>();
        var byUse = new Dictionary<(ClaimPlan, StudyVariant, VariantPart, int), SubRun>();
        var ordered = new List<(int Seed, SubRun Run)>();
        foreach (var claim in claims)
        {
            var plan = claim.Plan(baseConfig);
            var uses = new List<((ClaimPlan, StudyVariant, VariantPart, int) Use, SubRun Run)>();
            try
            {
                foreach (var variant in plan.Variants)
                    foreach (var part in variant.Parts)
                        for (int k = 0; k < seeds; k++)
                        {
                            int seed = baseConfig.RandomSeed + k;
                            var config = load([.. baseTokens, .. part.Overrides, $"random_seed={seed}"]) with { LogDir = runsDir, RunDirOverride = "" };
                            string id = Identity(config);
                            uses.Add(((plan, variant, part, k), new SubRun(Path.Combine(runsDir, $"seed{seed}-{id}"), config, seed, part.Overrides)));
                        }
            }
            catch (ConfigException e)
            {
                plans.Add(ClaimPlan.Skip(claim, $"its overrides are not accepted by this build ({e.Message})"));
                continue;
            }
            if (plan.Skipped is null && uses.Count == 0) plan = ClaimPlan.Skip(claim, "no sub-runs");
            plans.Add(plan);
            foreach (var (use, candidate) in uses)
            {
                string key = candidate.Name;
                if (!byIdentity.TryGetValue(key, out var run))
                {
                    run = candidate with { Config = candidate.Config with { RunDirOverride = candidate.Dir } };
                    byIdentity[key] = run;
                    ordered.Add((run.Seed, run));
                }
                byUse[use] = run;
            }
        }
        // Seed-major: a study stopped half-way has every claim at its first seeds rather than some claims at all seeds.
        var runs = ordered.Select((r, i) => (r, i)).OrderBy(p => p.r.Seed).ThenBy(p => p.i).Select(p => p.r.Run).ToList();
        return new StudyPlan(baseConfig, dir, seeds, plans, runs, byUse);
    }

    /// <summary>8 hex digits of SHA-256 of every setting (config.yml's text) but where the run is written.</summary>
    static string Identity(TrainConfig c)
    {
        string yaml = (c with { LogDir = "", RunDirOverride = "" }).ToYaml();
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(yaml)))[..8];
    }
}
