using System.Runtime.Intrinsics.X86;

namespace AdaBits.Inference;

/// <summary>The integer kernel families; a set of them is allowed through <see cref="EngineOptions.Paths"/>.</summary>
[Flags]
public enum KernelPath
{
    None = 0,
    /// <summary>Plain C# loops: the reference every other path is tested against; runs anywhere.</summary>
    Scalar = 1,
    /// <summary>256-bit vpmaddubsw (u8 x s8 -> s16 pairs) widened at once; 8-bit pairs split the weights into nibbles.</summary>
    Avx2 = 2,
    /// <summary>256-bit vpdpbusd (u8 x s8 -> s32, four at a time): exact for every bit-width.</summary>
    AvxVnni = 4,
    /// <summary>512-bit vpmaddubsw widened at every step (nibble-split weights where pairs could saturate).</summary>
    Avx512Pair = 8,
    /// <summary>512-bit vpmaddubsw summed in 16-bit lanes for as many steps as cannot overflow, then widened.</summary>
    Avx512Acc16 = 16,
    /// <summary>512-bit table lookup over weight bit planes (<see cref="LutKernels"/>): weights of at most 8 levels.</summary>
    Lut = 32,
    All = Scalar | Avx2 | AvxVnni | Avx512Pair | Avx512Acc16 | Lut,
}

/// <summary>Engine options; immutable. Threads: worker count including the caller (default: all cores).</summary>
public sealed record EngineOptions
{
    public KernelPath Paths { get; init; } = KernelPath.All;
    public int Threads { get; init; } = Environment.ProcessorCount;
    /// <summary>Layers with fewer multiply-adds than this run on the calling thread (waking workers costs more).</summary>
    public long ParallelThresholdMacs { get; init; } = 1 << 18;
    /// <summary>Runs of fewer multiply-adds than this go on the calling thread alone when the workers have parked
    /// (an idle gap before the run); see <see cref="InferenceSession"/>. 0: never alone.</summary>
    public long ColdAloneMacs { get; init; } = 100_000_000;
    /// <summary>Benchmarks only: the engine as it was before the fused epilogue, the 16-channel tiles and the
    /// 512-bit float head (the same results; kept to measure the change side by side).</summary>
    internal bool Baseline { get; init; }
    /// <summary>Choose each dense layer's kernel path per bit-width by timing the allowed SIMD paths, the table
    /// lookup included where it is exact, at load (results are the same whichever is chosen: every path is
    /// bit-exact with the scalar one). The rates differ by CPU: on Zen 5 the 16-bit path beat VNNI at 4 bits, on an
    /// Intel Xeon VNNI beat it. False: <see cref="KernelChoice"/>'s fixed order (Zen 5's rates), for tests that pin a path.</summary>
    public bool TuneAtLoad { get; init; } = true;
    /// <summary>Images per pass through the layers; 0: as many as keep the widest layer's tensors in L2 (tests force passes).</summary>
    internal int ImagesPerPass { get; init; }
    /// <summary>Tests only: every tensor in a buffer of its own, for the whole batch, so that intermediate
    /// tensors can be read after a run (by default tensors share a pass's buffers once dead).</summary>
    internal bool KeepTensors { get; init; }
    /// <summary>Batches of at least one image per thread run as whole images per thread (each on buffers of its
    /// own, no barrier between layers) rather than each layer split over the threads; false: always split
    /// (tests of the split, and benchmarks comparing the two).</summary>
    internal bool ImageParallel { get; init; } = true;
    /// <summary>The tick source (Stopwatch ticks) behind the decision to run alone and to wake the workers for a
    /// burst; tests pass a clock they move, so that the decision does not hang on how the OS schedules them.</summary>
    internal Func<long> Clock { get; init; } = System.Diagnostics.Stopwatch.GetTimestamp;
}

/// <summary>What this CPU (as .NET reports it) can run, and which path a layer gets at given bits.</summary>
internal static class KernelChoice
{
    public static KernelPath Supported()
    {
        var s = KernelPath.Scalar;
        if (Avx2.IsSupported) s |= KernelPath.Avx2;
        if (AvxVnni.IsSupported) s |= KernelPath.AvxVnni;
        if (Avx512BW.IsSupported) s |= KernelPath.Avx512Pair | KernelPath.Avx512Acc16 | KernelPath.Lut;
        return s;
    }

