using AdaBits.Graph;
using AdaBits.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Models;

/// <summary>
/// The reference's MobileNet V2 (models.q_mobilenet_v2, §4.3): head conv 3x3 stride 2 with weights at
/// max(current, 8) bits on the unquantized image, 17 inverted-residual blocks (linear bottlenecks,
/// identity residual where stride 1 and channels match), a 1x1 tail conv to 1280 channels, global
/// average pooling and a linear classifier with weights at max(current, 8) bits. Plain ReLU (not ReLU6),
/// no dropout. double_side goes to the expand convs, the tail conv and the depthwise conv of expansion-1
/// blocks; pact_fp to every conv but the head and to the classifier. Every channel count (head, block
/// outputs, tail) goes through <see cref="Widths.RoundWidth"/>; hidden widths are input x expansion.
/// Keys: head.{0,1}.*, stage_{idx}_layer_{i}.body.*, tail.{0,1}.*, classifier.0.*.
/// </summary>
public sealed class QMobileNetV2 : nn.Module<Tensor, Tensor>, ILowerable
{
    /// <summary>(expansion, channels, blocks, stride of the first block) per stage, before the width multiplier.</summary>
    public static readonly (int Expansion, int Channels, int Blocks, int Stride)[] BlockSetting =
    [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ];
    public const int HeadChannels = 32;
    public const int TailChannels = 1280;
    const int EdgeBits = 8;

    readonly Sequential head;
    readonly List<QInvertedResidual> blocks = [];
    readonly Sequential tail;
    readonly AdaptiveAvgPool2d avgpool;
    readonly Sequential classifier;

    /// <summary>Channels after the head, after each block, and after the tail (width multiplier applied).</summary>
    public IReadOnlyList<long> Channels { get; }

    public QMobileNetV2(QuantOptions options, int numClasses = 1000, int inChannels = 3, double widthMult = 1.0,
        int widthDivisor = 1, int minWidth = 1, bool pactFp = false, bool doubleSide = false, bool resetParameters = true, InitScheme init = InitSchemes.Default)
        : base(nameof(QMobileNetV2))
    {
        bool affine = !options.StatsSharing;
        int Width(int c) => Widths.RoundWidth(c, widthMult, widthDivisor, minWidth);
        long channels = Width(HeadChannels);
        var widths = new List<long> { channels };
        head = nn.Sequential(
            ("0", new QConv2d(options, inChannels, channels, 3, 2, 1, bias: false, bitwMin: EdgeBits, bitaMin: EdgeBits, weightOnly: true)),
            ("1", new SwitchableBatchNorm2d(options, channels, affine)),
            ("2", nn.ReLU(inplace: true)));
        register_module("head", head);
        for (int idx = 0; idx < BlockSetting.Length; idx++)
        {
            var (t, c, n, s) = BlockSetting[idx];
            long outp = Width(c);
            for (int i = 0; i < n; i++)
            {
                var block = new QInvertedResidual(options, channels, outp, i == 0 ? s : 1, t, affine, pactFp, doubleSide);
                blocks.Add(block);
                register_module($"stage_{idx}_layer_{i}", block);
                channels = outp;
                widths.Add(channels);
            }
        }
        long tailChannels = Width(TailChannels);
        tail = nn.Sequential(
            ("0", new QConv2d(options, channels, tailChannels, 1, 1, 0, bias: false, pactFp: pactFp, doubleSide: doubleSide)),
            ("1", new SwitchableBatchNorm2d(options, tailChannels, affine)),
            ("2", nn.ReLU(inplace: true)));
        register_module("tail", tail);
        widths.Add(tailChannels);
        Channels = widths;
        avgpool = nn.AdaptiveAvgPool2d(1);
        register_module("avgpool", avgpool);
        classifier = nn.Sequential(("0", new QLinear(options, tailChannels, numClasses, bias: true, bitwMin: EdgeBits, pactFp: pactFp)));
        register_module("classifier", classifier);
        if (resetParameters) Initialization.Apply(this, init);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = head.call(x);
        foreach (var b in blocks) y = b.call(y);
        y = ConvUnits.Forward(ConvUnits.Of(tail).ToList(), y);
        y = avgpool.call(y).flatten(1);
        return classifier.call(y).MoveToOuterDisposeScope();
    }

    /// <summary>The trunk, then global average pooling, flatten and the classifier.</summary>
    Value ILowerable.Lower(GraphBuilder graph, Value input)
    {
        var y = graph.Lower(avgpool, graph.Lower(tail, blocks.Aggregate(graph.Lower(head, input), (v, b) => graph.Lower(b, v))));
        return graph.Lower(classifier, graph.Flatten("flatten", y));
    }
}

/// <summary>
/// MobileNet V2 inverted residual: [expand 1x1 conv -> SBN -> ReLU, when expansion != 1] -> depthwise 3x3
/// conv (stride s) -> SBN -> ReLU -> project 1x1 conv -> SBN (no ReLU); plus the input when stride is 1
/// and the channels match. Keys: body.{0..7}.* (expansion != 1) or body.{0,1,3,4}.* (expansion 1).
/// </summary>
internal sealed class QInvertedResidual : nn.Module<Tensor, Tensor>, ILowerable
{
    readonly Sequential body;

    public bool ResidualConnection { get; }

    public QInvertedResidual(QuantOptions options, long inChannels, long outChannels, long stride, int expandRatio,
        bool affine, bool pactFp, bool doubleSide) : base(nameof(QInvertedResidual))
    {
        if (stride != 1 && stride != 2) throw new ArgumentException($"stride must be 1 or 2, got {stride}");
        ResidualConnection = stride == 1 && inChannels == outChannels;
        long hidden = inChannels * expandRatio;
        var layers = new List<nn.Module<Tensor, Tensor>>();
        if (expandRatio != 1)
        {
            layers.Add(new QConv2d(options, inChannels, hidden, 1, 1, 0, bias: false, pactFp: pactFp, doubleSide: doubleSide));
            layers.Add(new SwitchableBatchNorm2d(options, hidden, affine));
            layers.Add(nn.ReLU(inplace: true));
        }
        layers.Add(new QConv2d(options, hidden, hidden, 3, stride, 1, groups: hidden, bias: false, pactFp: pactFp,
            doubleSide: expandRatio == 1 && doubleSide));
        layers.Add(new SwitchableBatchNorm2d(options, hidden, affine));
        layers.Add(nn.ReLU(inplace: true));
        layers.Add(new QConv2d(options, hidden, outChannels, 1, 1, 0, bias: false, pactFp: pactFp));
        layers.Add(new SwitchableBatchNorm2d(options, outChannels, affine));
        body = nn.Sequential(layers.Select((m, i) => (i.ToString(), m)).ToArray());
        register_module("body", body);
    }

    /// <summary>The block for ConvUnits.Forward(links): the body's units, then the add of x (no ReLU) where it has one.</summary>
    ChainLink Link => new(ConvUnits.Of(body).ToList(), ResidualConnection ? new ResidualJoin(null, null) : null);

    public override Tensor forward(Tensor x) => ConvUnits.Forward([Link], x);

    /// <summary>body(x), plus x where the block has its residual connection.</summary>
    public Value Lower(GraphBuilder graph, Value input)
    {
        var y = graph.Lower(body, input);
        return ResidualConnection ? graph.Add($"{graph.NameOf(this)}.add", y, input) : y;
    }
}
