using AdaBits.Config;
using AdaBits.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Training;

/// <summary>Builds the model a config's `model` key names, shaped for the data set's images and classes.</summary>
internal static class ModelFactory
{
    public static readonly string[] Names =
        ["models.q_resnet_cifar", "models.q_mnist_cnn", "models.q_mobilenet_v1", "models.q_mobilenet_v2"];

    public static nn.Module<Tensor, Tensor> Create(TrainConfig config, int inChannels, int numClasses)
    {
        var options = config.Quant;
        return config.Model switch
        {
            "models.q_resnet_cifar" => new QResNetCifar(options,
                config.Depth ?? throw new ArgumentException($"{config.SourcePath}: model models.q_resnet_cifar needs the key 'depth' (20, 56 or 110)"),
                numClasses, inChannels, config.ResetParameters, config.Init),
            "models.q_mnist_cnn" => new QMnistCnn(options, numClasses, inChannels, config.ResetParameters, config.Init),
            // the reference's V1 reads pact_fp only; V2 reads pact_fp and double_side
            "models.q_mobilenet_v1" => new QMobileNetV1(options, numClasses, inChannels, config.WidthMult,
                config.WidthDivisor, config.MinWidth, config.PactFp, config.ResetParameters, config.Init),
            "models.q_mobilenet_v2" => new QMobileNetV2(options, numClasses, inChannels, config.WidthMult,
                config.WidthDivisor, config.MinWidth, config.PactFp, config.DoubleSide, config.ResetParameters, config.Init),
            _ => throw new ArgumentException($"{config.SourcePath}: model '{config.Model}' is not one of {string.Join(", ", Names)}"),
        };
    }

    /// <summary>The class count a state dict of one of these models was built with: the rows of its last
    /// linear layer, classifier.0 in every model here; null when the state dict has no such 2-d weight.</summary>
    public static int? ClassesOf(IReadOnlyDictionary<string, Tensor> state) =>
        state.TryGetValue(ClassifierWeight, out var w) && w.dim() == 2 ? (int)w.shape[0] : null;

    const string ClassifierWeight = "classifier.0.weight";
}
