using AdaBits.Graph;
using AdaBits.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Models;

/// <summary>
/// The reference's CIFAR ResNet (models.q_resnet_cifar, §4.1): depth 20/56/110, head and classifier
/// weights at max(bits_list) bits, the image entering unquantized. Keys: head.*, stage_{j}_layer_{i}.*,
/// classifier.0.*.
/// </summary>
public sealed class QResNetCifar : nn.Module<Tensor, Tensor>, ILowerable
{
    static readonly long[] Features = [16, 32, 64];

    readonly Sequential head;
    readonly List<QBasicBlock> blocks = [];
    readonly AdaptiveAvgPool2d avgpool;
    readonly Sequential classifier;

    public static int BlocksPerStage(int depth) => depth switch
    {
        20 => 3,
        56 => 9,
        110 => 18,
        _ => throw new ArgumentException($"depth {depth} is not one of 20, 56, 110"),
    };

    public QResNetCifar(QuantOptions options, int depth = 20, int numClasses = 10, int inChannels = 3,
        bool resetParameters = true, InitScheme init = InitSchemes.Default) : base(nameof(QResNetCifar))
    {
        int n = BlocksPerStage(depth);
        bool affine = !options.StatsSharing;
        int maxBits = options.MaxWeightBits;
        head = nn.Sequential(
            ("0", new QConv2d(options, inChannels, Features[0], 3, 1, 1, bias: false, bitwMin: maxBits, bitaMin: 8, weightOnly: true)),
            ("1", new SwitchableBatchNorm2d(options, Features[0], affine)),
            ("2", nn.ReLU(inplace: true)));
        register_module("head", head);
        long channels = Features[0];
        for (int j = 0; j < Features.Length; j++)
            for (int i = 0; i < n; i++)
            {
                long stride = i == 0 && j != 0 ? 2 : 1;
                var block = new QBasicBlock(options, channels, Features[j], stride, affine);
                blocks.Add(block);
                register_module($"stage_{j}_layer_{i}", block);
                channels = Features[j];
            }
        avgpool = nn.AdaptiveAvgPool2d(1);
        register_module("avgpool", avgpool);
        classifier = nn.Sequential(("0", new QLinear(options, channels, numClasses, bias: true, bitwMin: maxBits)));
        register_module("classifier", classifier);
        if (resetParameters) Initialization.Apply(this, init);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = ConvUnits.Forward([new ChainLink(ConvUnits.Of(head).ToList()), .. blocks.Select(b => b.Link)], x);
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

/// <summary>Basic residual block: conv-BN-ReLU-conv-BN plus identity or projection shortcut, then ReLU.</summary>
internal sealed class QBasicBlock : nn.Module<Tensor, Tensor>, ILowerable
{
    readonly Sequential body;
    readonly Sequential? shortcut;
    readonly ReLU post_relu;

    public QBasicBlock(QuantOptions options, long inChannels, long outChannels, long stride, bool affine) : base(nameof(QBasicBlock))
    {
        body = nn.Sequential(
            ("0", new QConv2d(options, inChannels, outChannels, 3, stride, 1, bias: false)),
            ("1", new SwitchableBatchNorm2d(options, outChannels, affine)),
            ("2", nn.ReLU(inplace: true)),
            ("3", new QConv2d(options, outChannels, outChannels, 3, 1, 1, bias: false)),
            ("4", new SwitchableBatchNorm2d(options, outChannels, affine)));
        register_module("body", body);
        if (stride != 1 || inChannels != outChannels)
        {
            shortcut = nn.Sequential(
                ("0", new QConv2d(options, inChannels, outChannels, 1, stride, 0, bias: false)),
                ("1", new SwitchableBatchNorm2d(options, outChannels, affine)));
            register_module("shortcut", shortcut);
        }
        post_relu = nn.ReLU(inplace: true);
        register_module("post_relu", post_relu);
    }

    /// <summary>The block for ConvUnits.Forward(links): the body's units, then the shortcut's add and post_relu.</summary>
    internal ChainLink Link => new(ConvUnits.Of(body).ToList(),
        new ResidualJoin(shortcut is null ? null : ConvUnits.Of(shortcut).Single(), post_relu));

    /// <summary>post_relu(body(x) + shortcut(x)), the shortcut a conv-BN projection or x itself.</summary>
    public Value Lower(GraphBuilder graph, Value input)
    {
        var residual = shortcut is null ? input : graph.Lower(shortcut, input);
        var sum = graph.Add($"{graph.NameOf(this)}.add", graph.Lower(body, input), residual);
        return graph.Lower(post_relu, sum);
    }

    public override Tensor forward(Tensor x) => ConvUnits.Forward([Link], x);
}
