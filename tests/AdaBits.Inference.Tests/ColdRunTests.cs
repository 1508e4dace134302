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
        // the decision reads this clock, moved by hand: it sees a pause where the test sleeps and none between
        // runs back to back, however long the OS keeps the test's thread off the CPU (a busy CI machine did)
        long now = 0, pause = System.Diagnostics.Stopwatch.Frequency / 50;
        var model = new InferenceModel(spec, new EngineOptions { Threads = 2, ParallelThresholdMacs = 0, Clock = () => now });
        var reference = new InferenceModel(spec, new EngineOptions { Threads = 1 });
        var images = TestNets.Images(1, 3, 32, 32);
        var expected = TestNets.Run(reference, 4, images, 1);
        using var s = model.CreateSession(1);
        s.SetBits(4);
        var logits = new float[10];
        // idle for far longer than the workers spin: the run finds them parked (they really have to be)
        bool alone = false;
        for (int attempt = 0; attempt < 20 && !alone; attempt++)
        {
            Thread.Sleep(20);
            now += pause;
            s.Run(images, logits);
            alone = s.RanAlone;
            Assert.Equal(expected, logits);
        }
        Assert.True(alone, "no run after a 20 ms pause went alone");
        // back to back: the first run finds the workers still parked, goes alone and, being the second of a burst,
        // wakes them; the next one uses them
        s.Run(images, logits);
        Assert.True(s.RanAlone, "the workers were parked, nothing woke them");
        Assert.Equal(expected, logits);
        long before = GC.GetAllocatedBytesForCurrentThread();
        s.Run(images, logits);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.False(s.RanAlone, "the run after a burst's wake went alone");
        Assert.Equal(expected, logits);
        // a pause, a run alone, a burst: nothing allocated (the quietest of five windows, as methods may still tier up)
        long least = allocated;
        for (int window = 0; window < 5 && least != 0; window++)
        {
            Thread.Sleep(20);
            now += pause;
            long b0 = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) s.Run(images, logits);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - b0);
        }
        Assert.Equal(0, least);
        Assert.Equal(expected, logits);
        // switched off, never alone
        var never = new InferenceModel(spec, new EngineOptions { Threads = 2, ColdAloneMacs = 0 });
        using var t = never.CreateSession(1);
        Thread.Sleep(20);
        t.Run(images, logits);
        Assert.False(t.RanAlone);
    }
}
