using AdaBits.Modules;
using AdaBits.Profiling;

namespace AdaBits.Tests;

/// <summary>Latency measured warm: median and spread, warm-up until the times settle.</summary>
public class LatencyStatsTests
{
    [Fact]
    public void Median_and_quartiles_by_linear_interpolation()
    {
        // sorted 1 2 3 4 10: median 3, q1 at position 1 = 2, q3 at position 3 = 4
        var s = LatencyStats.Of([10, 1, 4, 2, 3], warmup: 7);
        Assert.Equal((3.0, 1.0, 2.0, 4.0, 10.0, 5, 7), (s.MedianMs, s.MinMs, s.Q1Ms, s.Q3Ms, s.MaxMs, s.Runs, s.Warmup));
        // 1 2 3 4: median 2.5, q1 at 0.75 = 1.75, q3 at 2.25 = 3.25
        var e = LatencyStats.Of([4, 3, 2, 1], 0);
        Assert.Equal((2.5, 1.75, 3.25), (e.MedianMs, e.Q1Ms, e.Q3Ms));
    }

    [Fact]
    public void Warm_up_goes_on_until_the_slow_first_calls_are_over()
    {
        // a cold start: the first calls take 30, 25, ... 2 ms, then about 1 ms each
        int[] cold = [30, 25, 20, 15, 10, 8, 6, 4, 2];
        int calls = 0;
        var s = LatencyStats.Measure(() => { int c = calls++; Thread.Sleep(c < cold.Length ? cold[c] : 1); }, minWarmup: 1, repeats: 5);
        Assert.True(s.Warmup >= cold.Length, $"warm-up of {s.Warmup} runs");
        Assert.Equal(calls, s.Warmup + 5);
        Assert.True(s.MaxMs < 2 * 4, $"a timed run was cold: {s.MaxMs} ms");
        Assert.True(s.MinMs <= s.Q1Ms && s.Q1Ms <= s.MedianMs && s.MedianMs <= s.Q3Ms && s.Q3Ms <= s.MaxMs);
    }

    [Fact]
    public void Warm_up_stops_at_its_budget_when_times_never_settle()
    {
        int calls = 0;
        var s = LatencyStats.Measure(() => Thread.Sleep(calls++ % 2 == 0 ? 1 : 5), minWarmup: 0, repeats: 3, maxWarmup: 12);
        Assert.Equal(12, s.Warmup);
        Assert.Equal(3, s.Runs);
    }

    [Fact]
    public void Profile_json_holds_each_bit_widths_median_and_spread()
    {
        using var model = new AdaBits.Models.QMnistCnn(new QuantOptions { BitsList = [new Bits(8), new Bits(4)] }, numClasses: 10, inChannels: 1);
        var results = ModelProfiler.ProfileEach(model, [new Bits(8), new Bits(4)], 1, 28, 28, batch: 2, latency: true, warmup: 1, repeats: 3);
        var bits = System.Text.Json.JsonDocument.Parse(ProfileReport.Json(results)).RootElement.GetProperty("bits");
        foreach (var b in new[] { "8", "4" })
        {
            var e = bits.GetProperty(b);
            foreach (var key in new[] { "latency_spread_ms", "latency_spread_ms_batch" })
            {
                var spread = e.GetProperty(key);
                Assert.Equal(3, spread.GetProperty("runs").GetInt32());
                Assert.True(spread.GetProperty("warmup").GetInt32() >= 6);
                Assert.True(spread.GetProperty("min").GetDouble() <= spread.GetProperty("median").GetDouble());
                Assert.True(spread.GetProperty("median").GetDouble() <= spread.GetProperty("max").GetDouble());
            }
            Assert.Equal(e.GetProperty("latency_ms").GetDouble(), e.GetProperty("latency_spread_ms").GetProperty("median").GetDouble());
        }
    }
}
