using TorchSharp;

namespace AdaBits.Kernels;

/// <summary>
/// Splits an elementwise pass over libtorch's threads (OmpTeam; the .NET pool where libtorch has no
/// libgomp). Small tensors stay on the calling thread: below a few hundred KB the hand-off costs more
/// than it saves.
/// </summary>
internal static class ParallelRanges
{
    const long MinPerThread = 1 << 15;
    const int Align = 64;

    /// <summary>As many parts as libtorch's intra-op threads, fewer for small n.</summary>
    internal static int Parts(long n) =>
        (int)Math.Clamp(n / MinPerThread, 1, Math.Max(torch.get_num_threads(), 1));

    internal static (long Start, long End) Range(long n, int parts, int part)
    {
        long per = (n + parts - 1) / parts;
        per = (per + Align - 1) / Align * Align;
        long start = Math.Min(n, per * part);
        return (start, Math.Min(n, start + per));
    }

    /// <summary>
    /// Runs body over [0, n) split in parts; returns the sums of the pairs each part returned, added in part
    /// order whichever thread ran a part, so results depend only on the number of parts (libtorch's thread
    /// count as the calling thread sees it).
    /// </summary>
    internal static (double, double) RunPair(long n, Func<long, long, (double, double)> body)
    {
        int parts = Parts(n);
        if (parts == 1) return body(0, n);
        var partial = new (double, double)[parts];
        void Part(int p)
        {
            var (s, e) = Range(n, parts, p);
            partial[p] = s < e ? body(s, e) : (0, 0);
        }
        if (!OmpTeam.Run(parts, (thread, team) => { for (int p = thread; p < parts; p += team) Part(p); }))
            Parallel.For(0, parts, Part);
        (double, double) total = (0, 0);
        foreach (var (a, b) in partial) total = (total.Item1 + a, total.Item2 + b);
        return total;
    }

    /// <summary>
    /// Runs body(from, to, channel) over the elements of NCHW planes (planes = N C, each planeSize long), split
    /// across the threads at any element, so a part may begin or end inside a plane.
    /// </summary>
    internal static void RunPlanes(long planes, long planeSize, int channels, Action<long, long, int> body) =>
        Run(planes * planeSize, (s, e) =>
        {
            for (long p = s / planeSize; p < planes && p * planeSize < e; p++)
                body(Math.Max(s, p * planeSize), Math.Min(e, (p + 1) * planeSize), (int)(p % channels));
            return 0;
        });

    /// <summary>Runs body over [0, n) split in parts; returns the sum of what each part returned.</summary>
    internal static double Run(long n, Func<long, long, double> body) => RunPair(n, (s, e) => (body(s, e), 0)).Item1;
}
