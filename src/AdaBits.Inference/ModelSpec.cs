namespace AdaBits.Inference;

/// <summary>
/// The plain description of an eval-mode AdaBits model from which an artifact is written (and which the
/// engine loads). Tensors are numbered: tensor 0 is the input image (N, C, H, W float, exactly what the
/// model's forward receives); each layer reads <see cref="LayerSpec.Input"/> and writes
/// <see cref="LayerSpec.Output"/> (the float value the fake-quant model computes there); layers are in
/// execution order and the last layer's output is the logits. Everything that depends on the bit-width is
/// an array indexed by the slot of <see cref="BitsList"/> (the model's bits_list order).
/// </summary>
public sealed class ModelSpec
{
    public required int[] BitsList { get; init; }
    public required int InputChannels { get; init; }
    public required int InputHeight { get; init; }
    public required int InputWidth { get; init; }
    public required IReadOnlyList<LayerSpec> Layers { get; init; }
}

public enum LayerOp
{
    /// <summary>QConv2d (any groups, so depthwise too) with its folded BN, optional residual add, then ReLU.</summary>
    Conv2d = 0,
    /// <summary>QLinear on a flattened (N, C) tensor.</summary>
    Linear = 1,
    /// <summary>AdaptiveAvgPool2d(1) + flatten: (N, C, H, W) -> (N, C).</summary>
    GlobalAvgPool = 2,
}

/// <summary>
/// The PACT quantizer applied to a conv/linear input (spec §2.4): per slot |alpha| and the effective
/// activation bits (after bita_min), the scheme (act_quant_scheme) and double_side.
/// </summary>
public sealed record ActivationSpec(QuantScheme Scheme, bool DoubleSided, float[] Alpha, int[] Bits);

/// <summary>
/// One layer. For Conv2d/Linear: y = (W_b * x_q + Bias / BiasDivisor[b]) * BnScale[b][c] + BnShift[b][c],
/// then + Residual (a float tensor), then ReLU if <see cref="Relu"/>. W_b = SatScale[b] * Wq_b with
/// Wq_b = 2 q_k(x) - 1 at WeightBits[b] (after bitw_min), given as level indices k (0..2^bits-1).
/// x_q = PACT(x) by <see cref="InputQuant"/>, or x itself when InputQuant is null (weight_only layers).
/// </summary>
public sealed class LayerSpec
{
    public required LayerOp Op { get; init; }
    public string Name { get; init; } = "";
    public required int Input { get; init; }
    public required int Output { get; init; }
    /// <summary>A tensor added to the layer's (BN) output before the ReLU; -1 for none.</summary>
    public int Residual { get; init; } = -1;
    public bool Relu { get; init; }

    public int InChannels { get; init; }
    public int OutChannels { get; init; }
    public int KernelH { get; init; } = 1;
    public int KernelW { get; init; } = 1;
    public int StrideH { get; init; } = 1;
    public int StrideW { get; init; } = 1;
    public int PadH { get; init; }
    public int PadW { get; init; }
    public int Groups { get; init; } = 1;

    public QuantScheme WeightScheme { get; init; } = QuantScheme.Modified;
    /// <summary>Effective weight bits per slot (1..8).</summary>
    public int[] WeightBits { get; init; } = [];
    /// <summary>
    /// Weight level indices in PyTorch order (O, I/groups, KH, KW), keyed by weight bits. Nested schemes
    /// need only the top bits (the others are read from it); `original` needs every distinct bits used.
    /// </summary>
    public IReadOnlyDictionary<int, byte[]> WeightLevels { get; init; } = new Dictionary<int, byte[]>();
    /// <summary>Per slot: the factor on Wq (conv: the SAT rescale s, or 1; eval QLinear: 1).</summary>
    public float[] SatScale { get; init; } = [];
    /// <summary>Per slot, per output channel: the active BN copy folded (gamma/sqrt(var+eps)); null: none.</summary>
    public float[][]? BnScale { get; init; }
    /// <summary>Per slot, per output channel: beta - mean * BnScale; null: none.</summary>
    public float[][]? BnShift { get; init; }
    public float[]? Bias { get; init; }
    /// <summary>Per slot: eval QLinear divides its bias by its SAT scale s (the eval logit scale); null: 1.</summary>
    public float[]? BiasDivisor { get; init; }
    public ActivationSpec? InputQuant { get; init; }

    internal int WeightCount => OutChannels * (InChannels / Groups) * KernelH * KernelW;
    internal bool IsDepthwise => Groups > 1 && Groups == InChannels && Groups == OutChannels;
}
