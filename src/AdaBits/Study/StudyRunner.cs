using System.Diagnostics;
using AdaBits.Reporting;
using AdaBits.Training;

namespace AdaBits.Study;

/// <summary>How a sub-run ended in this invocation.</summary>
internal enum SubRunStatus { Trained, Skipped, Failed }

/// <summary>A sub-run's outcome: its run folder read back (null when it failed) and, on failure, the one-line reason.</summary>
internal sealed record SubRunResult(SubRun Run, SubRunStatus Status, RunRecords? Records, string? Error = null)
{
    public double Seconds => Records?.Seconds ?? double.NaN;
}

/// <summary>
/// Runs a study's sub-runs in order, each an ordinary run folder trained in-process by <see cref="Trainer"/>: one
/// with results.json is skipped, an interrupted one resumes from its checkpoint. Progress across the whole study
/// (sub-run i of n, the remaining time estimated from the finished sub-runs' seconds per unit of cost) goes to
/// <paramref name="line"/>, as do the sub-runs' validation lines; their full logs stay in their train.log.
/// A sub-run that fails (diverges, say) is recorded and the study goes on; a stop signal ends it after the
/// sub-run's checkpoint (the same command resumes). Given a terminal (<paramref name="live"/>), the sub-run's
/// live progress bar is drawn there too, after its [i/n].
/// </summary>
internal sealed class StudyRunner(StudyPlan plan, Action<string> line, StopSignal? stop = null, TextWriter? live = null, int liveWidth = 120)
{
    public IReadOnlyList<SubRunResult> Run()
    {
        var results = new List<SubRunResult>();
        int n = plan.Runs.Count;
        double doneSeconds = 0, doneCost = 0;
        string Eta(int from)
        {
            if (doneCost <= 0) return "remaining time known after the first sub-run";
            double left = plan.Runs.Skip(from).Sum(r => r.Cost) * doneSeconds / doneCost;
            return $"about {RunOutputs.Duration(left)} left";
        }
        for (int i = 0; i < n; i++)
        {
            var run = plan.Runs[i];
            string tag = $"study: sub-run {i + 1}/{n}";
            string resultsPath = Path.Combine(run.Dir, RunOutputs.ResultsFile);
            bool before = File.Exists(resultsPath);
            if (!before) line($"{tag} {Describe(run)}: training ({Eta(i)})");
            var clock = Stopwatch.StartNew();
            var result = before ? new SubRunResult(run, SubRunStatus.Skipped, RunRecords.Read(run.Dir)) : Train(run, $"  [{i + 1}/{n}] ");
            if (result.Records is { Seconds: double s })
            {
                doneSeconds += s;
                doneCost += run.Cost;
            }
            line(result.Status switch
            {
                SubRunStatus.Skipped => $"{tag} {Describe(run)}: done before ({RunOutputs.Duration(result.Seconds)}), skipped",
                SubRunStatus.Failed => $"{tag} failed after {RunOutputs.Duration(clock.Elapsed.TotalSeconds)}: {result.Error}",
                _ => $"{tag} done in {RunOutputs.Duration(clock.Elapsed.TotalSeconds)}: top-1 {Top1(result.Records!)}; {Eta(i + 1)}",
            });
            results.Add(result);
        }
        return results;
    }

    SubRunResult Train(SubRun run, string prefix)
    {
        try
        {
            using var console = new SubRunConsole(text => line(prefix + text), live, prefix);
            using var log = new RunLog(console, interactive: live is not null, width: Math.Max(40, liveWidth - prefix.Length));
            using var trainer = new Trainer(run.Config, log, training: true) { Stop = stop };
            trainer.Train();
            return new SubRunResult(run, SubRunStatus.Trained, RunRecords.Read(run.Dir));
        }
        catch (TrainingStopped) { throw; }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SubRunResult(run, SubRunStatus.Failed, null, e.Message.ReplaceLineEndings(" "));
        }
    }

    string Describe(SubRun run) => $"{string.Join(", ", plan.Uses(run))}, seed {run.Seed} ({StudyPlan.RunsFolder}/{run.Name})";

    static string Top1(RunRecords r) =>
        string.Join(" ", r.Summary.Select(s => $"{s.Bits}:{(s.Top1 is double t ? t.ToString("F4", System.Globalization.CultureInfo.InvariantCulture) : "?")}"));
}
