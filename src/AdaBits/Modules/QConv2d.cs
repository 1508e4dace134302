using AdaBits.Graph;
using static TorchSharp.torch;

namespace AdaBits.Modules;

/// <summary>
/// Conv2d with SAT weight quantization and PACT input quantization (reference §2.2-2.6).
/// State-dict keys: weight, bias (if any), alpha.
/// </summary>
public sealed class QConv2d : QuantizedLayer, ILowerable
{
    public long InChannels { get; }
    public long OutChannels { get; }
    public long KernelSize { get; }
    public long Stride { get; }
    public long Padding { get; }
    public long Dilation { get; }
    public long Groups { get; }
    public bool SamePadding { get; }
    public bool DoubleSide { get; }

    public QConv2d(QuantOptions options, long inChannels, long outChannels, long kernelSize, long stride = 1,
        long padding = 0, long dilation = 1, long groups = 1, bool bias = true, bool samePadding = false,
        int? bitwMin = null, int? bitaMin = null, bool pactFp = false, bool doubleSide = false, bool weightOnly = false)
        : base(nameof(QConv2d), options, [outChannels, inChannels / groups, kernelSize, kernelSize], outChannels, bias,
            8f, bitwMin, bitaMin, pactFp, weightOnly)
    {
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"QConv2d: channels ({inChannels}, {outChannels}) must be divisible by groups {groups}");
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Padding = samePadding ? 0 : padding;
        Dilation = dilation;
        Groups = groups;
        SamePadding = samePadding;
        DoubleSide = doubleSide;
    }

    protected override (bool, long) RescaleSetting => (Options.RescaleConv, OutChannels * KernelSize * KernelSize);

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = SamePadding ? PadSame(input) : input;
        if (EffectiveBits().Bitw == 0) return x.alias().MoveToOuterDisposeScope();
        return ForwardOnQuantizedInput(QuantizeInput(x, DoubleSide)).MoveToOuterDisposeScope();
    }

    /// <summary>The convolution on an input that PACT has already been applied to (see TryQuantizeAfterBatchNormInPlace).</summary>
    internal Tensor ForwardOnQuantizedInput(Tensor xq)
    {
        using var scope = NewDisposeScope();
        var (w, _) = TransformedWeight(EffectiveBits().Bitw, applyScale: true);
        return nn.functional.conv2d(xq, w, bias, [Stride, Stride], [Padding, Padding], [Dilation, Dilation], Groups)
            .MoveToOuterDisposeScope();
    }

    /// <summary>TensorFlow-style SAME padding: out = ceil(in / stride), extra on the bottom/right.</summary>
    Tensor PadSame(Tensor x)
    {
        long h = SamePad(x.shape[^2]), w = SamePad(x.shape[^1]);
        return nn.functional.pad(x, [w / 2, w - w / 2, h / 2, h - h / 2]);
    }

    /// <summary>The total SAME padding of one spatial dimension.</summary>
    long SamePad(long size)
    {
        long output = (size + Stride - 1) / Stride;
        return Math.Max((output - 1) * Stride + (KernelSize - 1) * Dilation + 1 - size, 0);
    }

    /// <summary>SAME padding (if set), the input's PACT, the convolution; a 0-bit conv passes its (padded) input on.</summary>
    Value ILowerable.Lower(GraphBuilder graph, Value input)
    {
        string name = graph.NameOf(this);
        var x = input;
        if (SamePadding && (SamePad(x.Height) > 0 || SamePad(x.Width) > 0))
        {
            long h = SamePad(x.Height), w = SamePad(x.Width);
            x = graph.Emit(new PadNode(h / 2, w / 2, h - h / 2, w - w / 2), name, this, [x], [x.Channels, x.Height + h, x.Width + w]);
        }
        var (bitw, bita) = EffectiveBits();
        if (bitw == 0) return x;
        if (x.Shape.Length != 3 || x.Channels != InChannels)
            throw new InvalidOperationException($"{name}: expects [{InChannels}, H, W], got [{string.Join(", ", x.Shape)}]");
        x = LowerInputPact(graph, x, DoubleSide);
        var weight = LayerWeight.Of(this, bitw, scaleWeight: true);
        float[]? b = bias?.detach().contiguous().data<float>().ToArray();
        long Out(long size) => (size + 2 * Padding - Dilation * (KernelSize - 1) - 1) / Stride + 1;
        return graph.Emit(new ConvNode(weight, b, KernelSize, Stride, Padding, Dilation, Groups, bitw, bita, alpha.numel(), input),
            name, this, [x], [OutChannels, Out(x.Height), Out(x.Width)]);
    }
}
