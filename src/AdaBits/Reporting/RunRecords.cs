using System.Collections;
using System.Text.Json;
using AdaBits.Checkpoints;
using static TorchSharp.torch;

namespace AdaBits.Reporting;

/// <summary>One metrics.jsonl line.</summary>
internal sealed record EpochRecord(int Epoch, string Phase, string Bits, double Loss, double Top1Error, double Top5Error);

/// <summary>Per bit-width figures of results.json and profile.json, keyed as bits_list writes them.</summary>
internal sealed record BitsSummary(string Bits, double? Top1, double? Top5, double? Loss, double? GBitOps, double? MBytes, double? LatencyMs);

/// <summary>What a run folder holds, read back for plots and the report.</summary>
internal sealed class RunRecords
{
    public string RunDir { get; }
    public IReadOnlyList<EpochRecord> Epochs { get; }
    public IReadOnlyList<string> BitsOrder { get; }
    public IReadOnlyList<BitsSummary> Summary { get; }
    public int? BestEpoch { get; }
    public double? Seconds { get; }
    public bool HasProfile { get; }

    RunRecords(string runDir, List<EpochRecord> epochs, List<string> order, List<BitsSummary> summary, int? best, double? seconds, bool hasProfile)
    {
        RunDir = runDir;
        Epochs = epochs;
        BitsOrder = order;
        Summary = summary;
        BestEpoch = best;
        Seconds = seconds;
        HasProfile = hasProfile;
    }

    public static RunRecords Read(string runDir)
    {
        string metrics = Path.Combine(runDir, "metrics.jsonl");
        if (!File.Exists(metrics))
            throw new FileNotFoundException($"'{runDir}' is not a run folder: it has no metrics.jsonl");
        var epochs = new List<EpochRecord>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(metrics))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                var e = JsonDocument.Parse(line).RootElement;
                epochs.Add(new EpochRecord(e.GetProperty("epoch").GetInt32(), e.GetProperty("phase").GetString()!, e.GetProperty("bits").GetString()!,
                    Number(e, "loss"), Number(e, "top1_error"), Number(e, "top5_error")));
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new InvalidDataException($"{metrics}: line {lineNo} is not a metrics record ({ex.Message})");
            }
        }
        var order = epochs.Select(e => e.Bits).Distinct().ToList();

        JsonElement? results = ReadJson(Path.Combine(runDir, "results.json"));
        JsonElement? profile = ReadJson(Path.Combine(runDir, "profile.json"));
        var summary = order.Select(b =>
        {
            JsonElement v = default, p = default;
            bool hasV = results is { } r && r.TryGetProperty("val", out var val) && val.TryGetProperty(b, out v);
            bool hasP = profile is { } pr && pr.TryGetProperty("bits", out var pb) && pb.TryGetProperty(b, out p);
            return new BitsSummary(b,
                hasV ? Opt(v, "top1") : null, hasV ? Opt(v, "top5") : null, hasV ? Opt(v, "loss") : null,
                hasP ? Opt(p, "gbitops") : null, hasP ? Opt(p, "mbytes") : null, hasP ? Opt(p, "latency_ms") : null);
        }).ToList();
        int? best = results is { } res && res.TryGetProperty("best_epoch", out var be) ? be.GetInt32() : null;
        double? seconds = results is { } res2 ? Opt(res2, "seconds") : null;
        return new RunRecords(runDir, epochs, order, summary, best, seconds, profile is not null);
    }

    /// <summary>|alpha| per layer (rows) and entry (columns) from best_model.pt (else latest_checkpoint.pt), or empty.</summary>
    public IReadOnlyList<(string Layer, float[] Alpha)> ClippingLevels()
    {
        string path = new[] { "best_model.pt", "latest_checkpoint.pt" }.Select(f => Path.Combine(RunDir, f)).FirstOrDefault(File.Exists) ?? "";
        if (path == "") return [];
        var state = CheckpointFile.LoadStateDict(path);
        return state.Where(p => p.Key.EndsWith(".alpha", StringComparison.Ordinal))
            .OrderBy(p => LayerOrder(p.Key)).ThenBy(p => NaturalKey(p.Key), StringComparer.Ordinal)
            .Select(p => (p.Key[..^".alpha".Length], p.Value.abs().reshape(-1).to_type(ScalarType.Float32).data<float>().ToArray()))
            .ToList();
    }

    // A checkpoint's dictionary has no order: layers are put back in network order by name.
    static int LayerOrder(string key) => key.StartsWith("head", StringComparison.Ordinal) ? 0 : key.StartsWith("classifier", StringComparison.Ordinal) ? 2 : 1;

    static string NaturalKey(string key) =>
        System.Text.RegularExpressions.Regex.Replace(key, @"\d+", m => m.Value.PadLeft(6, '0'));

    static JsonElement? ReadJson(string path)
    {
        if (!File.Exists(path)) return null;
        try { return JsonDocument.Parse(File.ReadAllText(path)).RootElement; }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
    }

    static double Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;

    static double? Opt(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}
