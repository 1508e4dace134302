using AdaBits.Inference;

namespace AdaBits.Inference.Tests;

/// <summary>Small runs after an idle gap on the calling thread alone; back to back, the team.</summary>
public class ColdRunTests
{
    [Fact]
    public void A_small_run_after_the_workers_parked_goes_alone_and_a_burst_brings_the_team_back()
    {
        int[] bits = [8, 4];
        var spec = RandomModels.Build("resnet20", bits);
        var model = new InferenceModel(spec, new EngineOptions { Threads = 2, ParallelThresholdMacs = 0 });
        var reference = new InferenceModel(spec, new EngineOptions { Threads = 1 });
        var images = TestNets.Images(1, 3, 32, 32);
        var expected = TestNets.Run(reference, 4, images, 1);
        using var s = model.CreateSession(1);
        s.SetBits(4);
        var logits = new float[10];
        // idle for far longer than the workers spin: the run finds them parked
        bool alone = false;
        for (int attempt = 0; attempt < 20 && !alone; attempt++)
        {
            Thread.Sleep(20);
            s.Run(images, logits);
            alone = s.RanAlone;
            Assert.Equal(expected, logits);
        }
        Assert.True(alone, "no run after a 20 ms pause went alone");
        // back to back: the first run after the gap wakes nobody, the next (a burst) wakes the team for the one after
        bool team = false, same = true;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50 && !team; i++)
        {
            s.Run(images, logits);
            team = !s.RanAlone;
            same &= logits.AsSpan().SequenceEqual(expected);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(team, "50 runs back to back never used the team");
        Assert.True(same);
        // a pause, a run alone, a burst: nothing allocated (the quietest of five windows, as methods may still tier up)
        long least = allocated;
        for (int window = 0; window < 5 && least != 0; window++)
        {
            Thread.Sleep(20);
            long b0 = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) s.Run(images, logits);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - b0);
        }
        Assert.Equal(0, least);
        // switched off, never alone
        var never = new InferenceModel(spec, new EngineOptions { Threads = 2, ColdAloneMacs = 0 });
        using var t = never.CreateSession(1);
        Thread.Sleep(20);
        t.Run(images, logits);
        Assert.False(t.RanAlone);
    }
}
