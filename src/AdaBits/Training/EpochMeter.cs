using static TorchSharp.torch;

namespace AdaBits.Training;

/// <summary>One epoch's loss and top-k errors at one bit-width, after the reference's meters (§5.6).</summary>
internal sealed record BitsMetrics(double Loss, IReadOnlyDictionary<int, double> TopError, long Samples)
{
    /// <summary>A distilled bit-width's mean KL term (before its weight and T^2) over the epoch; null when it has no teacher.</summary>
    public double? DistillKl { get; init; }

    public double Top1Error => TopError.TryGetValue(1, out var e) ? e : double.NaN;

    /// <summary>Accuracy (1 - error) for k, a fraction in [0, 1].</summary>
    public double Accuracy(int k) => TopError.TryGetValue(k, out var e) ? 1 - e : double.NaN;
}

/// <summary>
/// Accumulates one epoch at one bit-width: the loss as the unweighted mean of per-batch means and
/// top-k errors per sample, as the reference's ScalarMeters do. Counts stay exact integers.
/// </summary>
internal sealed class EpochMeter(IReadOnlyList<int> topk)
{
    double lossSum, klSum;
    long batches, samples, klBatches;
    readonly long[] correct = new long[topk.Count];

    public void Add(Tensor logits, Tensor target, double batchLoss)
    {
        lossSum += batchLoss;
        batches++;
        samples += target.shape[0];
        using var scope = NewDisposeScope();
        int maxk = (int)Math.Min(topk.Max(), logits.shape[1]);
        var (_, pred) = logits.detach().topk(maxk, dim: 1, largest: true, sorted: true);
        var hit = pred.eq(target.view(-1, 1)).to_type(ScalarType.Int64);
        var cumulative = hit.cumsum(1);
        var counts = cumulative.sum([0L]).to_type(ScalarType.Int64).data<long>().ToArray();
        for (int i = 0; i < topk.Count; i++)
            correct[i] += counts[(int)Math.Min(topk[i], maxk) - 1];
    }

    /// <summary>A distilled step's KL term (see <see cref="BitsMetrics.DistillKl"/>).</summary>
    public void AddDistill(double kl)
    {
        klSum += kl;
        klBatches++;
    }

    /// <summary>The running sums (what a mid-epoch checkpoint keeps so that the resumed epoch's metrics are exact).</summary>
    internal MeterState State => new(lossSum, batches, samples, correct.ToArray(), klSum, klBatches);

    internal void Restore(MeterState s)
    {
        if (s.Correct.Length != correct.Length)
            throw new InvalidDataException($"saved meter has {s.Correct.Length} top-k counts, this run's topk has {correct.Length}");
        (lossSum, batches, samples, klSum, klBatches) = (s.LossSum, s.Batches, s.Samples, s.KlSum, s.KlBatches);
        s.Correct.CopyTo(correct, 0);
    }

    /// <summary>Sums the totals of every rank's meter into each (data-parallel training): all ranks then hold the epoch's metrics.</summary>
    internal void AllReduce(Distributed.World world)
    {
        if (!world.IsDistributed) return;
        Span<double> sums = [lossSum, klSum];
        world.AllReduceSum(sums);
        (lossSum, klSum) = (sums[0], sums[1]);
        long[] counts = [batches, samples, klBatches, .. correct];
        world.AllReduceSum(counts);
        (batches, samples, klBatches) = (counts[0], counts[1], counts[2]);
        counts.AsSpan(3).CopyTo(correct);
    }

    public BitsMetrics Result()
    {
        var errors = new Dictionary<int, double>();
        for (int i = 0; i < topk.Count; i++)
            errors[topk[i]] = samples == 0 ? double.NaN : 1 - (double)correct[i] / samples;
        return new BitsMetrics(batches == 0 ? double.NaN : lossSum / batches, errors, samples)
        {
            DistillKl = klBatches == 0 ? null : klSum / klBatches,
        };
    }
}

/// <summary>An <see cref="EpochMeter"/>'s sums: the loss sum, batches, samples, the top-k hit counts and the distillation
/// term's sum and count (absent in checkpoints written before distillation: 0).</summary>
internal sealed record MeterState(double LossSum, long Batches, long Samples, long[] Correct, double KlSum = 0, long KlBatches = 0);
