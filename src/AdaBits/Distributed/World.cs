using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Distributed;

/// <summary>What the environment says about the process's launcher (mpirun, or a PMIx launcher such as srun --mpi=pmix).</summary>
internal sealed record Launcher(string Name, int? Size, int? Rank, int? LocalSize)
{
    public static readonly Launcher None = new("none", 1, 0, 1);

    /// <summary>True when MPI has to be started: a launcher that gave more than one rank, or a PMIx one whose size only MPI knows.</summary>
    public bool NeedsMpi => Name != "none" && Size is not 1;

    /// <summary>
    /// mpirun (Open MPI) sets OMPI_COMM_WORLD_SIZE/RANK/LOCAL_SIZE in every rank; a PMIx launcher sets PMIX_RANK
    /// (srun --mpi=pmix also SLURM_NTASKS and SLURM_NTASKS_PER_NODE). Nothing of these: no launcher.
    /// </summary>
    public static Launcher Detect(Func<string, string?> env)
    {
        static int? Int(string? v) => int.TryParse(v, out int n) ? n : null;
        // SLURM_NTASKS_PER_NODE may read "2" or "2(x3)"
        static int? Leading(string? v) => v is null ? null : Int(new string(v.TakeWhile(char.IsDigit).ToArray()));
        if (Int(env("OMPI_COMM_WORLD_SIZE")) is int size)
            return new("mpirun", size, Int(env("OMPI_COMM_WORLD_RANK")), Int(env("OMPI_COMM_WORLD_LOCAL_SIZE")));
        if (env("PMIX_RANK") is not null)
            return new("pmix", Int(env("SLURM_NTASKS")), Int(env("PMIX_RANK")),
                Leading(env("SLURM_NTASKS_PER_NODE")) ?? Leading(env("SLURM_STEP_TASKS_PER_NODE")));
        return None;
    }
}

/// <summary>
/// The ranks of one data-parallel job (MPI_COMM_WORLD). A process not started by a launcher is a world of one
/// and never loads MPI, so everything works where Open MPI is not installed. MPI can be initialised only once
/// per process, hence <see cref="Process"/>: the one world of this process, started on first use and
/// finalised at exit. Collectives run on the calling thread (the training thread); MPI is asked for
/// MPI_THREAD_SERIALIZED because the exit handler may finalise from another thread.
/// </summary>
internal sealed unsafe class World
{
    public int Rank { get; }
    public int Size { get; }
    /// <summary>Ranks on this machine (for the default thread count).</summary>
    public int LocalSize { get; }
    public string LauncherName { get; }
    public bool IsRoot => Rank == 0;
    public bool IsDistributed => Size > 1;

    /// <summary>Largest element count handed to one MPI call (counts are C ints; 2^28 floats is 1 GiB).</summary>
    internal const int MaxChunk = 1 << 28;

    World(int rank, int size, int localSize, string launcher)
    {
        Rank = rank;
        Size = size;
        LocalSize = Math.Max(1, localSize);
        LauncherName = launcher;
    }

    public static readonly World One = new(0, 1, 1, "none");

    static readonly Lock gate = new();
    static World? process;

    /// <summary>This process's world: started (MPI_Init_thread) on first use when a launcher started the process.</summary>
    public static World Process
    {
        get
        {
            lock (gate) return process ??= Start(Launcher.Detect(Environment.GetEnvironmentVariable));
        }
    }

    /// <summary>True once this process has joined a world of more than one rank.</summary>
    public static bool Joined
    {
        get { lock (gate) return process is { IsDistributed: true }; }
    }

