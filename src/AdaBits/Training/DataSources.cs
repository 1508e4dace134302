using AdaBits.Config;
using AdaBits.Data;

namespace AdaBits.Training;

/// <summary>The data sets and transforms a config names, fetched when a downloadable set is missing.</summary>
public static class DataSources
{
    /// <summary>(train or null when not needed, val), each cut to train_limit / val_limit.</summary>
    public static (ImageDataset? Train, ImageDataset Val) Load(TrainConfig config, Action<string> log, bool needTrain)
    {
        string name = config.Dataset;
        if (!MnistFamily.IsMnistFamily(name))
            throw new ArgumentException($"{config.SourcePath}: dataset '{name}' is not supported here yet (supported: MNIST, FashionMNIST)");
        if (!MnistFamily.HasFiles(name, config.DatasetDir))
        {
            string fetchName = MnistFamily.FetchName(name);
            log($"{name} not found in '{config.DatasetDir}': fetching it ({fetchName})");
            DatasetFetcher.Fetch(fetchName, config.DatasetDir, log);
        }
        var (train, val) = MnistFamily.Load(name, config.DatasetDir);
        if (config.ValLimit is int v) val = val.Take(v);
        if (!needTrain) return (null, val);
        if (config.TrainLimit is int t) train = train.Take(t);
        log($"{name}: {train.Count} training and {val.Count} validation images of {train.Channels}x{train.Height}x{train.Width}");
        return (train, val);
    }

    public static TransformSpec Transform(TrainConfig config, bool training)
    {
        var spec = TransformSpec.ForName(config.DataTransforms, config.Dataset, config.Normalize, config.CropPadding, config.HorizontalFlip);
        return training ? spec : spec.ForValidation();
    }
}
