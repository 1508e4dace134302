namespace AdaBits.Data;

/// <summary>
/// Python's `random` module for what the reference uses: random.seed(int) (MT19937 init_by_array on the
/// 32-bit words of |seed|) and random.shuffle (Fisher-Yates from the end, _randbelow by rejection on getrandbits).
/// </summary>
internal sealed class PythonRandom
{
    readonly uint[] mt = new uint[624];
    int mti;

    public PythonRandom(long seed)
    {
        ulong n = (ulong)Math.Abs(seed);
        var key = new List<uint>();
        do { key.Add((uint)n); n >>= 32; } while (n != 0);
        InitByArray(key.ToArray());
    }

    void InitGenrand(uint s)
    {
        mt[0] = s;
        for (mti = 1; mti < 624; mti++)
            mt[mti] = 1812433253u * (mt[mti - 1] ^ (mt[mti - 1] >> 30)) + (uint)mti;
    }

    void InitByArray(uint[] key)
    {
        InitGenrand(19650218u);
        int i = 1, j = 0;
        for (int k = Math.Max(624, key.Length); k > 0; k--)
        {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint)j;
            i++; j++;
            if (i >= 624) { mt[0] = mt[623]; i = 1; }
            if (j >= key.Length) j = 0;
        }
        for (int k = 623; k > 0; k--)
        {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint)i;
            i++;
            if (i >= 624) { mt[0] = mt[623]; i = 1; }
        }
        mt[0] = 0x80000000u;
        mti = 624;
    }

    public uint NextUInt32()
    {
        if (mti >= 624)
        {
            for (int kk = 0; kk < 624; kk++)
            {
                uint y = (mt[kk] & 0x80000000u) | (mt[(kk + 1) % 624] & 0x7fffffffu);
                mt[kk] = mt[(kk + 397) % 624] ^ (y >> 1) ^ ((y & 1u) != 0 ? 0x9908b0dfu : 0u);
            }
            mti = 0;
        }
        uint z = mt[mti++];
        z ^= z >> 11;
        z ^= (z << 7) & 0x9d2c5680u;
        z ^= (z << 15) & 0xefc60000u;
        z ^= z >> 18;
        return z;
    }

    /// <summary>getrandbits(k) for 1 &lt;= k &lt;= 32.</summary>
    public uint GetRandBits(int k) => NextUInt32() >> (32 - k);

    /// <summary>_randbelow(n) for 1 &lt;= n &lt; 2^31.</summary>
    public int RandBelow(int n)
    {
        int k = 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)n);
        uint r = GetRandBits(k);
        while (r >= (uint)n) r = GetRandBits(k);
        return (int)r;
    }

    /// <summary>random.shuffle(x) in place.</summary>
    public void Shuffle<T>(IList<T> x)
    {
        for (int i = x.Count - 1; i > 0; i--)
        {
            int j = RandBelow(i + 1);
            (x[i], x[j]) = (x[j], x[i]);
        }
    }
}
