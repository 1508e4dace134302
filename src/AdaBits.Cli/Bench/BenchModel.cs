using AdaBits.Checkpoints;
using AdaBits.Config;
using AdaBits.Export;
using AdaBits.Cli.Commands;
using AdaBits.Inference;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Training;
using Google.Protobuf;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Cli.Bench;

/// <summary>
/// One network as every back-end of the benchmarks sees it: the TorchSharp fake-quant model, and from it (through
/// the lowered graph) the engine's description and the ONNX exports, so all back-ends run the same weights.
/// </summary>
internal sealed class BenchModel : IDisposable
{
    /// <summary>bits_list of the random-weight models.</summary>
    public static readonly Bits[] RandomBitsList = [8, 6, 5, 4, 3, 2];

    public required string Name { get; init; }
    public required nn.Module<Tensor, Tensor> Torch { get; init; }
    public required QuantOptions Options { get; init; }
    public required int Channels { get; init; }
    public required int Height { get; init; }
    public required int Width { get; init; }
    public required string Weights { get; init; }

    public IReadOnlyList<Bits> BitsList => Options.BitsList;
    public int PerImage => Channels * Height * Width;

    /// <summary>q_mnist_cnn, resnet20, mobilenet_v1 or mobilenet_v2 with the reference's initialisation (seed 1).</summary>
    public static BenchModel Random(string name)
    {
        var options = new QuantOptions { BitsList = RandomBitsList, SwitchAlpha = true, Rescale = true };
        manual_seed(1);
        (nn.Module<Tensor, Tensor> m, int c, int s) = name switch
        {
            "q_mnist_cnn" => ((nn.Module<Tensor, Tensor>)new QMnistCnn(options), 1, 28),
            "resnet20" => (new QResNetCifar(options, 20), 3, 32),
            "mobilenet_v1" => (new QMobileNetV1(options, 1000, 3), 3, 224),
            "mobilenet_v2" => (new QMobileNetV2(options, 1000, 3), 3, 224),
            _ => throw new UsageException($"unknown model '{name}' (known: {string.Join(", ", EngineBench.ModelNames)})"),
        };
        m.eval();
        return new BenchModel { Name = name, Torch = m, Options = options, Channels = c, Height = s, Width = s, Weights = "random (seed 1)" };
    }

    /// <summary>The config's model with the weights of <paramref name="checkpoint"/> (or its initialisation when null).</summary>
    public static BenchModel FromConfig(TrainConfig config, string? checkpoint)
    {
        if (checkpoint is not null && !File.Exists(checkpoint)) throw new UsageException($"{checkpoint}: no such file");
        var state = checkpoint is null ? null : CheckpointFile.LoadStateDict(checkpoint);
        var (c, h, w, classes) = ExportCommand.InputShape(config, state, "bench");
        manual_seed(config.RandomSeed);
        var m = ModelFactory.Create(config, c, classes);
        if (state is not null) CheckpointFile.LoadInto(m, state, checkpoint!);
        m.eval();
        return new BenchModel
        {
            Name = ShortName(config), Torch = m, Options = config.Quant, Channels = c, Height = h, Width = w,
            Weights = checkpoint ?? $"the config's initialisation (seed {config.RandomSeed})",
        };
    }

    /// <summary>resnet20 for models.q_resnet_cifar at depth 20, mobilenet_v1 for models.q_mobilenet_v1, ...</summary>
    static string ShortName(TrainConfig config) => config.Model switch
    {
        "models.q_resnet_cifar" => $"resnet{config.Depth}",
        var m => m.Replace("models.q_", "").Replace("models.", ""),
    };

    public ModelSpec EngineSpec()
    {
        try
        {
            return EngineExporter.Build(Torch, BitsList, Channels, Height, Width);
        }
        catch (NotSupportedException e)
        {
            throw new UsageException($"{Name}: {e.Message}");
        }
    }

    public byte[] Onnx(Bits bits) => OnnxExporter.Build(Torch, Options, bits, Channels, Height, Width).ToByteArray();

    /// <summary>Pixel-like inputs (0..255, as the models take them when normalize is False), the same for every back-end.</summary>
    public float[] Images(int batch, int seed = 7)
    {
        var rng = new System.Random(seed);
        var x = new float[batch * PerImage];
        for (int i = 0; i < x.Length; i++) x[i] = rng.Next(256);
        return x;
    }

    public void Dispose() => Torch.Dispose();
}
