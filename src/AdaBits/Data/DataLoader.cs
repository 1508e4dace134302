using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Data;

/// <summary>
/// Batches of an <see cref="IImageSource"/> (in memory or decoded from files) as float32 [B, C, H, W] inputs and int64 [B] targets (CPU tensors
/// that the caller disposes). The order of an epoch and every sample's augmentation are a pure function of
/// (seed, epoch, sample index): the same for any worker count and for every call of <see cref="Epoch"/> with
/// the same epoch, which makes resumed runs see exactly the data of uninterrupted ones.
/// With workers > 0, that many background threads assemble batches ahead into a bounded window of
/// `prefetch` batches, delivered in order; leaving the enumeration early stops them.
/// </summary>
internal sealed class DataLoader : IDisposable
{
    readonly IImageSource data;
    readonly TransformSpec transform;
    readonly float[][] lut;   // per channel: pixel value 0..255 -> model input
    readonly CancellationTokenSource disposed = new();
    int liveWorkers;

    /// <summary>Worker threads of this loader now running (for tests: 0 once an enumeration has ended).</summary>
    internal int LiveWorkers => Volatile.Read(ref liveWorkers);

    public int BatchSize { get; }
    public bool Shuffle { get; }
    public bool DropLast { get; }
    public int Workers { get; }
    public int Seed { get; }
    public int Prefetch { get; }
    public IImageSource Data => data;
    public TransformSpec Transform => transform;

    /// <summary>Batches in one epoch: floor(N / B) with dropLast, else ceil(N / B).</summary>
    public int BatchesPerEpoch { get; }

    /// <summary>Samples delivered per epoch.</summary>
    public int SamplesPerEpoch => DropLast ? BatchesPerEpoch * BatchSize : Count;

    /// <summary>This rank's part of every epoch (data-parallel training), or null for all of it.</summary>
    public DistributedShard? Shard { get; }

    /// <summary>Samples of an epoch before dropLast: the data set's, or the shard's share of it.</summary>
    public int Count => Shard?.Count(data.Count) ?? data.Count;

    public DataLoader(IImageSource data, int batchSize, bool shuffle, bool dropLast, TransformSpec transform,
        int workers, int seed, int prefetch = 4, DistributedShard? shard = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(transform);
        if (batchSize <= 0) throw new ArgumentException($"batch size must be positive, got {batchSize}");
        if (workers < 0) throw new ArgumentException($"workers must be >= 0, got {workers}");
        if (prefetch <= 0) throw new ArgumentException($"prefetch must be positive, got {prefetch}");
        if (transform.CropPadding < 0) throw new ArgumentException($"crop padding must be >= 0, got {transform.CropPadding}");
        if (transform.Normalize && (transform.Mean.Length != data.Channels || transform.Std.Length != data.Channels))
            throw new ArgumentException(
                $"the transform normalizes {transform.Mean.Length} channels (std {transform.Std.Length}), the data has {data.Channels}");
        if (transform.Spatial != SpatialTransform.PadCrop && data is ImageDataset)
            throw new ArgumentException($"the {transform.Spatial} transform needs an image folder, not an in-memory data set of {data.Height}x{data.Width} images");
        if (transform.Spatial != SpatialTransform.PadCrop && (transform.Size != data.Height || transform.Size != data.Width))
            throw new ArgumentException($"the transform crops {transform.Size}x{transform.Size}, the source delivers {data.Height}x{data.Width}");
        this.data = data;
        this.transform = transform;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        Workers = workers;
        Seed = seed;
        Prefetch = prefetch;
        Shard = shard?.Validate();
        BatchesPerEpoch = dropLast ? Count / batchSize : (Count + batchSize - 1) / batchSize;
        lut = transform.Lut(data.Channels);
    }

    /// <summary>The sample indices of an epoch in delivery order (all of them, or the shard's, before dropLast).</summary>
    public int[] Order(int epoch)
    {
        var order = Shuffle ? SampleRandom.Permutation(data.Count, Seed, epoch) : Enumerable.Range(0, data.Count).ToArray();
        return Shard is null ? order : Shard.Select(order);
    }

    /// <summary>The augmentation of one sample in one epoch: crop offsets (0..2p, top-left of the window in
    /// the padded image) and whether it is mirrored.</summary>
    public (int Dy, int Dx, bool Flip) Augmentation(int epoch, int sampleIndex) =>
        PadCropAugmentation(transform, SampleRandom.Hash(Seed, epoch, sampleIndex, AugmentStream));

    /// <summary>The stream of <see cref="SampleRandom.Hash"/> that gives a sample's random state.</summary>
    public const ulong AugmentStream = 0x4155474DUL;

