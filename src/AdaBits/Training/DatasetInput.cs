using AdaBits.Config;
using AdaBits.Data;

namespace AdaBits.Training;

/// <summary>
/// What a config's data set hands the model, from the data set's name and the config alone: export and
/// bench run where a trained checkpoint is, which need not be where its training data is. The numbers are
/// the ones <see cref="DataSources.Load"/> delivers, so a checkpoint trained on the data fits the model
/// built from them.
/// </summary>
internal static class DatasetInput
{
    /// <summary>
    /// (channels, height, width) of a sample and, where the data set fixes it, its class count; null Classes
    /// for the image-folder sets (imagenet1k, imagenet1k_val50k, CINIC10), whose classes are counted from the
    /// folders. Does not look at num_classes: the caller decides what a declared count overrides.
    /// </summary>
    public static (int Channels, int Height, int Width, int? Classes) Of(TrainConfig config)
    {
        string name = config.Dataset;
        if (MnistFamily.IsMnistFamily(name)) return (1, 28, 28, MnistFamily.NumClasses);
        if (CifarBinary.IsCifar(name)) return (3, 32, 32, CifarBinary.NumClasses(name));
        if (DataSources.IsImageFolder(name))
        {
            int size = DataSources.FolderImageSize(config);
            return (ImageFolderSource.ChannelCount, size, size, null);
        }
        throw DataSources.Unsupported(config);
    }
}
