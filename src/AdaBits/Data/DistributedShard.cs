namespace AdaBits.Data;

/// <summary>
/// One rank's share of an epoch, as PyTorch's DistributedSampler: the epoch's order (the same seeded
/// permutation on every rank) padded by repeating its head to a multiple of the world size, then every
/// size-th entry from position rank. Every rank then has the same number of samples and steps, and the
/// union of the ranks' k-th batches of b is the k-th batch of size*b of the unsharded order, the batch one
/// process would train on. Without padding (validation) a rank keeps only its real samples, so every image
/// is counted once when the ranks' metrics are summed.
/// </summary>
internal sealed record DistributedShard(int Rank, int Size, bool Pad)
{
    public DistributedShard Validate()
    {
        if (Size < 1 || Rank < 0 || Rank >= Size) throw new ArgumentException($"rank {Rank} of a world of {Size}");
        return this;
    }

    /// <summary>This rank's samples of an epoch of `total`.</summary>
    public int Count(int total) => Pad ? (total + Size - 1) / Size : Math.Max(0, (total - Rank + Size - 1) / Size);

    public int[] Select(int[] order)
    {
        int total = order.Length, count = Count(total);
        var mine = new int[count];
        for (int k = 0; k < count; k++)
        {
            // positions past the end are padding: the order's head again (cyclically when the set is tiny)
            long position = Rank + (long)k * Size;
            mine[k] = order[(int)(position % total)];
        }
        return mine;
    }
}
