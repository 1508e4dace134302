using System.Globalization;
using System.Text;
using System.Text.Json;
using AdaBits.Modules;
using AdaBits.IO;

namespace AdaBits.Training;

/// <summary>
/// The machine-readable outputs of a run folder: metrics.jsonl (one object per epoch, phase and bit-width)
/// and results.json (the best model's validation numbers per bit-width).
/// </summary>
internal static class RunOutputs
{
    public const string MetricsFile = "metrics.jsonl";
    public const string ResultsFile = "results.json";

    /// <param name="stage">A two-stage run's stage (<see cref="TwoStage"/>), written first; null: a single-stage run, no field.</param>
    public static string MetricsLine(int epoch, string phase, Bits bits, BitsMetrics m, double lr, double seconds, string? stage = null)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (stage is not null) w.WriteString("stage", stage);
            w.WriteNumber("epoch", epoch);
            w.WriteString("phase", phase);
            w.WriteString("bits", bits.ToString());
            WriteNumber(w, "loss", m.Loss);
            foreach (var (k, e) in m.TopError.OrderBy(p => p.Key)) WriteNumber(w, $"top{k}_error", e);
            if (m.DistillKl is double kl) WriteNumber(w, "distill_kl", kl);
            WriteNumber(w, "lr", lr);
            WriteNumber(w, "seconds", Math.Round(seconds, 3));
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    public static void AppendMetrics(string runDir, IEnumerable<string> lines, AtomicWriter? writer = null) =>
        (writer ?? AtomicWriter.Default).AppendLines(Path.Combine(runDir, MetricsFile), lines);

    /// <summary>
    /// Drops the lines of epochs after `lastEpoch` (written by a run that stopped before its checkpoint),
    /// so a resumed run's metrics.jsonl holds every epoch once.
    /// </summary>
    public static void TruncateMetrics(string runDir, int lastEpoch, AtomicWriter? writer = null)
    {
        string path = Path.Combine(runDir, MetricsFile);
        if (!File.Exists(path)) return;
        var keep = File.ReadAllLines(path).Where(l =>
        {
            if (string.IsNullOrWhiteSpace(l)) return false;
            try { return JsonDocument.Parse(l).RootElement.GetProperty("epoch").GetInt32() <= lastEpoch; }
            catch (JsonException) { return false; }
        }).ToList();
        (writer ?? AtomicWriter.Default).Write(path, tmp => File.WriteAllLines(tmp, keep));
    }

    /// <summary>{"bits_list": [...], "best_epoch": N, "val": {"8": {"top1", "top5", "loss"}, ...}, "seconds": S,
    /// "experiment_setting": "bits_list_[8, 4]/adaptive_True/..."}; a two-stage run's stage-1 folder adds
    /// "stage": "fp_pretrain", its run folder "stage": "joint" and "fp_pretrain": {the stage-1 summary}.</summary>
    public static void WriteResults(string path, IReadOnlyList<Bits> bitsList, int bestEpoch,
        IReadOnlyDictionary<Bits, BitsMetrics> val, double seconds, string? experimentSetting = null, AtomicWriter? writer = null,
        string? stage = null, StageSummary? fpPretrain = null)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WritePropertyName("bits_list");
            w.WriteRawValue(Bits.ListToString(bitsList));
            w.WriteNumber("best_epoch", bestEpoch);
            w.WritePropertyName("val");
            WriteVal(w, val);
            WriteNumber(w, "seconds", Math.Round(seconds, 1));
            if (experimentSetting is not null) w.WriteString("experiment_setting", experimentSetting);
            if (stage is not null) w.WriteString("stage", stage);
            if (fpPretrain is { } s)
            {
                w.WriteStartObject(TwoStage.FpStage);
                w.WriteString("run_dir", s.RunDir);
                w.WriteNumber("epochs", s.Epochs);
                w.WriteNumber("best_epoch", s.BestEpoch);
                w.WriteString("expanded", s.Expanded);
                w.WritePropertyName("val");
                using (var stageVal = JsonDocument.Parse(s.ValJson)) stageVal.RootElement.WriteTo(w);
                WriteNumber(w, "seconds", Math.Round(s.Seconds, 1));
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        (writer ?? AtomicWriter.Default).WriteAllBytes(path, ms.ToArray());
    }

    /// <summary>The "val" object alone (what `test --json` prints).</summary>
    public static string ValJson(IReadOnlyDictionary<Bits, BitsMetrics> val)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true })) WriteVal(w, val);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    static void WriteVal(Utf8JsonWriter w, IReadOnlyDictionary<Bits, BitsMetrics> val)
    {
        w.WriteStartObject();
        foreach (var (bits, m) in val)
        {
            w.WriteStartObject(bits.ToString());
            foreach (var (k, e) in m.TopError.OrderBy(p => p.Key)) WriteNumber(w, $"top{k}", 1 - e);
            WriteNumber(w, "loss", m.Loss);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    /// <summary>JSON has no NaN: a value that is not finite is written as null.</summary>
    static void WriteNumber(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    public static string Duration(double seconds) =>
        TimeSpan.FromSeconds(Math.Max(0, seconds)).ToString(seconds >= 3600 ? @"h\:mm\:ss" : @"m\:ss", CultureInfo.InvariantCulture);
}
