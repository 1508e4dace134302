using AdaBits.Graph;
using AdaBits.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Models;

/// <summary>
/// The default model for 28x28 data (models.q_mnist_cnn), designed for this project: a 3x3 head conv of
/// 16 channels, four 3x3 conv-BN-ReLU units (32 stride 2, 32, 64 stride 2, 64: 28 -> 14 -> 7), global
/// average pooling and one linear classifier. As in the reference's models, the head keeps 8-bit weights
/// and sees the image unquantized, and the classifier keeps 8-bit weights; here its input activations stay
/// at 8 bits too (at 4 bits the 64 pooled features had 16 levels and cost 4-bit accuracy). Every other
/// conv runs at the current bit-width with switchable BN and clipping levels. About 5.5 M MACs.
/// Keys: head.{0,1}.*, body.{i}.{0,1}.*, classifier.0.*.
/// </summary>
public sealed class QMnistCnn : nn.Module<Tensor, Tensor>, ILowerable
{
    static readonly (long Width, long Stride)[] Units = [(32, 2), (32, 1), (64, 2), (64, 1)];
    const long HeadWidth = 16;
    const int EdgeBits = 8;

    readonly Sequential head;
    readonly Sequential body;
    readonly AdaptiveAvgPool2d avgpool;
    readonly Sequential classifier;

    public QMnistCnn(QuantOptions options, int numClasses = 10, int inChannels = 1, bool resetParameters = true,
        InitScheme init = InitSchemes.Default)
        : base(nameof(QMnistCnn))
    {
        bool affine = !options.StatsSharing;
        head = ConvBnRelu(new QConv2d(options, inChannels, HeadWidth, 3, 1, 1, bias: false, bitwMin: EdgeBits, weightOnly: true), options, affine);
        register_module("head", head);
        var units = new List<(string, nn.Module<Tensor, Tensor>)>();
        long channels = HeadWidth;
        for (int i = 0; i < Units.Length; i++)
        {
            var (width, stride) = Units[i];
            units.Add((i.ToString(), ConvBnRelu(new QConv2d(options, channels, width, 3, stride, 1, bias: false), options, affine)));
            channels = width;
        }
        body = nn.Sequential(units);
        register_module("body", body);
        avgpool = nn.AdaptiveAvgPool2d(1);
        register_module("avgpool", avgpool);
        classifier = nn.Sequential(("0", new QLinear(options, channels, numClasses, bias: true, bitwMin: EdgeBits, bitaMin: EdgeBits)));
        register_module("classifier", classifier);
        if (resetParameters) Initialization.Apply(this, init);
    }

    static Sequential ConvBnRelu(QConv2d conv, QuantOptions options, bool affine) => nn.Sequential(
        ("0", conv),
        ("1", new SwitchableBatchNorm2d(options, conv.OutChannels, affine)),
        ("2", nn.ReLU(inplace: true)));

    /// <summary>The trunk, then global average pooling, flatten and the classifier.</summary>
    Value ILowerable.Lower(GraphBuilder graph, Value input)
    {
        var y = graph.Lower(avgpool, graph.Lower(body, graph.Lower(head, input)));
        return graph.Lower(classifier, graph.Flatten("flatten", y));
    }

    IEnumerable<ConvUnit> Chain => ConvUnits.Of(head).Concat(body.children().Cast<Sequential>().SelectMany(ConvUnits.Of));

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = ConvUnits.Forward(Chain.ToList(), x);
        y = avgpool.call(y).flatten(1);
        return classifier.call(y).MoveToOuterDisposeScope();
    }
}
