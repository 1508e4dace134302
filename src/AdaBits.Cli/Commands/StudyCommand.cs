using System.CommandLine;
using AdaBits.Config;
using AdaBits.Study;
using AdaBits.Training;

namespace AdaBits.Cli.Commands;

/// <summary>`adabits study app:CFG [--seeds N] [--only C1,C3] [--out DIR] [key=value ...]`.</summary>
internal sealed class StudyCommand : CliCommand
{
    const string Help = """
        run the papers' claims as controlled experiments on a config (study.md with tables, plots, verdicts)

        Claims: C1 adaptive vs individually trained per bit-width; C2 switchable clipping levels on/off;
        C3 centered vs modified weights with 3 and 2 bits in the list; C4 SAT rescaling on/off (with
        convergence curves); C5 two-stage (fp_pretrain_epochs) vs from scratch at the same epochs;
        C6 distillation modes (distill). Each variant is trained at --seeds seeds (random_seed + k), each
        sub-run an ordinary run folder under DIR/runs/ (a finished one is skipped, an interrupted one
        resumes). DIR defaults to <log_dir>/study-<config stem>-<hash>. key=value overrides apply to
        every sub-run (e.g. num_epochs=1 train_limit=3200). Writes DIR/study.md and DIR/plots/.
        """;

    public override int Order => 15;

    public override Command Build()
    {
        var command = new Command("study", Help);
        var seeds = CliOptions.Int("--seeds", "Seeds per variant", 3, 1, 1000);
        var only = CliOptions.Text("--only", "C1,C3", "Run only these claims (comma-separated; default: all)");
        var outDir = CliOptions.Text("--out", "DIR", "The study folder (default: <log_dir>/study-<config stem>-<hash>)");
        command.Options.Add(seeds);
        command.Options.Add(only);
        command.Options.Add(outDir);
        var tokens = CliOptions.ConfigTokens(command);
        command.SetAction(r => Run(r.GetValue(tokens)!, r.GetValue(seeds), r.GetValue(only), r.GetValue(outDir)));
        return command;
    }

    public static int Run(string[] tokens, int seeds, string? only, string? outDir)
    {
        var claims = Claims(only);
        var baseConfig = ConfigArgs.Load(tokens);
        string dir = string.IsNullOrEmpty(outDir) ? StudyPlan.DefaultDir(baseConfig) : outDir;
        var plan = StudyPlan.Make(baseConfig, tokens, t => ConfigLoader.Load(t, _ => { }), claims, seeds, dir);
        Console.WriteLine($"study folder: {dir} ({plan.Runs.Count} sub-runs for {string.Join(", ", plan.Claims.Select(c => c.Claim.Id))}, {seeds} seed(s))");
        foreach (var c in plan.Claims.Where(c => c.Skipped is not null)) Console.WriteLine($"study: {c.Claim.Id} not run: {c.Skipped}");
        using var stop = StopSignal.Register(Console.WriteLine);
        IReadOnlyList<SubRunResult> results;
        bool terminal = !Console.IsOutputRedirected;
        try { results = new StudyRunner(plan, Console.WriteLine, stop, terminal ? Console.Out : null, terminal ? WindowWidth() : 120).Run(); }
        catch (TrainingStopped e) { return e.ExitCode; }   // the sub-run's log has said where it stopped; the same command resumes
        string command = "adabits study " + string.Join(" ", tokens) + $" --seeds {seeds}" +
            (only is null ? "" : $" --only {only}") + (outDir is null ? "" : $" --out {outDir}");
        string path = StudyReport.Write(plan, results, command);
        foreach (var c in StudyResults.Of(plan, results)) Console.WriteLine(c.Sentence);
        Console.WriteLine($"study: {path}");
        int failed = results.Count(r => r.Status == SubRunStatus.Failed);
        if (failed == 0) return 0;
        Console.Error.WriteLine($"adabits: error: {failed} of {results.Count} sub-runs failed (see study.md); the same command retries them");
        return 1;
    }

    static int WindowWidth()
    {
        try { return Math.Max(40, Console.WindowWidth); }
        catch (IOException) { return 120; }
    }

    /// <summary>The claims --only names, in C1..C6 order (all when not given).</summary>
    internal static IReadOnlyList<Claim> Claims(string? only)
    {
        if (only is null) return StudyClaims.All;
        var ids = only.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (ids.Length == 0) throw new UsageException("study: --only names no claim (expected e.g. --only C1,C3)");
        foreach (var id in ids)
            if (StudyClaims.Find(id) is null)
                throw new UsageException($"study: --only: unknown claim '{id}' (expected some of {string.Join(", ", StudyClaims.All.Select(c => c.Id))})");
        return StudyClaims.All.Where(c => ids.Any(id => StudyClaims.Find(id) == c)).ToList();
    }
}
