using AdaBits.Kernels;
using AdaBits.Graph;
using AdaBits.Modules;
using AdaBits.Quantization;
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
        Options = options;
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
        Tensor y;
        if (!Options.Fused || FusionSuppression.Active || !TensorMemory.IsFusable(x))
        {
            y = head.call(x);
            foreach (var b in blocks) y = b.call(y);
        }
        else
        {
            // Each ReLU (the head's, then every block's last) runs together with the input PACT of the next
            // block's convs, and in inference with the batch norms and the add before it (ResidualSum); the
            // result is the same as calling the modules in turn.
            var sum = new ResidualSum(head[0].call(x), (SwitchableBatchNorm2d)head[1], null, null);
            var relu = (ReLU)head[2];
            foreach (var b in blocks)
            {
                var (input, quantized) = sum.ReluThenQuantize(relu, b.InputReaders);
                sum = b.ForwardBeforeBatchNorm(input, quantized);
                relu = b.PostRelu;
            }
            y = sum.ReluThenQuantize(relu, []).Y;
        }
        y = avgpool.call(y).flatten(1);
        return classifier.call(y).MoveToOuterDisposeScope();
    }

    QuantOptions Options { get; }

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

    // Views into body, as properties: TorchSharp registers every Module-typed *field* of a submodule under the
    // field's name (RegisterComponents), which duplicated body's layers as conv1.*, bn1.*, ... in state_dict
    // and named_modules().
    QConv2d conv1 => (QConv2d)body[0];
    SwitchableBatchNorm2d bn1 => (SwitchableBatchNorm2d)body[1];
    ReLU relu => (ReLU)body[2];
    QConv2d conv2 => (QConv2d)body[3];
    SwitchableBatchNorm2d bn2 => (SwitchableBatchNorm2d)body[4];

    internal ReLU PostRelu => post_relu;

    /// <summary>The layers that quantize this block's input: the first conv, then the shortcut's conv.</summary>
    internal IReadOnlyList<QConv2d> InputReaders => shortcut is null ? [conv1] : [conv1, (QConv2d)shortcut[0]];

    /// <summary>conv2's output from conv1's, skipping the middle ReLU where conv2's PACT clip already applies it.</summary>
    Tensor BodyBeforeBatchNorm(Tensor conv1Output)
    {
        var y = conv1Output;
        // a conv at 0 bits returns (an alias of) its input, which must not be written in place
        if (conv1.EffectiveBits().Bitw != 0 && !conv2.SamePadding && conv2.TryQuantizeAfterBatchNormInPlace(y, bn1, conv2.DoubleSide))
            return conv2.ForwardOnQuantizedInput(y);
        y = bn1.call(y);
        if (!conv2.ClipsInputAtZero(conv2.DoubleSide)) y = relu.call(y);
        return conv2.call(y);
    }

    /// <summary>
    /// The block up to its batch norms: conv2's output, and the shortcut conv's output or x. quantized: the
    /// InputReaders' PACT of x, already applied (ResidualSum), or null to let each conv quantize x itself.
    /// </summary>
    internal ResidualSum ForwardBeforeBatchNorm(Tensor x, Tensor[]? quantized)
    {
        var shortcutConv = shortcut is null ? null : (QConv2d)shortcut[0];
        var r = shortcutConv is null ? x : quantized is null ? shortcutConv.call(x) : shortcutConv.ForwardOnQuantizedInput(quantized[1]);
        var z = BodyBeforeBatchNorm(quantized is null ? conv1.call(x) : conv1.ForwardOnQuantizedInput(quantized[0]));
        return new ResidualSum(z, bn2, r, shortcut is null ? null : (SwitchableBatchNorm2d)shortcut[1]);
    }

    /// <summary>post_relu(body(x) + shortcut(x)), the shortcut a conv-BN projection or x itself.</summary>
    public Value Lower(GraphBuilder graph, Value input)
    {
        var residual = shortcut is null ? input : graph.Lower(shortcut, input);
        var sum = graph.Add($"{graph.NameOf(this)}.add", graph.Lower(body, input), residual);
        return graph.Lower(post_relu, sum);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var residual = shortcut is null ? x : shortcut.call(x);
        var sum = bn2.call(BodyBeforeBatchNorm(conv1.call(x))).add_(residual);
        return post_relu.call(sum).MoveToOuterDisposeScope();
    }
}
