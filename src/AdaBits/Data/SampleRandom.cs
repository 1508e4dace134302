namespace AdaBits.Data;

/// <summary>
/// Counter-based randomness for the loader: every value is a pure function of its inputs (SplitMix64),
/// so the order and augmentation of an epoch do not depend on threads, timing or earlier epochs.
/// </summary>
internal static class SampleRandom
{
    /// <summary>The SplitMix64 finaliser of x + golden gamma.</summary>
    public static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>A hash of (seed, epoch, index, stream) with every argument mixed in turn.</summary>
    public static ulong Hash(long seed, long epoch, long index, ulong stream = 0) =>
        Mix(Mix(Mix(Mix((ulong)seed) ^ (ulong)epoch) ^ (ulong)index) ^ stream);

    /// <summary>A uniform integer in [0, n) from 64 random bits (multiply-high; bias below 2^-32 for n < 2^32).</summary>
    public static int Below(ulong bits, int n) => (int)(((UInt128)bits * (ulong)n) >> 64);

    /// <summary>The sample order of one epoch: a Fisher-Yates shuffle driven by SplitMix64 of (seed, epoch).</summary>
    public static int[] Permutation(int count, long seed, long epoch)
    {
        var order = new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        ulong state = Hash(seed, epoch, -1, 0x5348554646UL);
        for (int i = count - 1; i > 0; i--)
        {
            state += 0x9E3779B97F4A7C15UL;
            int j = Below(Mix(state), i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