    /// <summary>Pad-crop offsets and flip from a sample's random state.</summary>
    public static (int Dy, int Dx, bool Flip) PadCropAugmentation(TransformSpec transform, ulong h)
    {
        int p = transform.CropPadding, dy = p, dx = p;
        if (p > 0)
        {
            dy = SampleRandom.Below(h, 2 * p + 1);
            h = SampleRandom.Mix(h);
            dx = SampleRandom.Below(h, 2 * p + 1);
        }
        bool flip = transform.HorizontalFlip && (SampleRandom.Mix(h ^ 0xF11FUL) >> 63) != 0;
        return (dy, dx, flip);
    }

    /// <summary>
    /// The batches of one epoch, in order, from batch `firstBatch` on (a run resumed inside an epoch skips the
    /// batches it has trained on without building them). Each (Input, Target) pair belongs to the caller.
    /// </summary>
    public IEnumerable<(Tensor Input, Tensor Target)> Epoch(int epoch, int firstBatch = 0)
    {
        ObjectDisposedException.ThrowIf(disposed.IsCancellationRequested, this);
        if (firstBatch < 0) throw new ArgumentOutOfRangeException(nameof(firstBatch), $"first batch must be >= 0, got {firstBatch}");
        return Workers == 0 ? Sequential(epoch, firstBatch) : Parallel(epoch, firstBatch);
    }

    IEnumerable<(Tensor Input, Tensor Target)> Sequential(int epoch, int firstBatch)
    {
        int[] order = Order(epoch);
        for (int b = firstBatch; b < BatchesPerEpoch; b++)
        {
            ObjectDisposedException.ThrowIf(disposed.IsCancellationRequested, this);
            var (x, y) = Build(order, epoch, b);
            // same ownership as batches made on worker threads: never part of the caller's dispose scope
            yield return (x.DetachFromDisposeScope(), y.DetachFromDisposeScope());
        }
    }

    IEnumerable<(Tensor Input, Tensor Target)> Parallel(int epoch, int firstBatch)
    {
        int batches = BatchesPerEpoch;
        if (batches <= firstBatch) yield break;
        int[] order = Order(epoch);
        var results = new TaskCompletionSource<(Tensor, Tensor)>?[batches];
        for (int b = firstBatch; b < batches; b++) results[b] = new TaskCompletionSource<(Tensor, Tensor)>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(disposed.Token);
        using var tickets = new SemaphoreSlim(Prefetch);   // batches built or being built and not yet delivered
        int next = firstBatch - 1;
        var threads = new Thread[Math.Min(Workers, batches - firstBatch)];
        for (int w = 0; w < threads.Length; w++)
        {
            Interlocked.Increment(ref liveWorkers);
            threads[w] = new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        tickets.Wait(stop.Token);
                        int b = Interlocked.Increment(ref next);
                        if (b >= batches)
                        {
                            tickets.Release();   // wake the next idle worker so it can see the end too
                            return;
                        }
                        try { results[b]!.SetResult(Build(order, epoch, b)); }
                        catch (Exception e) { results[b]!.SetException(e); }
                    }
                }
                catch (OperationCanceledException) { }
                finally { Interlocked.Decrement(ref liveWorkers); }
            })
            { IsBackground = true, Name = $"adabits-loader-{w}" };
            threads[w].Start();
        }
        try
        {
            for (int c = firstBatch; c < batches; c++)
            {
                var batch = results[c]!.Task.WaitAsync(stop.Token).GetAwaiter().GetResult();
                results[c] = null;
                tickets.Release();
                yield return batch;
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var t in threads) t.Join();
            // batches built ahead and never delivered (the caller stopped early)
            foreach (var r in results)
                if (r is not null && r.Task.IsCompletedSuccessfully)
                {
                    r.Task.Result.Item1.Dispose();
                    r.Task.Result.Item2.Dispose();
                }
        }
    }

    (Tensor Input, Tensor Target) Build(int[] order, int epoch, int batch)
    {
        int start = batch * BatchSize, n = Math.Min(BatchSize, order.Length - start);
        int C = data.Channels, H = data.Height, W = data.Width, sample = C * H * W;
        var input = empty(new long[] { n, C, H, W }, ScalarType.Float32);
        var target = empty(new long[] { n }, ScalarType.Int64);
        try
        {
            Span<float> dst = MemoryMarshal.Cast<byte, float>(input.bytes);
            Span<long> labels = MemoryMarshal.Cast<byte, long>(target.bytes);
            for (int k = 0; k < n; k++)
            {
                int index = order[start + k];
                labels[k] = data.Write(index, transform, lut, SampleRandom.Hash(Seed, epoch, index, AugmentStream), dst.Slice(k * sample, sample));
            }
            return (input, target);
        }
        catch
        {
            input.Dispose();
            target.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (!disposed.IsCancellationRequested) disposed.Cancel();
    }
}
