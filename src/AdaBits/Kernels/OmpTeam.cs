using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace AdaBits.Kernels;

/// <summary>
/// Runs our kernels' parallel parts on libtorch's own OpenMP team (GOMP_parallel of the libgomp that
/// libtorch loaded), the way a libtorch op's parallel_for does. On 2 cores a thread of ours would
/// time-slice against libtorch's OpenMP worker, which keeps spinning after every op for the next parallel
/// region (measured: about 170 context switches per ResNet-20 inference pass, and the quantized pass 1.3x
/// as long as fp32); handed to that worker, the same work starts at once and nothing competes for the
/// core. Unavailable (Run returns false) where libtorch was built without libgomp.
/// </summary>
internal static unsafe class OmpTeam
{
    static readonly delegate* unmanaged<delegate* unmanaged<nint, void>, nint, uint, uint, void> parallel;
    static readonly delegate* unmanaged<int> threadNum, numThreads;

    static OmpTeam()
    {
        // libtorch is loaded by the time a kernel runs on one of its tensors. The symbols are looked up through
        // libtorch_cpu's handle, which searches its own dependencies: that is the libgomp libtorch calls (its
        // file name carries a hash), never another OpenMP runtime that something else loaded. Whatever goes
        // wrong leaves the .NET pool split in place rather than failing every kernel.
        try
        {
            _ = TorchSharp.torch.get_num_threads();
            // a mapping's path is the rest of its line from the first '/' (it may hold spaces)
            string? path = File.ReadLines("/proc/self/maps").Select(l => l.IndexOf('/') is int i and >= 0 ? l[i..] : "")
                .FirstOrDefault(f => Path.GetFileName(f).StartsWith("libtorch_cpu.", StringComparison.Ordinal));
            if (path is null || !NativeLibrary.TryLoad(path, out var lib)
                || !NativeLibrary.TryGetExport(lib, "GOMP_parallel", out var p)
                || !NativeLibrary.TryGetExport(lib, "omp_get_thread_num", out var t)
                || !NativeLibrary.TryGetExport(lib, "omp_get_num_threads", out var n))
                return;
            threadNum = (delegate* unmanaged<int>)t;
            numThreads = (delegate* unmanaged<int>)n;
            parallel = (delegate* unmanaged<delegate* unmanaged<nint, void>, nint, uint, uint, void>)p;
        }
        catch (Exception) { }
    }

    /// <summary>
    /// Calls body(thread, threads) on each thread of a team of up to `threads` (the caller is thread 0) and
    /// returns when all have finished; false, calling nothing, where no OpenMP runtime was found.
    /// </summary>
    internal static bool Run(int threads, Action<int, int> body)
    {
        if (parallel == null) return false;
        var region = new Region(body);
        var handle = GCHandle.Alloc(region);
        try { parallel(&Enter, GCHandle.ToIntPtr(handle), (uint)threads, 0); }
        finally { handle.Free(); }
        region.Failure?.Throw();
        return true;
    }

    sealed class Region(Action<int, int> body)
    {
        public readonly Action<int, int> Body = body;
        public ExceptionDispatchInfo? Failure;
    }

    // An exception must not unwind through libgomp's frames: the first one is kept and rethrown by Run.
    [UnmanagedCallersOnly]
    static void Enter(nint data)
    {
        Region? region = null;
        try
        {
            region = (Region)GCHandle.FromIntPtr(data).Target!;
            region.Body(threadNum(), numThreads());
        }
        catch (Exception e)
        {
            if (region is not null) Interlocked.CompareExchange(ref region.Failure, ExceptionDispatchInfo.Capture(e), null);
        }
    }
}
