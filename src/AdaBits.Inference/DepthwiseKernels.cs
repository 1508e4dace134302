using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AdaBits.Inference;

/// <summary>
/// Depthwise convolution of output pixels over all channels: acc[c] = sum over taps of x[tap][c] w[tap][c]
/// and (for weight schemes with an offset) the window sum of codes, sum[c] = sum over taps of x[tap][c].
/// The code buffer is NHWC, so a tap is one contiguous run of channels. The SIMD kernels take a strip of
/// pixels (pixelStride bytes apart, acc and sum channels ints apart): called per pixel, the call and its
/// setup cost more than a pixel of 32 channels.
/// </summary>
internal static unsafe class DepthwiseKernels
{
    /// <summary>True where taps x max code x max |w| fits a 16-bit lane (6 bits and fewer with 3x3).</summary>
    public static bool Fits16(int taps, int weightBits, int activationBits) =>
        (long)taps * ((1 << activationBits) - 1) * (1 << (weightBits - 1)) <= short.MaxValue && taps * 255L <= short.MaxValue;

    public static void Scalar(byte* x, int* tapOff, int taps, sbyte* w, int channels, int* acc, int* sum)
    {
        for (int c = 0; c < channels; c++)
        {
            int a = 0, s = 0;
            for (int t = 0; t < taps; t++)
            {
                int v = x[tapOff[t] + c];
                a += v * w[t * channels + c];
                s += v;
            }
            acc[c] = a;
            sum[c] = s;
        }
    }

    /// <summary>32-bit lanes, 8 channels at a time; w32 is [tap][stride &gt;= channels rounded up to 8]; sum null: no window sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2Int32(byte* x, int pixels, int pixelStride, int* tapOff, int taps, int* w32, int stride, int channels, int* acc, int* sum)
    {
        for (int k = 0; k < pixels; k++, x += pixelStride, acc += channels, sum = sum == null ? null : sum + channels)
        {
            for (int c = 0; c < channels; c += 8)
            {
                Vector256<int> a = default, s = default;
                for (int t = 0; t < taps; t++)
                {
                    var v = Avx2.ConvertToVector256Int32(x + tapOff[t] + c);
                    a = Avx2.Add(a, Avx2.MultiplyLow(v, Vector256.Load(w32 + t * stride + c)));
                    if (sum != null) s = Avx2.Add(s, v);
                }
                a.Store(acc + c);
                if (sum != null) s.Store(sum + c);
            }
        }
    }

    /// <summary>16-bit lanes, 16 channels at a time (exact where <see cref="Fits16"/>); w16 is [tap][stride &gt;= channels rounded up to 16].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2Int16(byte* x, int pixels, int pixelStride, int* tapOff, int taps, short* w16, int stride, int channels, int* acc, int* sum)
    {
        for (int k = 0; k < pixels; k++, x += pixelStride, acc += channels, sum = sum == null ? null : sum + channels)
        {
            for (int c = 0; c < channels; c += 16)
            {
                Vector256<short> a = default, s = default;
                for (int t = 0; t < taps; t++)
                {
                    var v = Avx2.ConvertToVector256Int16(x + tapOff[t] + c);
                    a = Avx2.Add(a, Avx2.MultiplyLow(v, Vector256.Load(w16 + t * stride + c)));
                    if (sum != null) s = Avx2.Add(s, v);
                }
                Avx2.ConvertToVector256Int32(a.GetLower()).Store(acc + c);
                Avx2.ConvertToVector256Int32(a.GetUpper()).Store(acc + c + 8);
                if (sum == null) continue;
                Avx2.ConvertToVector256Int32(s.GetLower()).Store(sum + c);
                Avx2.ConvertToVector256Int32(s.GetUpper()).Store(sum + c + 8);
            }
        }
    }

    /// <summary>As <see cref="Avx2Int32"/> with 16 channels per 512-bit vector; stride &gt;= channels rounded up to 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512Int32(byte* x, int pixels, int pixelStride, int* tapOff, int taps, int* w32, int stride, int channels, int* acc, int* sum)
    {
        for (int k = 0; k < pixels; k++, x += pixelStride, acc += channels, sum = sum == null ? null : sum + channels)
        {
            for (int c = 0; c < channels; c += 16)
            {
                Vector512<int> a = default, s = default;
                for (int t = 0; t < taps; t++)
                {
                    var v = Avx512F.ConvertToVector512Int32(Vector128.Load(x + tapOff[t] + c));
                    a += Avx512F.MultiplyLow(v, Vector512.Load(w32 + t * stride + c));
                    if (sum != null) s += v;
                }
                a.Store(acc + c);
                if (sum != null) s.Store(sum + c);
            }
        }
    }

    /// <summary>As <see cref="Avx2Int16"/> with 32 channels per 512-bit vector; stride &gt;= channels rounded up to 32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512Int16(byte* x, int pixels, int pixelStride, int* tapOff, int taps, short* w16, int stride, int channels, int* acc, int* sum)
    {
        for (int k = 0; k < pixels; k++, x += pixelStride, acc += channels, sum = sum == null ? null : sum + channels)
        {
            for (int c = 0; c < channels; c += 32)
            {
                Vector512<short> a = default, s = default;
                for (int t = 0; t < taps; t++)
                {
                    var v = Avx512BW.ConvertToVector512Int16(Vector256.Load(x + tapOff[t] + c));
                    a += Avx512BW.MultiplyLow(v, Vector512.Load(w16 + t * stride + c));
                    if (sum != null) s += v;
                }
                Avx512F.ConvertToVector512Int32(a.GetLower()).Store(acc + c);
                Avx512F.ConvertToVector512Int32(a.GetUpper()).Store(acc + c + 16);
                if (sum == null) continue;
                Avx512F.ConvertToVector512Int32(s.GetLower()).Store(sum + c);
                Avx512F.ConvertToVector512Int32(s.GetUpper()).Store(sum + c + 16);
            }
        }
    }
}
