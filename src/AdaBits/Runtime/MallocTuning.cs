using System.Runtime.InteropServices;

namespace AdaBits.Runtime;

/// <summary>
/// glibc malloc settings that matter for libtorch on CPU: with the default dynamic mmap threshold,
/// activation-sized buffers are mapped and unmapped every step and page faults dominate (platform notes:
/// an epoch went from 11.3 s to 7.6 s). Call once at start-up, before tensors are made.
/// </summary>
internal static partial class MallocTuning
{
    const int M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_THRESHOLD = -3;

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int Mallopt(int param, int value);

    static bool applied;

    /// <summary>Returns false where glibc's mallopt is not available (other C libraries, other systems).</summary>
    public static bool Apply()
    {
        if (applied) return true;
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            // mallopt takes an int: 2 GiB is the nearest to the measured 4 GiB trim threshold.
            bool ok = Mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
            ok &= Mallopt(M_TRIM_THRESHOLD, int.MaxValue) == 1;
            ok &= Mallopt(M_TOP_PAD, 256 << 20) == 1;
            applied = ok;
            return ok;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }
}
