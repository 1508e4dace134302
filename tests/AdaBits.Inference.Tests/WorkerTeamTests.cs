using AdaBits.Inference;

namespace AdaBits.Inference.Tests;

/// <summary>The team's hand-off: every item of every layer runs exactly once, and a layer's items have all
/// finished when Run returns, whether the workers are spinning, parked or late.</summary>
public class WorkerTeamTests
{
    sealed class Counting(int items) : IParallelWork
    {
        public readonly int[] Runs = new int[items];
        public int Layer;
        public int Stale;
        public void Execute(int item, int worker)
        {
            if (Volatile.Read(ref Layer) < 0) Interlocked.Increment(ref Stale);
            if (item % 7 == 0) Thread.SpinWait(50 * (worker + 1)); // uneven items, so workers overlap differently
            Interlocked.Increment(ref Runs[item]); // last: an item still running when Run returns shows as 0
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void Every_item_runs_once_per_layer_and_is_done_when_Run_returns(int threads)
    {
        using var team = new WorkerTeam(threads);
        var rng = new Random(5);
        for (int layer = 0; layer < 3000; layer++)
        {
            int items = rng.Next(2, 40);
            var work = new Counting(items);
            team.Run(items, work, parallel: true);
            Volatile.Write(ref work.Layer, -1); // anything still running for this layer now counts as stale
            Assert.All(work.Runs, r => Assert.Equal(1, r));
            if (layer % 500 == 0) Thread.Sleep(2); // let the workers park, so waking them is exercised too
            Assert.Equal(0, Volatile.Read(ref work.Stale));
        }
    }

    sealed class Throwing : IParallelWork
    {
        public void Execute(int item, int worker)
        {
            // the caller's items wait a little, so that workers take some: their exceptions must reach Run too
            if (worker == 0) Thread.SpinWait(20_000);
            throw new InvalidOperationException($"item {item} on worker {worker}");
        }
    }

    [Fact]
    public void An_item_that_throws_on_any_thread_fails_Run_and_leaves_the_team_usable()
    {
        using var team = new WorkerTeam(2);
        var throwing = new Throwing();
        for (int i = 0; i < 50; i++)
            Assert.Contains("item", Assert.Throws<InvalidOperationException>(() => team.Run(64, throwing, parallel: true)).Message);
        var work = new Counting(30);
        team.Run(30, work, parallel: true);
        Assert.All(work.Runs, r => Assert.Equal(1, r));
    }
}
