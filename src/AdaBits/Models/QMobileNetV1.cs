using AdaBits.Graph;
using AdaBits.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Models;

/// <summary>
/// The reference's MobileNet V1 (models.q_mobilenet_v1, §4.2): head conv 3x3 stride 2 with weights at
/// max(current, 8) bits on the unquantized image, 13 depthwise-separable blocks (no residuals), global
/// average pooling and a linear classifier with weights at max(current, 8) bits. Plain ReLU, no dropout.
/// Every channel count goes through <see cref="Widths.RoundWidth"/> with the width multiplier (at 1.0 the
/// layout is the reference's). The reference reads pact_fp here (not double_side); the head never gets it.
/// Keys: head.{0,1}.*, stage_{idx}_layer_{i}.body.{0,1,3,4}.*, classifier.0.*.
/// </summary>
public sealed class QMobileNetV1 : nn.Module<Tensor, Tensor>, ILowerable
{
    /// <summary>(channels, blocks, stride of the first block) per stage, before the width multiplier.</summary>
    public static readonly (int Channels, int Blocks, int Stride)[] BlockSetting =
        [(64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 2)];
    public const int HeadChannels = 32;
    const int EdgeBits = 8;

    readonly Sequential head;
    readonly List<QDepthwiseSeparableConv> blocks = [];
    readonly AdaptiveAvgPool2d avgpool;
    readonly Sequential classifier;

    /// <summary>Channels after the head and after each block (width multiplier applied).</summary>
    public IReadOnlyList<long> Channels { get; }

    public QMobileNetV1(QuantOptions options, int numClasses = 1000, int inChannels = 3, double widthMult = 1.0,
        int widthDivisor = 1, int minWidth = 1, bool pactFp = false, bool resetParameters = true, InitScheme init = InitSchemes.Default)
        : base(nameof(QMobileNetV1))
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
            var (c, n, s) = BlockSetting[idx];
            long outp = Width(c);
            for (int i = 0; i < n; i++)
            {
                var block = new QDepthwiseSeparableConv(options, channels, outp, i == 0 ? s : 1, affine, pactFp);
                blocks.Add(block);
                register_module($"stage_{idx}_layer_{i}", block);
                channels = outp;
                widths.Add(channels);
            }
        }
        Channels = widths;
        avgpool = nn.AdaptiveAvgPool2d(1);
        register_module("avgpool", avgpool);
        classifier = nn.Sequential(("0", new QLinear(options, channels, numClasses, bias: true, bitwMin: EdgeBits, pactFp: pactFp)));
        register_module("classifier", classifier);
        if (resetParameters) Initialization.Apply(this, init);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // The whole trunk is one branch-free conv-BN-ReLU chain: run it as such, so every ReLU before a
        // single-sided PACT (also across block boundaries) can be folded.
        var units = ConvUnits.Of(head).Concat(blocks.SelectMany(b => b.Units)).ToList();
        var y = ConvUnits.Forward(units, x);
        y = avgpool.call(y).flatten(1);
        return classifier.call(y).MoveToOuterDisposeScope();
    }

    /// <summary>The trunk, then global average pooling, flatten and the classifier.</summary>
    Value ILowerable.Lower(GraphBuilder graph, Value input)
    {
        var y = graph.Lower(avgpool, blocks.Aggregate(graph.Lower(head, input), (v, b) => graph.Lower(b, v)));
        return graph.Lower(classifier, graph.Flatten("flatten", y));
    }
}

/// <summary>
/// MobileNet V1 block: depthwise 3x3 conv (stride s) -> SBN -> ReLU -> pointwise 1x1 conv -> SBN -> ReLU.
/// Keys: body.{0,1,3,4}.*.
/// </summary>
internal sealed class QDepthwiseSeparableConv : nn.Module<Tensor, Tensor>, ILowerable
{
    readonly Sequential body;

    public QDepthwiseSeparableConv(QuantOptions options, long inChannels, long outChannels, long stride, bool affine,
        bool pactFp) : base(nameof(QDepthwiseSeparableConv))
    {
        if (stride != 1 && stride != 2) throw new ArgumentException($"stride must be 1 or 2, got {stride}");
        body = nn.Sequential(
            ("0", new QConv2d(options, inChannels, inChannels, 3, stride, 1, groups: inChannels, bias: false, pactFp: pactFp)),
            ("1", new SwitchableBatchNorm2d(options, inChannels, affine)),
            ("2", nn.ReLU(inplace: true)),
            ("3", new QConv2d(options, inChannels, outChannels, 1, 1, 0, bias: false, pactFp: pactFp)),
            ("4", new SwitchableBatchNorm2d(options, outChannels, affine)),
            ("5", nn.ReLU(inplace: true)));
        register_module("body", body);
    }

    internal IEnumerable<ConvUnit> Units => ConvUnits.Of(body);

    public override Tensor forward(Tensor x) => ConvUnits.Forward(Units.ToList(), x);

    public Value Lower(GraphBuilder graph, Value input) => graph.Lower(body, input);
}
