using AdaBits.Config;
using AdaBits.Data;

namespace AdaBits.Profiling;

/// <summary>The image a config's model sees, without loading the data set: channels and square size.</summary>
internal static class ProfileInput
{
    /// <summary>
    /// image_size when the config sets it, else the data set's (28 for MNIST/FashionMNIST, 32 for CIFAR10,
    /// CIFAR100 and CINIC10, 224 for imagenet1k*); 1 channel for the MNIST family, else 3.
    /// </summary>
    public static (int Channels, int Size) FromConfig(TrainConfig config)
    {
        bool mnist = MnistFamily.IsMnistFamily(config.Dataset);
        int channels = mnist ? 1 : 3;
        if (config.ImageSize is int size) return (channels, size);
        string key = config.Dataset.ToLowerInvariant();
        int? known = mnist ? 28
            : key is "cifar10" or "cifar100" or "cinic10" ? 32
            : key.StartsWith("imagenet1k", StringComparison.Ordinal) ? 224
            : null;
        return (channels, known ?? throw new ArgumentException(
            $"{config.SourcePath}: no image size known for dataset '{config.Dataset}'; set image_size"));
    }
}
