using AdaBits.Training;
using static TorchSharp.torch;

namespace AdaBits.Tests;

public class MeterTests
{
    [Fact]
    public void Topk_errors_count_per_sample_and_loss_averages_batch_means()
    {
        var m = new EpochMeter([1, 2]);
        using var logits = tensor(new float[] { 3, 2, 1, /**/ 1, 3, 2, /**/ 1, 2, 3 }, [3, 3]);
        using var target = tensor(new long[] { 0, 2, 0 });
        m.Add(logits, target, 1.0);                 // top1 hits: 1 of 3; top2 hits: sample 0, sample 1 (2 is second) = 2
        using var l2 = tensor(new float[] { 0, 5, 1 }, [1, 3]);
        using var t2 = tensor(new long[] { 1 });
        m.Add(l2, t2, 3.0);                          // hit
        var r = m.Result();
        Assert.Equal(4, r.Samples);
        Assert.Equal(2.0, r.Loss, 12);               // (1 + 3) / 2 batches, unweighted
        Assert.Equal(1 - 2 / 4.0, r.TopError[1], 12);
        Assert.Equal(1 - 3 / 4.0, r.TopError[2], 12);
        Assert.Equal(0.5, r.Accuracy(1), 12);
    }
}