    static World Start(Launcher launcher)
    {
        if (!launcher.NeedsMpi) return One;
        MpiNative.Load();
        if (!MpiNative.Initialized()) MpiNative.InitThread(MpiNative.ThreadSerialized);
        int rank = MpiNative.CommRank(MpiNative.CommWorld), size = MpiNative.CommSize(MpiNative.CommWorld);
        int local = Launcher.Detect(Environment.GetEnvironmentVariable).LocalSize ?? launcher.LocalSize ?? 1;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            if (!MpiNative.Finalized()) MpiNative.FinalizeMpi();
        };
        return new World(rank, size, local, launcher.Name);
    }

    /// <summary>
    /// The unhandled-error path of a rank: MPI_Abort takes every rank of the job down at once (instead of
    /// leaving them blocked in the next collective). Does nothing in a world of one.
    /// </summary>
    public static void AbortIfJoined(int code)
    {
        if (!Joined) return;
        Console.Out.Flush();
        Console.Error.Flush();
        MpiNative.Abort(MpiNative.CommWorld, code);
    }

    /// <summary>
    /// Threads for this rank's tensor work: OMP_NUM_THREADS when set; else, when the launcher bound the rank to
    /// fewer cores than the machine has, those; else the machine's cores over the ranks on this machine.
    /// </summary>
    public int DefaultThreads()
    {
        int usable = Environment.ProcessorCount;
        int machine = MachineCores() ?? usable;
        return usable < machine ? usable : Math.Max(1, machine / LocalSize);
    }

    static int? MachineCores()
    {
        try
        {
            int n = File.ReadLines("/proc/cpuinfo").Count(l => l.StartsWith("processor", StringComparison.Ordinal));
            return n > 0 ? n : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>Sets this rank's thread count (see <see cref="DefaultThreads"/>); returns it, or null when OMP_NUM_THREADS decides.</summary>
    public int? ApplyThreadCount()
    {
        if (!IsDistributed || int.TryParse(Environment.GetEnvironmentVariable("OMP_NUM_THREADS"), out _)) return null;
        int n = DefaultThreads();
        torch.set_num_threads(n);
        return n;
    }

    static nint TypeOf(ScalarType t) => t switch
    {
        ScalarType.Float32 => MpiNative.Float,
        ScalarType.Float64 => MpiNative.Double,
        ScalarType.Int64 => MpiNative.Int64,
        _ => throw new ArgumentException($"MPI reductions here take float32, float64 or int64 tensors, not {t}"),
    };

    static Span<byte> MemoryOf(Tensor t, string what)
    {
        if (t.device_type != DeviceType.CPU || !t.is_contiguous())
            throw new ArgumentException($"{what}: MPI works on contiguous CPU tensors (got {t.device_type}, contiguous {t.is_contiguous()})");
        return t.bytes;
    }

    /// <summary>Rank `root`'s tensor, written in place into every rank's tensor of the same shape and type.</summary>
    public void Broadcast(Tensor t, int root = 0)
    {
        if (!IsDistributed) return;
        if (t.device_type != DeviceType.CPU)
        {
            using var host = t.detach().cpu().contiguous();
            Broadcast(host, root);
            using (no_grad()) t.copy_(host);
            return;
        }
        Broadcast(MemoryOf(t, "broadcast"), root);
    }

    public void Broadcast(Span<byte> data, int root = 0)
    {
        if (!IsDistributed) return;
        fixed (byte* p = data)
            for (long at = 0; at < data.Length; at += MaxChunk)
                MpiNative.Bcast(p + at, (int)Math.Min(MaxChunk, data.Length - at), MpiNative.Byte, root, MpiNative.CommWorld);
    }

    /// <summary>Rank 0's bytes on every rank (other ranks pass anything; the length travels first).</summary>
    public byte[] Broadcast(byte[]? rootData)
    {
        if (!IsDistributed) return rootData ?? [];
        long[] length = [IsRoot ? rootData!.LongLength : 0];
        Broadcast(MemoryMarshal.AsBytes(length.AsSpan()));
        var data = IsRoot ? rootData! : new byte[length[0]];
        Broadcast(data.AsSpan());
        return data;
    }

    /// <summary>In place: every rank's tensor becomes the element-wise sum over ranks (MPI_IN_PLACE, no copy).</summary>
    public void AllReduceSum(Tensor t)
    {
        if (!IsDistributed) return;
        var type = TypeOf(t.dtype);
        var bytes = MemoryOf(t, "all-reduce");
        int size = (int)t.ElementSize;
        fixed (byte* p = bytes)
            AllReduce(p, bytes.Length / size, size, type);
    }

    public void AllReduceSum(Span<double> values)
    {
        if (!IsDistributed) return;
        fixed (double* p = values) AllReduce(p, values.Length, sizeof(double), MpiNative.Double);
    }

    public void AllReduceSum(Span<long> values)
    {
        if (!IsDistributed) return;
        fixed (long* p = values) AllReduce(p, values.Length, sizeof(long), MpiNative.Int64);
    }

    static void AllReduce(void* p, long count, int elementSize, nint type)
    {
        for (long at = 0; at < count; at += MaxChunk)
            MpiNative.AllReduceInPlace((byte*)p + at * elementSize, (int)Math.Min(MaxChunk, count - at), type, MpiNative.OpSum, MpiNative.CommWorld);
    }

    public void Barrier()
    {
        if (IsDistributed) MpiNative.Barrier(MpiNative.CommWorld);
    }
}
