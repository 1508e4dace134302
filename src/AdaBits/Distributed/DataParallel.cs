using System.Diagnostics;
using AdaBits.Config;
using AdaBits.Data;
using AdaBits.Modules;
using AdaBits.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Distributed;

/// <summary>
/// What the trainer does differently on several ranks, kept here so the training loop stays one loop:
/// the per-process batch, the shards, the start-up broadcast from rank 0, the gradient average, the metric
/// reduction and the communication share (the transfer apart from the wait for the slowest rank). In a world of one every call is a no-op (no MPI is loaded).
///
/// Synchronised: parameters, buffers and (on resume) optimizer state and run state at start; gradients every
/// step; metrics every epoch. Not synchronised, as in the reference: BN running statistics (each rank's come
/// from its own batches; rank 0's are saved) and the clock.
/// </summary>
internal sealed class DataParallel : IDisposable
{
    public World World { get; }
    /// <summary>distributed_all_reduce: gradients averaged once after the joint step (the reference's allreduce_grads);
    /// otherwise after every bit-width's backward, as the reference's DistributedDataParallel branch does.</summary>
    public bool OncePerStep { get; }
    GradientBuckets? buckets;
    readonly Stopwatch stepClock = new();
    double commAtEpochStart, waitAtEpochStart, stepAtEpochStart;

    public DataParallel(World world, TrainConfig config, Action<string> log)
    {
        World = world;
        OncePerStep = config.DistributedAllReduce;
        if (!world.IsDistributed)
        {
            if (config.Distributed)
                log("distributed: True, but no MPI launcher started this process: training as a world of one (see README, Distributed training)");
            return;
        }
        if (config.BatchSize % world.Size != 0)
            throw new ArgumentException($"{config.SourcePath}: batch_size {config.BatchSize} is not divisible by the {world.Size} ranks (each rank takes batch_size / ranks)");
        int? threads = world.ApplyThreadCount();
        log($"data-parallel: {world.Size} ranks ({world.LauncherName}, {world.LocalSize} on this machine), batch {config.BatchSize} = {world.Size} x {LocalBatch(config)}, " +
            $"{threads?.ToString() ?? Environment.GetEnvironmentVariable("OMP_NUM_THREADS") + " (OMP_NUM_THREADS)"} thread(s) per rank, gradients averaged " +
            (OncePerStep ? "once per step (distributed_all_reduce)" : "after every bit-width's backward"));
        if (!config.Distributed) log("(distributed: False in the config, but an MPI launcher started this process with several ranks: training data-parallel)");
    }

    /// <summary>The per-process batch: batch_size / world size (the batch-size rule stays on the global batch_size).</summary>
    public int LocalBatch(TrainConfig config) => config.BatchSize / World.Size;

    /// <summary>This rank's shard (train: padded to equal counts; validation: real samples only), or null in a world of one.</summary>
    public DistributedShard? Shard(bool training) => World.IsDistributed ? new DistributedShard(World.Rank, World.Size, Pad: training) : null;

    /// <summary>
    /// Rank 0 decides whether the run resumes and sends its checkpoint file's bytes; each other rank writes them
    /// to a private temporary file. Returns the file to resume from on this rank, or null to start afresh.
    /// </summary>
    public string? ShareCheckpoint(string latest)
    {
        if (!World.IsDistributed) return File.Exists(latest) ? latest : null;
        byte[]? mine = World.IsRoot && File.Exists(latest) ? File.ReadAllBytes(latest) : null;
        long[] has = [mine is null ? 0 : 1];
        World.Broadcast(System.Runtime.InteropServices.MemoryMarshal.AsBytes(has.AsSpan()));
        if (has[0] == 0) return null;
        var bytes = World.Broadcast(mine);
        if (World.IsRoot) return latest;
        string tmp = Path.Combine(Path.GetTempPath(), $"adabits-rank{World.Rank}-{Environment.ProcessId}-{Path.GetFileName(latest)}");
        File.WriteAllBytes(tmp, bytes);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(tmp);
        return tmp;
    }

    /// <summary>Every parameter and buffer (BN statistics included) becomes rank 0's, so all ranks start identical.</summary>
    public void BroadcastModel(nn.Module model) => BroadcastModel(World, model);

    public static void BroadcastModel(World world, nn.Module model)
    {
        if (!world.IsDistributed) return;
        using var _ = no_grad();
        foreach (var (_, t) in model.state_dict()) world.Broadcast(t);
    }

    /// <summary>True on every rank when it is true on any: decisions that end or skip a step must be the same everywhere.</summary>
    public bool AnyRank(bool local)
    {
        if (!World.IsDistributed) return local;
        Span<long> flag = [local ? 1 : 0];
        World.AllReduceSum(flag);
        return flag[0] > 0;
    }

    public void BeginStep()
    {
        if (World.IsDistributed) stepClock.Start();
    }

    public void EndStep() => stepClock.Stop();

    /// <summary>After one bit-width's backward: averages the gradients when this is their moment (see <see cref="OncePerStep"/>).</summary>
    public void AfterBackward(IEnumerable<Parameter> parameters, bool lastOfStep)
    {
        if (!World.IsDistributed || (OncePerStep && !lastOfStep)) return;
        (buckets ??= new GradientBuckets(World, parameters)).AllReduceAverage();
    }

    /// <summary>The epoch's metrics over every rank's samples.</summary>
    public Dictionary<Bits, BitsMetrics> Reduce(Dictionary<Bits, EpochMeter> meters)
    {
        foreach (var m in meters.Values) m.AllReduce(World);
        return meters.ToDictionary(p => p.Key, p => p.Value.Result());
    }

    /// <summary>
    /// The share of this epoch's step time spent in the gradient all-reduce (the transfer, after every rank is ready)
    /// and, apart, waiting for the slowest rank to finish its backward (load imbalance); null in a world of one.
    /// </summary>
    public string? EpochCommLine(int epoch, int epochs)
    {
        if (!World.IsDistributed) return null;
        double comm = (buckets?.Seconds ?? 0) - commAtEpochStart, wait = (buckets?.WaitSeconds ?? 0) - waitAtEpochStart,
            step = stepClock.Elapsed.TotalSeconds - stepAtEpochStart;
        commAtEpochStart += comm;
        waitAtEpochStart += wait;
        stepAtEpochStart += step;
        double s = Math.Max(step, 1e-9);
        return $"communication\t{epoch}/{epochs}: {100 * comm / s:F1}% of step time ({comm:F2} s of {step:F2} s in gradient all-reduce over {World.Size} ranks, " +
            $"{buckets?.Count ?? 0} buckets); waiting for the slowest rank before it: {100 * wait / s:F1}% ({wait:F2} s)";
    }

    public void Dispose() => buckets?.Dispose();
}
