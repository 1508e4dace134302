namespace AdaBits.Inference;

/// <summary>A padded NHWC buffer of one tensor's codes under one input quantizer (shared by equal quantizers).</summary>
internal sealed class CodeView
{
    public required ActivationSpec Quant { get; init; }
    public int PadH, PadW;
    public required TensorShape Shape { get; init; }
    /// <summary>Channels rounded up to 4 (one 4-byte step); the extra channels stay code 0.</summary>
    public int Cp => (Shape.C + 3) & ~3;
    public int Hp => Shape.H + 2 * PadH;
    public int Wp => Shape.W + 2 * PadW;
    public long ImageBytes => (long)Hp * Wp * Cp;
    public int Index;
    /// <summary>Per slot: the vectorised quantizer (set once the model's bits_list is known).</summary>
    public Requantizer[] Requant = [];

    public static bool SameQuantizer(ActivationSpec a, ActivationSpec b) =>
        a.Scheme == b.Scheme && a.DoubleSided == b.DoubleSided && a.Alpha.SequenceEqual(b.Alpha) && a.Bits.SequenceEqual(b.Bits);
}

/// <summary>What a tensor is materialised as: its float values (residuals, pooling, float convs, logits) and/or code views.</summary>
internal sealed class TensorPlan
{
    public required int Id { get; init; }
    public required TensorShape Shape { get; init; }
    public bool NeedFloat;
    public readonly List<CodeView> Views = [];
}

/// <summary>Which output pixels see which kernel taps: (first, end) valid tap per row and per column, numbered.</summary>
internal sealed class WindowClasses
{
    public readonly int[] Row, Col;
    public readonly List<(int Lo, int Hi)> RowRanges = [], ColRanges = [];
    public int Count => RowRanges.Count * ColRanges.Count;

    public WindowClasses(LayerSpec l, TensorShape input, TensorShape output)
    {
        Row = Classify(output.H, l.StrideH, l.PadH, l.KernelH, input.H, RowRanges);
        Col = Classify(output.W, l.StrideW, l.PadW, l.KernelW, input.W, ColRanges);
    }

    static int[] Classify(int outSize, int stride, int pad, int kernel, int inSize, List<(int, int)> ranges)
    {
        var cls = new int[outSize];
        for (int o = 0; o < outSize; o++)
        {
            var r = (Math.Max(0, pad - o * stride), Math.Min(kernel, inSize + pad - o * stride));
            int i = ranges.IndexOf(r);
            if (i < 0) { i = ranges.Count; ranges.Add(r); }
            cls[o] = i;
        }
        return cls;
    }

    public int Of(int oh, int ow) => Row[oh] * ColRanges.Count + Col[ow];

    public IEnumerable<(int Class, int Lo, int Hi, int CLo, int CHi)> All()
    {
        for (int r = 0; r < RowRanges.Count; r++)
            for (int c = 0; c < ColRanges.Count; c++)
                yield return (r * ColRanges.Count + c, RowRanges[r].Lo, RowRanges[r].Hi, ColRanges[c].Lo, ColRanges[c].Hi);
    }
}
