using System.Buffers.Binary;
using System.Text;

namespace AdaBits.Tests.Fuzz;

/// <summary>
/// Seeded mutations of a valid input, the kinds that find parser bugs: bit flips, bytes and 32-bit words set
/// to boundary values (both byte orders: headers are big-endian in IDX, little-endian in zip and pickle),
/// deleted, inserted and duplicated ranges, truncation, and for text the tokens its grammar reacts to.
/// </summary>
internal sealed class Mutator(int seed, IReadOnlyList<string>? tokens = null)
{
    readonly Random rng = new(seed);

    static readonly byte[] InterestingBytes = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x2e, 0x28];
    static readonly uint[] InterestingWords = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xffff, 0x10000, 1u << 24, 60000, 3073];

    public byte[] Mutate(byte[] input)
    {
        var b = new List<byte>(input);
        int edits = 1 + rng.Next(rng.Next(2) == 0 ? 2 : 8);
        for (int e = 0; e < edits; e++)
        {
            int at = b.Count == 0 ? 0 : rng.Next(b.Count);
            switch (rng.Next(tokens is null ? 8 : 10))
            {
                case 0 when b.Count > 0: b[at] ^= (byte)(1 << rng.Next(8)); break;
                case 1 when b.Count > 0: b[at] = InterestingBytes[rng.Next(InterestingBytes.Length)]; break;
                case 2 when b.Count >= 4:
                {
                    at = Math.Min(at, b.Count - 4);
                    Span<byte> w = stackalloc byte[4];
                    uint v = rng.Next(4) == 0 ? (uint)rng.Next() : InterestingWords[rng.Next(InterestingWords.Length)];
                    if (rng.Next(2) == 0) BinaryPrimitives.WriteUInt32BigEndian(w, v); else BinaryPrimitives.WriteUInt32LittleEndian(w, v);
                    for (int i = 0; i < 4; i++) b[at + i] = w[i];
                    break;
                }
                case 3 when b.Count > 0: b.RemoveRange(at, Math.Min(b.Count - at, 1 + rng.Next(16))); break;
                case 4:
                {
                    var bytes = new byte[1 + rng.Next(8)];
                    rng.NextBytes(bytes);
                    b.InsertRange(at, bytes);
                    break;
                }
                case 5 when b.Count > 0:
                {
                    int len = Math.Min(b.Count - at, 1 + rng.Next(64));
                    b.InsertRange(rng.Next(b.Count), b.GetRange(at, len));
                    break;
                }
                case 6 when b.Count > 0: b.RemoveRange(at, b.Count - at); break;
                case 7 when b.Count > 0: b[at] = (byte)rng.Next(256); break;
                case 8 or 9: b.InsertRange(at, Encoding.UTF8.GetBytes(tokens![rng.Next(tokens.Count)])); break;
            }
        }
        return b.ToArray();
    }
}
