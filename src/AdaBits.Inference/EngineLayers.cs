namespace AdaBits.Inference;

/// <summary>A layer ready to run: its tensors, and per slot of bits_list everything that bit-width needs.</summary>
internal abstract class PreparedLayer
{
    public required LayerSpec Spec { get; init; }
    public required TensorPlan In { get; init; }
    public required TensorPlan Out { get; init; }
    public TensorPlan? Residual { get; init; }
    public long MacsPerImage { get; init; }
    /// <summary>Work items per image (rows, or rows x channel groups).</summary>
    public abstract int ItemsPerImage { get; }
    public abstract string PathAt(int slot);
}

/// <summary>Per-slot affine epilogue: y = T2 * MHalf[c] + CstB[class][c], T2 = 2 (sum x w) + (2 offset_w) (window sum).</summary>
internal class AffineSlot
{
    public required float[] MHalf { get; init; }
    public required float[] CstB { get; init; }
    /// <summary>2 x the weight offset (0 or 1): how many window sums T2 takes.</summary>
    public required int WindowSumTimes { get; init; }
    /// <summary>Per view of the output: its codes from the integer sums, or null (<see cref="IntThresholds"/>).</summary>
    public IntThresholds?[] IntCodes { get; set; } = [];
}

internal sealed class DenseSlot : AffineSlot
{
    public required KernelPath Path { get; init; }
    public required int Chunk { get; init; }
    /// <summary>Weight operands, [co][step * 4 + j] (for the scalar path and the tests).</summary>
    public required sbyte[] Operands { get; init; }
    /// <summary>Packed operands, or with nibble split the low nibbles (0..15); null on the scalar path.</summary>
    public sbyte[]? Packed { get; init; }
    /// <summary>With nibble split: the high nibbles (w >> 4, -8..7); w = 16 hi + lo.</summary>
    public sbyte[]? PackedHi { get; init; }
    /// <summary>Table lookup: the weights' bit-plane nibbles (<see cref="LutKernels.Index"/>) of u = w - LutMin.</summary>
    public byte[]? LutIndex { get; init; }
    public int LutPlanes { get; init; }
    /// <summary>Table lookup: window sums T2 takes, WindowSumTimes + 2 LutMin (sum of a x w = sum of a x u + LutMin x sum of a).</summary>
    public int LutTimes { get; init; }
    public int LutByteSteps { get; init; }
    public int LutWordChunks { get; init; }
}

internal sealed class DenseLayer : PreparedLayer
{
    public required CodeView View { get; init; }
    public required int Steps { get; init; }
    public required int[] ActOff { get; init; }
    public required WindowClasses Windows { get; init; }
    public required DenseSlot[] Slots { get; init; }
    /// <summary>Output channels per work item and weight group (32, or 16 for narrow layers).</summary>
    public required int Group { get; init; }
    public int Groups => (Spec.OutChannels + Group - 1) / Group;
    public override int ItemsPerImage => Out.Shape.H * Groups;
    public override string PathAt(int slot) => Slots[slot].Path + (Slots[slot].PackedHi is null ? "" : "+split") +
        (Slots[slot].Path == KernelPath.Avx512Acc16 ? $"(x{Slots[slot].Chunk})" : "") +
        (Group == DenseKernels.NarrowGroup ? "/g16" : "");
}

internal sealed class DepthwiseSlot : AffineSlot
{
    public required KernelPath Path { get; init; }
    public required bool Use16 { get; init; }
    public required sbyte[] W8 { get; init; }
    public int[]? W32 { get; init; }
    public short[]? W16 { get; init; }
    /// <summary>Lanes per tap in W32 and W16 (the channels rounded up to whole 512-bit vectors).</summary>
    public int Stride32 { get; init; }
    public int Stride16 { get; init; }
}

internal sealed class DepthwiseLayer : PreparedLayer
{
    public required CodeView View { get; init; }
    public required int[] TapOff { get; init; }
    public required WindowClasses Windows { get; init; }
    public required DepthwiseSlot[] Slots { get; init; }
    public override int ItemsPerImage => Out.Shape.H;
    public override string PathAt(int slot) => Slots[slot].Path switch
    {
        KernelPath.Scalar => "Scalar",
        KernelPath.Avx512Pair => Slots[slot].Use16 ? "Avx512Int16" : "Avx512Int32",
        _ => Slots[slot].Use16 ? "Avx2Int16" : "Avx2Int32",
    };
}

/// <summary>A conv or linear whose input is not quantized (weight_only heads): float weights Wq x s, float sums.</summary>
internal sealed class FloatConvLayer : PreparedLayer
{
    /// <summary>Channels per vector: 16 where 512-bit vectors exist, else 8.</summary>
    public required int Lanes { get; init; }
    /// <summary>Per slot: weights [co / Lanes][kh][kw][ci][Lanes], and the per-channel BN scale and shift.</summary>
    public required (float[] W, float[] Scale, float[] Shift)[] Slots { get; init; }
    /// <summary>Per (row, column, input channel) of the kernel: its offset in floats from the window origin of an NHWC input.</summary>
    public required int[] TapOffsets { get; init; }
    /// <summary>Width of a row copied with zero columns either side (PadW left), wide enough for every window.</summary>
    public required int PaddedWidth { get; init; }
    /// <summary>As <see cref="TapOffsets"/>, in rows of <see cref="PaddedWidth"/> pixels.</summary>
    public required int[] PaddedTapOffsets { get; init; }
    public override int ItemsPerImage => Out.Shape.H;
    public override string PathAt(int slot) => "Float";
}

internal sealed class PoolLayer : PreparedLayer
{
    public override int ItemsPerImage => 1;
    public override string PathAt(int slot) => "Float";
}