    /// <summary>Largest |u8 x s8 pair| sum of vpmaddubsw for these operands.</summary>
    public static int PairMax(int weightBits, int activationBits) => 2 * ((1 << activationBits) - 1) * (1 << (weightBits - 1));

    /// <summary>Steps a 16-bit lane can sum before widening (0: a single pair can saturate).</summary>
    public static int Acc16Steps(int pairMax) => 32767 / pairMax;

    /// <summary>
    /// Dense convolutions: 16-bit accumulation where at least four steps fit (6 bits and fewer), else VNNI,
    /// else the 512-bit then 256-bit pair paths, else scalar. Rates measured on Zen 5 (platform notes):
    /// pair + 16-bit add 368 G/s, VNNI ymm 237 G/s, so the order is by rate.
    /// </summary>
    public static KernelPath Dense(int weightBits, int activationBits, KernelPath allowed)
    {
        var ok = allowed & Supported();
        if (ok.HasFlag(KernelPath.Avx512Acc16) && Acc16Steps(PairMax(weightBits, activationBits)) >= 4) return KernelPath.Avx512Acc16;
        foreach (var p in new[] { KernelPath.AvxVnni, KernelPath.Avx512Pair, KernelPath.Avx512Acc16, KernelPath.Avx2, KernelPath.Scalar })
            if (ok.HasFlag(p)) return p;
        throw new InvalidOperationException($"none of the allowed kernel paths ({allowed}) runs on this CPU (supported: {Supported()})");
    }

    /// <summary>
    /// Whether a dense layer takes the table lookup: where it is allowed and exact (planes, activation bits,
    /// groups of 32), on layers of at least 128 output channels with at most 2 weight planes: a pixel's
    /// tables then serve 4 or more groups, and one lookup per plane does 4x a vpmaddubsw's work. Where the
    /// 16-bit path is not allowed, the lookup is taken wherever it is exact (forcing it, as the tests do).
    /// </summary>
    public static bool UseLut(int planes, int activationBits, int group, int outChannels, KernelPath allowed)
    {
        if (!LutAllowed(planes, activationBits, group, allowed)) return false;
        return !(allowed & Supported()).HasFlag(KernelPath.Avx512Acc16) || planes <= 2 && outChannels >= 128;
    }

    /// <summary>Whether the table lookup is allowed, runs here and is exact for these operands.</summary>
    public static bool LutAllowed(int planes, int activationBits, int group, KernelPath allowed) =>
        (allowed & Supported()).HasFlag(KernelPath.Lut) && LutKernels.Fits(planes, activationBits, group);

    /// <summary>The SIMD dense paths that are allowed and run here (every one is exact at every bit-width).</summary>
    public static KernelPath[] DenseCandidates(KernelPath allowed)
    {
        var ok = allowed & Supported();
        return new[] { KernelPath.Avx512Acc16, KernelPath.AvxVnni, KernelPath.Avx512Pair, KernelPath.Avx2 }.Where(p => ok.HasFlag(p)).ToArray();
    }

    /// <summary>
    /// Depthwise convolutions: 512-bit integer lanes where a 512-bit path is allowed, else 256-bit (either
    /// 16-bit where the taps cannot overflow, else 32-bit), else scalar. Path Avx512Pair stands for the 512-bit lanes.
    /// </summary>
    public static KernelPath Depthwise(KernelPath allowed)
    {
        var ok = allowed & Supported();
        if ((ok & (KernelPath.Avx512Pair | KernelPath.Avx512Acc16)) != 0) return KernelPath.Avx512Pair;
        if ((ok & (KernelPath.Avx2 | KernelPath.AvxVnni)) != 0) return KernelPath.Avx2;
        if (ok.HasFlag(KernelPath.Scalar)) return KernelPath.Scalar;
        throw new InvalidOperationException($"none of the allowed kernel paths ({allowed}) runs on this CPU (supported: {Supported()})");
    }
}
