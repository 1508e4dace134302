using AdaBits.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Models;

/// <summary>
/// The default model for 28x28 data (models.q_mnist_cnn), designed for this project: four 3x3
/// conv-BN-ReLU units (widths 32, 32, 64, 64; the second and fourth with stride 2: 28 -> 14 -> 7), global
/// average pooling and one linear classifier. Like the reference's ImageNet models, the first conv and
/// the classifier keep 8-bit weights (max(current, 8)) and the image enters the first conv unquantized;
/// every other conv runs at the current bit-width with switchable BN and clipping levels. About 7.5 M MACs,
/// so four bit-widths of joint training still run at hundreds of images per second on two cores.
/// Keys: head.{0,1}.*, body.{i}.{0,1}.*, classifier.0.*.
/// </summary>
public sealed class QMnistCnn : nn.Module<Tensor, Tensor>
{
    static readonly (long Width, long Stride)[] Units = [(32, 2), (64, 1), (64, 2)];
    const long HeadWidth = 32;
    const int EdgeBits = 8;

    readonly Sequential head;
    readonly Sequential body;
    readonly AdaptiveAvgPool2d avgpool;
    readonly Sequential classifier;

    public QMnistCnn(QuantOptions options, int numClasses = 10, int inChannels = 1, bool resetParameters = true)
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
        classifier = nn.Sequential(("0", new QLinear(options, channels, numClasses, bias: true, bitwMin: EdgeBits)));
        register_module("classifier", classifier);
        if (resetParameters) Initialization.ResetParameters(this);
    }

    static Sequential ConvBnRelu(QConv2d conv, QuantOptions options, bool affine) => nn.Sequential(
        ("0", conv),
        ("1", new SwitchableBatchNorm2d(options, conv.OutChannels, affine)),
        ("2", nn.ReLU(inplace: true)));

    IEnumerable<Sequential> Chain => body.children().Cast<Sequential>().Prepend(head);

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var units = Chain.ToArray();
        var y = x;
        bool quantized = false;
        for (int i = 0; i < units.Length; i++)
        {
            var conv = (QConv2d)units[i][0];
            var bn = (SwitchableBatchNorm2d)units[i][1];
            y = quantized ? conv.ForwardOnQuantizedInput(y) : conv.call(y);
            var next = i + 1 < units.Length ? (QConv2d)units[i + 1][0] : null;
            // The next conv's PACT contains the ReLU: in eval, BN and PACT fold into one in-place pass,
            // in training the ReLU is skipped (exactly, see QuantizedLayer.ClipsInputAtZero).
            quantized = next is not null && next.TryQuantizeAfterBatchNormInPlace(y, bn, false);
            if (quantized) continue;
            y = bn.call(y);
            if (next is null || !next.ClipsInputAtZero(false)) y = units[i][2].call(y);
        }
        y = avgpool.call(y).flatten(1);
        return classifier.call(y).MoveToOuterDisposeScope();
    }
}
