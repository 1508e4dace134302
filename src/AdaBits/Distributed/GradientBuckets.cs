using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Distributed;

/// <summary>
/// The parameters' gradients as views into a few flat buffers (buckets, each under <see cref="DefaultCapBytes"/>
/// and far under MPI's 2 GB count limit), averaged over ranks by one in-place all-reduce per bucket: no
/// gathering or copying back, as the reference's allreduce_grads does. Autograd accumulates into an existing
/// .grad in place, and <see cref="Training.Optimizer.ZeroGrad"/> zeroes in place, so the views stay.
///
/// The all-reduce runs after backward, not bucket by bucket during it: TorchSharp 0.107 has no tensor hook, no
/// post-accumulate-grad hook and no module backward hook (only forward hooks and custom autograd functions, which
/// would have to wrap every parameter use inside the modules); the joint step's gradient is final only during the
/// last bit-width's backward, and autograd still writes into .grad (the bucket) after any such function returns,
/// so a bucket in flight would need a copy; Open MPI's non-blocking collectives progress only inside MPI calls,
/// and on CPU its transports copy with the same cores that run backward (README: Distributed training).
/// The time spent is measured in two parts: a barrier just before the all-reduce absorbs the wait for the slowest
/// rank to finish its backward (<see cref="WaitSeconds"/>: load imbalance, not communication), so the all-reduce
/// after it times the transfer itself (<see cref="Seconds"/>).
/// The barrier costs one small message round (microseconds on shared memory); without it the all-reduce would
/// wait just as long, only unseen.
/// </summary>
internal sealed unsafe class GradientBuckets : IDisposable
{
    public const long DefaultCapBytes = 32L << 20;

    readonly World world;
    readonly Parameter[] parameters;
    readonly long capBytes;
    readonly List<Tensor> buckets = [];
    // per parameter: its bucket and element offset, or -1 while it has no gradient
    readonly int[] bucketOf;
    readonly long[] offsetOf;
    readonly Stopwatch clock = new(), waitClock = new();

    public GradientBuckets(World world, IEnumerable<Parameter> parameters, long capBytes = DefaultCapBytes)
    {
        if (capBytes <= 0 || capBytes > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(capBytes), "a bucket holds 1 byte to 2 GB");
        this.world = world;
        this.parameters = parameters.Where(p => p.requires_grad).ToArray();
        this.capBytes = capBytes;
        bucketOf = Enumerable.Repeat(-1, this.parameters.Length).ToArray();
        offsetOf = new long[this.parameters.Length];
    }

    /// <summary>Seconds spent in the all-reduce itself so far, after every rank reached it (the transfer and averaging).</summary>
    public double Seconds => clock.Elapsed.TotalSeconds;
    /// <summary>Seconds spent so far waiting in the barrier before the all-reduce for the slowest rank to be ready.</summary>
    public double WaitSeconds => waitClock.Elapsed.TotalSeconds;
    public int Count => buckets.Count;
    public IReadOnlyList<Tensor> Buckets => buckets;

    /// <summary>
    /// Averages the gradients over ranks, in place. Parameters that got a gradient for the first time (the first
    /// step), or whose gradient was replaced (set to none by someone), are first moved into the buckets.
    /// A parameter that never got a gradient stays without one, so the optimizer skips it as PyTorch does.
    /// </summary>
    public void AllReduceAverage()
    {
        Attach();
        waitClock.Start();
        try { world.Barrier(); }
        finally { waitClock.Stop(); }
        clock.Start();
        try
        {
            foreach (var b in buckets)
            {
                world.AllReduceSum(b);
                if (world.Size > 1) b.div_(world.Size);
            }
        }
        finally { clock.Stop(); }
    }

    /// <summary>True when every parameter with a gradient has it as a view of its place in a bucket.</summary>
    public bool GradientsAreViews()
    {
        for (int i = 0; i < parameters.Length; i++)
        {
            using var g = parameters[i].grad;
            if (g is null) continue;
            if (bucketOf[i] < 0 || Address(g) != Address(buckets[bucketOf[i]]) + offsetOf[i] * g.ElementSize) return false;
        }
        return true;
    }

    static nint Address(Tensor t) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    void Attach()
    {
        bool rebuild = false;
        for (int i = 0; i < parameters.Length && !rebuild; i++)
        {
            using var g = parameters[i].grad;
            if (g is null) continue;
            rebuild = bucketOf[i] < 0 || !g.is_contiguous() || Address(g) != Address(buckets[bucketOf[i]]) + offsetOf[i] * g.ElementSize;
        }
        if (rebuild) Rebuild();
    }

    /// <summary>
    /// Lays out every parameter that has a gradient, in parameter order, grouped by dtype and device, into
    /// buckets of at most capBytes (a larger parameter gets one of its own), copies the gradients in and makes
    /// each .grad the view. Every rank builds the same layout: the models are the same, and so is which
    /// parameters get gradients.
    /// </summary>
    void Rebuild()
    {
        using var _ = no_grad();
        var grads = parameters.Select(p => p.grad).ToArray();
        var old = buckets.ToList();
        buckets.Clear();
        Array.Fill(bucketOf, -1);
        var groups = Enumerable.Range(0, parameters.Length).Where(i => grads[i] is not null)
            .GroupBy(i => (parameters[i].dtype, parameters[i].device.ToString()));
        foreach (var group in groups)
        {
            var members = new List<int>();
            long bytes = 0;
            foreach (int i in group)
            {
                long size = parameters[i].numel() * parameters[i].ElementSize;
                if (members.Count > 0 && bytes + size > capBytes)
                {
                    Allocate(members, grads);
                    members.Clear();
                    bytes = 0;
                }
                members.Add(i);
                bytes += size;
            }
            if (members.Count > 0) Allocate(members, grads);
        }
        foreach (var g in grads) g?.Dispose();
        foreach (var b in old) b.Dispose();
    }

    void Allocate(List<int> members, Tensor?[] grads)
    {
        var first = parameters[members[0]];
        long total = members.Sum(i => parameters[i].numel());
        var bucket = zeros(new[] { total }, first.dtype, first.device).DetachFromDisposeScope();
        int index = buckets.Count;
        buckets.Add(bucket);
        long offset = 0;
        foreach (int i in members)
        {
            var p = parameters[i];
            long n = p.numel();
            var view = bucket.narrow(0, offset, n).view(p.shape);
            view.copy_(grads[i]!);
            p.grad = view;
            view.Dispose();
            bucketOf[i] = index;
            offsetOf[i] = offset;
            offset += n;
        }
    }

    public void Dispose()
    {
        foreach (var b in buckets) b.Dispose();
        buckets.Clear();
    }
}
