using AdaBits.Inference;

namespace AdaBits.Inference.Tests;

public class AdaptiveTests
{
    static readonly Dictionary<int, double> Base = new() { [8] = 10, [6] = 8, [5] = 7, [4] = 6 };

    static List<int> Drive(BitWidthController c, IEnumerable<double> loads)
    {
        var chosen = new List<int>();
        foreach (double load in loads)
        {
            chosen.Add(c.Bits);
            c.Record(Base[c.Bits] * load);
        }
        return chosen;
    }

    [Fact]
    public void Moves_down_under_load_and_back_up_when_it_goes()
    {
        var c = new BitWidthController([8, 6, 5, 4], new AdaptiveOptions(BudgetMs: 12, Window: 16, MinSamples: 8));
        var quiet = Drive(c, Enumerable.Repeat(1.0, 50));
        Assert.All(quiet, b => Assert.Equal(8, b));                 // 10 ms <= 12
        var busy = Drive(c, Enumerable.Repeat(1.8, 100));            // 8 bits: 18, 6: 14.4, 5: 12.6, 4: 10.8 ms
        Assert.Equal(4, busy[^1]);
        Assert.Equal([8, 6, 5, 4], busy.Distinct());                 // one step at a time
        var back = Drive(c, Enumerable.Repeat(1.0, 100));
        Assert.Equal(8, back[^1]);
    }

    [Fact]
    public void Hysteresis_stops_flapping_near_the_budget()
    {
        // 8 bits at 11.5 ms meets a 12 ms budget, but from 6 bits (9.2 ms) the predicted 11.5 exceeds 0.85 x 12
        var c = new BitWidthController([8, 6], new AdaptiveOptions(BudgetMs: 12, Window: 16, MinSamples: 8));
        Drive(c, Enumerable.Repeat(1.3, 40));                        // 13 ms: forced down to 6
        Assert.Equal(6, c.Bits);
        var steady = Drive(c, Enumerable.Repeat(1.15, 200));
        Assert.All(steady, b => Assert.Equal(6, b));
    }

    [Fact]
    public void A_single_slow_request_does_not_move_it()
    {
        var c = new BitWidthController([8, 4], new AdaptiveOptions(BudgetMs: 12, Window: 32, MinSamples: 8));
        var loads = Enumerable.Repeat(1.0, 100).ToArray();
        loads[50] = 5;                                               // one 50 ms outlier: the p95 of 32 ignores it
        Assert.All(Drive(c, loads), b => Assert.Equal(8, b));
    }

    [Fact]
    public void Runner_times_requests_with_its_clock_and_switches_the_session()
    {
        var model = new InferenceModel(TestNets.Small(QuantScheme.Modified, QuantScheme.Original, [8, 4]), new EngineOptions { Threads = 1 });
        using var session = model.CreateSession(1);
        long now = 0;
        var runner = new AdaptiveRunner(session, new AdaptiveOptions(BudgetMs: 5, Window: 4, MinSamples: 2), () => now += 7_000, ticksPerSecond: 1_000_000);
        var images = TestNets.Images(1, 3, 13, 11);
        var logits = new float[10];
        var ran = Enumerable.Range(0, 6).Select(_ => runner.Run(images, logits)).ToList();
        Assert.Equal(8, ran[0]);                                     // each request "takes" 7 ms > 5
        Assert.Equal(4, session.Bits);
        Assert.Equal(7, runner.Controller.CurrentP95, 9);
    }
}
