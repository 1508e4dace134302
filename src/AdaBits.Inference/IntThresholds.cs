using System.Runtime.CompilerServices;

namespace AdaBits.Inference;

/// <summary>
/// A 2-bit consumer's codes straight from the integer sums, for one layer, slot and output view: the code of
/// channel c in window class k is the number of j with t2 &gt;= Theta[k][j][c] (t2 the doubled integer sum,
/// flipped bitwise first where the channel's scale is negative).
/// <para>Why it is exact: the float epilogue computes y = float(t2) x MHalf[c] + CstB[k][c] (ReLU), each step
/// correctly rounded and so monotone in t2 (non-decreasing for MHalf &gt; 0, non-increasing for MHalf &lt; 0,
/// constant for 0), and the reference quantizer is monotone in y; so code(y(t2)) &gt;= j holds exactly on one
/// side of an integer threshold, found at load by bisection on that very function. For t2 = ~t (= -t - 1),
/// t &lt;= theta is ~t &gt;= ~theta, which is how a decreasing channel becomes an increasing one.</para>
/// <para>Why only 2 bits: three compares replace the float affine and the quantizer's estimate, two table
/// permutes and two compares; at 3 bits seven compares would not.</para>
/// </summary>
internal sealed unsafe class IntThresholds
{
    public const int Count = 3;

    readonly int[] theta, flip;
    /// <summary>Theta as [row class][column class][j][channel].</summary>
    public readonly int* Theta;
    /// <summary>Per channel 0, or -1 where the scale is negative.</summary>
    public readonly int* Flip;
    public readonly int Channels, ColClasses;

    /// <summary>Ints between neighbouring column classes, and between neighbouring j.</summary>
    public int ClassStride => Count * Channels;

    IntThresholds(int[] theta, int[] flip, int channels, int colClasses)
    {
        this.theta = theta;
        this.flip = flip;
        Theta = (int*)Unsafe.AsPointer(ref theta[0]);
        Flip = (int*)Unsafe.AsPointer(ref flip[0]);
        Channels = channels;
        ColClasses = colClasses;
    }

    /// <summary>Null where the codes need more than three thresholds or t2 could leave the range searched.</summary>
    public static IntThresholds? TryBuild(AffineSlot s, WindowClasses windows, int channels, Requantizer q, bool relu, long taps)
    {
        if (q.Bits != 2) return null;
        // |t2| = |2 sum k w + times sum k| <= taps (2 x 255 x 128 + 2 x 255): beyond 2^30 the search below could overflow
        long bound = taps * (2 * 255 * 128 + 2 * 255);
        if (bound >= 1 << 30) return null;
        int lo = -(int)bound - 1, hi = (int)bound + 1;
        var theta = GC.AllocateArray<int>(windows.Count * Count * channels, pinned: true);
        var flip = GC.AllocateArray<int>(channels, pinned: true);
        for (int c = 0; c < channels; c++)
        {
            float m = s.MHalf[c];
            flip[c] = m < 0 ? -1 : 0;
            for (int k = 0; k < windows.Count; k++)
            {
                float cst = s.CstB[k * channels + c];
                for (int j = 1; j <= Count; j++)
                {
                    // in t = t2 ^ flip: reaches(t) is false then true as t grows over [lo, hi]
                    bool Reaches(int t) => CodeOf(t ^ flip[c], m, cst, relu, q) >= j;
                    int at;
                    if (Reaches(lo)) at = int.MinValue; // every t2: code >= j
                    else if (!Reaches(hi)) at = int.MaxValue; // none (t2 never reaches int.MaxValue)
                    else
                    {
                        int a = lo, b = hi; // Reaches(a) false, Reaches(b) true
                        while (b - a > 1)
                        {
                            int mid = a + (b - a) / 2;
                            if (Reaches(mid)) b = mid; else a = mid;
                        }
                        at = b;
                    }
                    theta[(k * Count + j - 1) * channels + c] = at;
                }
            }
        }
        return new IntThresholds(theta, flip, channels, windows.ColRanges.Count);
    }

    /// <summary>The float epilogue's code for one lane: the same operations in the same order as the vector pass.</summary>
    public static int CodeOf(int t2, float mHalf, float cst, bool relu, Requantizer q)
    {
        float y = (float)t2 * mHalf + cst;
        if (relu && !(y > 0)) y = 0;
        return q.Code(y);
    }

    /// <summary>Threshold j (from 0) in the flipped domain; int.MinValue: always reached, int.MaxValue: never.</summary>
    public int ThetaAt(int windowClass, int j, int channel) => theta[(windowClass * Count + j) * Channels + channel];

    /// <summary>The code by the thresholds (the definition the vector pass uses), for the tests.</summary>
    public int Code(int t2, int windowClass, int channel)
    {
        int t = t2 ^ flip[channel], code = 0;
        for (int j = 0; j < Count; j++) if (t >= ThetaAt(windowClass, j, channel)) code++;
        return code;
    }
}
