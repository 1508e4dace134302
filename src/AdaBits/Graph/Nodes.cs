using AdaBits.Quantization;

namespace AdaBits.Graph;

/// <summary>A tensor of the lowered graph: an id unique in its graph and the shape of one sample ([C, H, W] or [F]).</summary>
internal sealed record Value(int Id, long[] Shape)
{
    public long Channels => Shape[0];
    public long Height => Shape.Length > 1 ? Shape[1] : 1;
    public long Width => Shape.Length > 2 ? Shape[2] : 1;
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// One operation of the lowered graph. Name: the state-dict path of the module it came from (several nodes of
/// one module share it, e.g. a conv's PACT and the conv); ModuleType: that module's type name.
/// </summary>
internal abstract record Node
{
    public string Name { get; init; } = "";
    public string ModuleType { get; init; } = "";
    public IReadOnlyList<Value> Inputs { get; init; } = [];
    public Value Output { get; init; } = null!;
    public Value Input => Inputs[0];
}

/// <summary>Constant zero padding of the spatial dimensions (a conv's SAME padding).</summary>
internal sealed record PadNode(long Top, long Left, long Bottom, long Right) : Node;

/// <summary>
/// PACT on a layer's input: clip to [0, Alpha] (or [-Alpha, Alpha] double-sided), then, when Bits &gt; 0, the
/// activation quantizer of Scheme at Bits (Bits 0: the clip alone, pact_fp). Alpha is |alpha| as the forward uses
/// it at this bit-width. Single-sided codes: k = q(x / Alpha) * Divisor, x = Alpha * k / Divisor.
/// </summary>
internal sealed record PactNode(float Alpha, int Bits, bool DoubleSide, QuantScheme Scheme) : Node
{
    public bool Quantizes => Bits > 0;
    /// <summary>The quantizer's divisor a (<see cref="Staircase.Divisor"/>); 0 for a clip alone.</summary>
    public float Divisor => Bits > 0 ? Scheme.Divisor(Bits) : 0;
}

/// <summary>
/// A 2-D convolution (square kernel) on an input PACT has already been applied to (the PactNode before it), with
/// the weight at this bit-width. Bitw/Bita: the layer's effective bits (32 and above: full precision; Bita 32 for
/// weight-only layers). LayerInput: what the module received (before SAME padding and PACT), for counting.
/// </summary>
internal sealed record ConvNode(LayerWeight Weight, float[]? Bias, long KernelSize, long Stride, long Padding, long Dilation,
    long Groups, int Bitw, int Bita, long AlphaEntries, Value LayerInput) : Node
{
    public long OutChannels => Weight.Dims[0];
    public long InChannels => Weight.Dims[1] * Groups;
}

/// <summary>
/// A fully connected layer y = x W^T + b on a PACT-ed input. With `rescale` the eval forward keeps the weight
/// unscaled and Bias is already divided by the SAT factor (LogitScale = s: the logits are the training logits / s).
/// </summary>
internal sealed record LinearNode(LayerWeight Weight, float[]? Bias, double LogitScale, int Bitw, int Bita, long AlphaEntries,
    Value LayerInput) : Node
{
    public long OutFeatures => Weight.Dims[0];
    public long InFeatures => Weight.Dims[1];
}

/// <summary>
/// The active copy of a switchable BN in eval mode: its running statistics and affine parameters (Gamma/Beta null
/// under stats_sharing, where the shared SharedGamma/SharedBeta follow), and the same as y = Scale x + Shift per
/// channel (computed in double, as the fused kernels use it). Name is the SwitchableBatchNorm2d; CopyName the copy.
/// </summary>
internal sealed record BatchNormNode(int CopyIndex, string CopyName, float[] Mean, float[] Variance, double Eps,
    float[]? Gamma, float[]? Beta, float[]? SharedGamma, float[]? SharedBeta, float[] Scale, float[] Shift) : Node
{
    /// <summary>Parameters of the active copy itself (2C when it has an affine, else 0).</summary>
    public long CopyParameters => (Gamma?.Length ?? 0) + (Beta?.Length ?? 0);
}

/// <summary>A per-channel y = Scale x + Shift: a batch norm after folding (GraphPasses.FoldBatchNorm).</summary>
internal sealed record AffineNode(float[] Scale, float[] Shift) : Node;

/// <summary>max(x, 0), or min(max(x, 0), Max) for ReLU6.</summary>
internal sealed record ReluNode(float? Max = null) : Node;

/// <summary>Elementwise sum of two values of one shape (a residual connection).</summary>
internal sealed record AddNode : Node;

/// <summary>Average pooling: global (to [C, 1, 1]) or with a square kernel and stride, no padding.</summary>
internal sealed record AvgPoolNode(bool Global, long KernelSize = 0, long Stride = 0) : Node;

/// <summary>[C, H, W] to [C * H * W].</summary>
internal sealed record FlattenNode : Node;
