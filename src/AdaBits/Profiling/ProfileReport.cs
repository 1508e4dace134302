using System.Globalization;
using System.Text;
using System.Text.Json;

namespace AdaBits.Profiling;

/// <summary>Measured latency of one bit-width: batch 1 and the config's batch size (null: not measured).</summary>
public sealed record LatencyResult(double? Ms, double? MsBatch, int Batch, LatencyStats? Stats = null, LatencyStats? StatsBatch = null);

/// <summary>
/// The profiler's output: the reference-style text table (a header, per-layer lines when verbose, always the
/// Total line, plus the separate BN line and the latencies) and the JSON document
/// {"input": {...}, "bits": {"5": {...}, ...}, "layers": [...]} with bits keyed as written in bits_list.
/// </summary>
public static class ProfileReport
{
    const int NameWidth = 40, TypeWidth = 19, ShapeWidth = 16, BitsWidth = 6, NumberWidth = 15;
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The table of one bit-width (per-layer lines only when verbose).</summary>
    public static string Text(ModelProfile profile, bool verbose, LatencyResult? latency = null)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"Model profiling with {profile.Bits} bits (input {profile.Batch}x{profile.Channels}x{profile.Height}x{profile.Width}).");
        string header = "Item".PadRight(NameWidth) + "type".PadRight(TypeWidth) + "input".PadLeft(ShapeWidth) + "output".PadLeft(ShapeWidth)
            + "bitw".PadLeft(BitsWidth) + "bita".PadLeft(BitsWidth) + "params".PadLeft(NumberWidth) + "macs".PadLeft(NumberWidth)
            + "bytes (MB)".PadLeft(NumberWidth) + "bitops (B)".PadLeft(NumberWidth);
        sb.AppendLine(header);
        string rule = new('-', header.Length);
        if (verbose)
        {
            sb.AppendLine(rule);
            foreach (var l in profile.Layers)
                sb.AppendLine(Cut(l.Name, NameWidth).PadRight(NameWidth) + Cut(l.Type, TypeWidth).PadRight(TypeWidth)
                    + LayerProfile.ShapeText(l.InputShape).PadLeft(ShapeWidth) + LayerProfile.ShapeText(l.OutputShape).PadLeft(ShapeWidth)
                    + l.Bitw.ToString(Inv).PadLeft(BitsWidth) + l.Bita.ToString(Inv).PadLeft(BitsWidth)
                    + Numbers(l.Params, l.Macs, l.MBytes, l.GBitOps) + (l.InTotals ? "" : "  (BN, not in total)"));
            sb.AppendLine(rule);
        }
        string blank = new(' ', TypeWidth + 2 * ShapeWidth + 2 * BitsWidth);
        sb.AppendLine("Total".PadRight(NameWidth) + blank + Numbers(profile.Params, profile.Macs, profile.MBytes, profile.GBitOps));
        sb.AppendLine("BatchNorm (not in total)".PadRight(NameWidth) + blank
            + Numbers(profile.BnParams, profile.BnMacs, profile.BnMBytes, profile.BnGBitOps));
        if (latency is not null && (latency.Ms is not null || latency.MsBatch is not null))
            sb.AppendLine($"Latency (median, eval forward): {Ms(latency.Ms)}{Spread(latency.Stats)} at batch 1" +
                (latency.MsBatch is null ? "" : $", {Ms(latency.MsBatch)}{Spread(latency.StatsBatch)} at batch {latency.Batch}"));
        foreach (var w in profile.Warnings) sb.AppendLine($"WARNING: {w}");
        return sb.ToString();
    }

    /// <summary>
    /// The JSON document of several bit-widths (in bits_list order). Each "bits" entry holds the totals, the
    /// BN figures and the latencies (null when not measured); "layers" holds every row of every bit-width,
    /// each with its "bits" key.
    /// </summary>
    public static string Json(IReadOnlyList<(ModelProfile Profile, LatencyResult? Latency)> results, bool indented = true)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            if (results.Count > 0)
            {
                var p0 = results[0].Profile;
                w.WriteStartObject("input");
                w.WriteNumber("channels", p0.Channels);
                w.WriteNumber("height", p0.Height);
                w.WriteNumber("width", p0.Width);
                w.WriteNumber("batch", p0.Batch);
                w.WriteEndObject();
            }
            w.WriteStartObject("bits");
            foreach (var (p, latency) in results)
            {
                w.WriteStartObject(p.Bits.ToString());
                w.WriteNumber("params", p.Params);
                w.WriteNumber("macs", p.Macs);
                w.WriteNumber("gbitops", p.GBitOps);
                w.WriteNumber("mbytes", p.MBytes);
                WriteNullable(w, "latency_ms", latency?.Ms);
                WriteNullable(w, "latency_ms_batch", latency?.MsBatch);
                WriteSpread(w, "latency_spread_ms", latency?.Stats);
                WriteSpread(w, "latency_spread_ms_batch", latency?.StatsBatch);
                if (latency is not null) w.WriteNumber("latency_batch_size", latency.Batch);
                else w.WriteNull("latency_batch_size");
                w.WriteNumber("bn_params", p.BnParams);
                w.WriteNumber("bn_macs", p.BnMacs);
                w.WriteNumber("bn_gbitops", p.BnGBitOps);
                w.WriteNumber("bn_mbytes", p.BnMBytes);
                w.WriteStartArray("warnings");
                foreach (var warning in p.Warnings) w.WriteStringValue(warning);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteStartArray("layers");
            foreach (var (p, _) in results)
                foreach (var l in p.Layers)
                {
                    w.WriteStartObject();
                    w.WriteString("bits", p.Bits.ToString());
                    w.WriteString("name", l.Name);
                    w.WriteString("type", l.Type);
                    w.WriteBoolean("in_total", l.InTotals);
                    WriteShape(w, "input_shape", l.InputShape);
                    WriteShape(w, "output_shape", l.OutputShape);
                    w.WriteNumber("bitw", l.Bitw);
                    w.WriteNumber("bita", l.Bita);
                    w.WriteNumber("params", l.Params);
                    w.WriteNumber("macs", l.Macs);
                    w.WriteNumber("gbitops", l.GBitOps);
                    w.WriteNumber("mbytes", l.MBytes);
                    w.WriteEndObject();
                }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The spread of a latency: {"min", "q1", "median", "q3", "max", "runs", "warmup"} in ms, or null.</summary>
    static void WriteSpread(Utf8JsonWriter w, string name, LatencyStats? s)
    {
        if (s is null)
        {
            w.WriteNull(name);
            return;
        }
        w.WriteStartObject(name);
        w.WriteNumber("min", s.MinMs);
        w.WriteNumber("q1", s.Q1Ms);
        w.WriteNumber("median", s.MedianMs);
        w.WriteNumber("q3", s.Q3Ms);
        w.WriteNumber("max", s.MaxMs);
        w.WriteNumber("runs", s.Runs);
        w.WriteNumber("warmup", s.Warmup);
        w.WriteEndObject();
    }

    static void WriteNullable(Utf8JsonWriter w, string name, double? value)
    {
        if (value is double v) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    static void WriteShape(Utf8JsonWriter w, string name, IReadOnlyList<long> shape)
    {
        w.WriteStartArray(name);
        foreach (long d in shape) w.WriteNumberValue(d);
        w.WriteEndArray();
    }

    static string Numbers(long parameters, long macs, double mbytes, double gbitops) =>
        parameters.ToString("N0", Inv).PadLeft(NumberWidth) + macs.ToString("N0", Inv).PadLeft(NumberWidth)
        + mbytes.ToString("F4", Inv).PadLeft(NumberWidth) + gbitops.ToString("F4", Inv).PadLeft(NumberWidth);

    static string Spread(LatencyStats? s) =>
        s is null ? "" : string.Create(Inv, $" (quartiles {s.Q1Ms:F3}-{s.Q3Ms:F3}, {s.Runs} runs after {s.Warmup} warm-up)");

    static string Ms(double? ms) => ms is double v ? v.ToString("F3", Inv) + " ms" : "-";

    static string Cut(string s, int width) => s.Length < width ? s : s[..(width - 2)] + "…";
}
