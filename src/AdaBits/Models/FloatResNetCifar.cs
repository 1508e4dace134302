using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Models;

/// <summary>
/// The same CIFAR ResNet built from plain torch modules (Conv2d, BatchNorm2d, Linear): the fp32 baseline
/// that quantization overhead is measured against.
/// </summary>
internal sealed class FloatResNetCifar : nn.Module<Tensor, Tensor>
{
    readonly Sequential head;
    readonly List<(Sequential Body, Sequential? Shortcut)> blocks = [];
    readonly Linear classifier;

    public FloatResNetCifar(int depth = 20, int numClasses = 10, int inChannels = 3) : base(nameof(FloatResNetCifar))
    {
        int n = QResNetCifar.BlocksPerStage(depth);
        head = nn.Sequential(nn.Conv2d(inChannels, 16, 3, 1, 1, bias: false), nn.BatchNorm2d(16), nn.ReLU(inplace: true));
        register_module("head", head);
        long channels = 16;
        long[] features = [16, 32, 64];
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < n; i++)
            {
                long stride = i == 0 && j != 0 ? 2 : 1, outC = features[j];
                var body = nn.Sequential(nn.Conv2d(channels, outC, 3, stride, 1, bias: false), nn.BatchNorm2d(outC), nn.ReLU(inplace: true),
                    nn.Conv2d(outC, outC, 3, 1, 1, bias: false), nn.BatchNorm2d(outC));
                register_module($"stage_{j}_layer_{i}_body", body);
                Sequential? shortcut = null;
                if (stride != 1 || channels != outC)
                {
                    shortcut = nn.Sequential(nn.Conv2d(channels, outC, 1, stride, 0, bias: false), nn.BatchNorm2d(outC));
                    register_module($"stage_{j}_layer_{i}_shortcut", shortcut);
                }
                blocks.Add((body, shortcut));
                channels = outC;
            }
        classifier = nn.Linear(channels, numClasses);
        register_module("classifier", classifier);
        Initialization.ResetParameters(this);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = head.call(x);
        foreach (var (body, shortcut) in blocks)
        {
            var residual = shortcut is null ? y : shortcut.call(y);
            y = nn.functional.relu(body.call(y).add_(residual), inplace: true);
        }
        y = nn.functional.adaptive_avg_pool2d(y, 1).flatten(1);
        return classifier.call(y).MoveToOuterDisposeScope();
    }
}
