using AdaBits.Config;
using AdaBits.Data;

namespace AdaBits.Training;

/// <summary>The data sets and transforms a config names, fetched when a downloadable set is missing.</summary>
internal static class DataSources
{
    public const int Val50kHeldOut = 50_000;

    /// <summary>(train or null when not needed, val), each cut to train_limit / val_limit.
    /// MNIST/FashionMNIST and CIFAR10/100 are held in memory; imagenet1k, imagenet1k_val50k and CINIC10 are image
    /// folders decoded while loading.</summary>
    public static (IImageSource? Train, IImageSource Val) Load(TrainConfig config, Action<string> log, bool needTrain)
    {
        string name = config.Dataset;
        string key = Key(name);
        string dir = config.DatasetDir;
        IImageSource? train;
        IImageSource val;
        if (MnistFamily.IsMnistFamily(name))
        {
            if (!MnistFamily.HasFiles(name, dir))
            {
                string fetchName = MnistFamily.FetchName(name);
                log($"{name} not found in '{dir}': fetching it ({fetchName})");
                DatasetFetcher.Fetch(fetchName, dir, log);
            }
            (train, val) = MnistFamily.Load(name, dir);
        }
        else if (CifarBinary.IsCifar(name))
            (train, val) = CifarBinary.Load(name, dir);
        else if (IsImageFolder(name))
        {
            var policy = config.BadImages == "skip" ? BadImagePolicy.Skip : BadImagePolicy.Fail;
            int size = FolderImageSize(config);
            bool cinic = key == "cinic10";
            val = ImageFolderSource.Open(Path.Combine(dir, cinic ? "valid" : "val"), size, size, policy, log);
            train = null;
            if (needTrain)
            {
                var t = ImageFolderSource.Open(Path.Combine(dir, "train"), size, size, policy, log);
                if (key == "imagenet1kval50k")
                {
                    // reference: random.seed(random_seed); random.shuffle(samples); samples = samples[50000:]
                    var order = Enumerable.Range(0, t.Count).ToList();
                    new PythonRandom(config.RandomSeed).Shuffle(order);
                    t = t.Subset(order.Skip(Val50kHeldOut));
                }
                train = t;
            }
        }
        else
            throw Unsupported(config);
        if (config.ValLimit is int v) val = val.Take(v);
        if (!needTrain) return (null, val);
        if (config.TrainLimit is int l) train = train!.Take(l);
        log($"{name}: {train!.Count} training and {val.Count} validation images of {train.Channels}x{train.Height}x{train.Width}");
        return (train, val);
    }

    /// <summary>True for the data sets read from class folders: imagenet1k, imagenet1k_val50k, CINIC10.</summary>
    public static bool IsImageFolder(string dataset) => Key(dataset) is "imagenet1k" or "imagenet1kval50k" or "cinic10";

    /// <summary>The side of the square samples an image-folder set delivers: CINIC10's images are used at their
    /// size (image_size, default 32), ImageNet's are cropped to the training transform's size.</summary>
    public static int FolderImageSize(TrainConfig config) =>
        Key(config.Dataset) == "cinic10" ? config.ImageSize ?? 32 : Transform(config, training: true).Size;

    public static ArgumentException Unsupported(TrainConfig config) => new(
        $"{config.SourcePath}: dataset '{config.Dataset}' is not supported (supported: MNIST, FashionMNIST, CIFAR10, CIFAR100, CINIC10, imagenet1k, imagenet1k_val50k)");

    static string Key(string dataset) => dataset.Replace("-", "").Replace("_", "").ToLowerInvariant();

    public static TransformSpec Transform(TrainConfig config, bool training)
    {
        var spec = TransformSpec.ForName(config.DataTransforms, config.Dataset, config.Normalize, config.CropPadding, config.HorizontalFlip,
            config.ImageSize);
        return training ? spec : spec.ForValidation();
    }
}
