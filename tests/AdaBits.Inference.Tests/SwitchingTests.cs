using AdaBits.Inference;

namespace AdaBits.Inference.Tests;

public class SwitchingTests
{
    static readonly int[] Bits = [8, 6, 5, 4];

    [Fact]
    public void SetBits_and_Run_allocate_nothing_after_warm_up()
    {
        var model = new InferenceModel(TestNets.Small(QuantScheme.Centered, QuantScheme.Centered, Bits), new EngineOptions { Threads = 1 });
        using var s = model.CreateSession(2);
        var images = TestNets.Images(2, 3, 13, 11);
        var logits = new float[20];
        foreach (int b in Bits) { s.SetBits(b); s.Run(images, logits); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++)
        {
            s.SetBits(Bits[i % 4]);
            s.Run(images, logits);
            s.Run(images.AsSpan(0, images.Length / 2), logits);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Switching_changes_the_result_and_switching_back_restores_it()
    {
        var model = new InferenceModel(TestNets.Small(QuantScheme.Modified, QuantScheme.Original, Bits));
        var images = TestNets.Images(1, 3, 13, 11);
        using var s = model.CreateSession(1);
        var a = new float[10]; var b = new float[10]; var c = new float[10];
        s.SetBits(8); s.Run(images, a);
        s.SetBits(4); s.Run(images, b);
        s.SetBits(8); s.Run(images, c);
        Assert.NotEqual(a, b);
        Assert.Equal(a, c);
        Assert.Equal(8, s.Bits);
        Assert.Throws<ArgumentException>(() => s.SetBits(3));
    }

    [Fact]
    public void Sessions_on_several_threads_run_different_bit_widths_at_once()
    {
        var model = new InferenceModel(TestNets.Small(QuantScheme.Centered, QuantScheme.Original, Bits), new EngineOptions { Threads = 2, ParallelThresholdMacs = 0, ColdAloneMacs = 0 });
        var images = TestNets.Images(2, 3, 13, 11);
        var expected = Bits.ToDictionary(b => b, b => TestNets.Run(model, b, images, 2));
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var threads = Bits.Select(b => new Thread(() =>
        {
            using var s = model.CreateSession(2);
            s.SetBits(b);
            var logits = new float[20];
            for (int i = 0; i < 30; i++)
            {
                s.Run(images, logits);
                if (!logits.SequenceEqual(expected[b])) failures.Add($"{b} bits, round {i}");
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Empty(failures);
    }

    [Fact]
    public void Bad_calls_are_clear_errors()
    {
        var model = new InferenceModel(TestNets.Small(QuantScheme.Modified, QuantScheme.Original, Bits));
        using var s = model.CreateSession(1);
        var e = Assert.Throws<ArgumentException>(() => s.Run(new float[3 * 13 * 11 * 2], new float[20]));
        Assert.Equal("batch 2 exceeds the session's max batch 1", e.Message);
        Assert.Contains("not a multiple of 429", Assert.Throws<ArgumentException>(() => s.Run(new float[10], new float[10])).Message);
    }
}
