using AdaBits.Kernels;
using System.Collections.Concurrent;
using AdaBits.Quantization;

namespace AdaBits.Tests;

/// <summary>Our kernels' parallel parts on libtorch's OpenMP team (OmpTeam) and the split around it (ParallelRanges).</summary>
public class OmpTeamTests
{
    [Fact]
    public void Linux_libtorch_team_is_found()
    {
        // TorchSharp-cpu's Linux libtorch ships libgomp (looked up on Linux only): losing it would silently
        // bring back the slow .NET pool split
        Assert.Equal(OperatingSystem.IsLinux(), OmpTeam.Run(1, (_, _) => { }));
    }

    [Fact]
    public void Each_team_thread_runs_the_body_once_with_its_own_index()
    {
        var seen = new ConcurrentBag<(int Thread, int Team, int ManagedId)>();
        Assert.True(OmpTeam.Run(2, (t, team) => seen.Add((t, team, Environment.CurrentManagedThreadId))));
        Assert.All(seen, s => Assert.Equal(2, s.Team));
        Assert.Equal([0, 1], seen.Select(s => s.Thread).Order());
        // the caller is thread 0; thread 1 is libgomp's worker, running managed code
        Assert.Equal(Environment.CurrentManagedThreadId, seen.Single(s => s.Thread == 0).ManagedId);
        Assert.NotEqual(Environment.CurrentManagedThreadId, seen.Single(s => s.Thread == 1).ManagedId);
    }

    [Fact]
    public void An_exception_on_the_worker_thread_reaches_the_caller()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            OmpTeam.Run(2, (t, team) => { if (t == team - 1 && team == 2) throw new InvalidOperationException("worker failed"); }));
        Assert.Equal("worker failed", e.Message);
        // the team is still usable afterwards
        int calls = 0;
        Assert.True(OmpTeam.Run(2, (_, _) => Interlocked.Increment(ref calls)));
        Assert.Equal(2, calls);
    }

    [Fact]
    public void Garbage_collections_and_nested_calls_inside_a_region_complete()
    {
        for (int round = 0; round < 20; round++)
        {
            var inner = new ConcurrentBag<(int Outer, int Thread, int Team)>();
            Assert.True(OmpTeam.Run(2, (outer, _) =>
            {
                GC.Collect();
                // nested parallelism is off: a call from inside a region gets a team of one, the calling thread
                OmpTeam.Run(2, (t, team) => inner.Add((outer, t, team)));
            }));
            Assert.Equal([(0, 0, 1), (1, 0, 1)], inner.Order());
        }
    }

    [Fact]
    public void Split_sums_equal_the_sum_in_part_order_from_several_callers_at_a_time()
    {
        // several .NET threads each lead their own OpenMP team; each split covers [0, n) once and adds the
        // parts' sums in part order, so a non-associative float sum comes out the same every time
        const long n = 1_000_003;
        static double Sum(long s, long e)
        {
            double sum = 0;
            for (long i = s; i < e; i++) sum += 1.0 / (i + 1);
            return sum;
        }
        var results = new (double Got, double Expected, int Parts)[6];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 3 }, k =>
        {
            int parts = ParallelRanges.Parts(n);
            double expected = 0;
            for (int p = 0; p < parts; p++)
            {
                var (s, e) = ParallelRanges.Range(n, parts, p);
                expected += Sum(s, e);
            }
            results[k] = (ParallelRanges.Run(n, Sum), expected, parts);
        });
        Assert.All(results, r => Assert.Equal(r.Expected, r.Got));
        Assert.Equal(Math.Min(n >> 15, Math.Max(TorchSharp.torch.get_num_threads(), 1)), ParallelRanges.Parts(n));
    }
}
