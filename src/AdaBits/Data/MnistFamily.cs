namespace AdaBits.Data;

/// <summary>
/// MNIST and Fashion-MNIST from the four IDX files in one folder (each raw or gzip-compressed, with or
/// without a .gz suffix): train = the 60 000 training images, val = the 10 000 t10k images;
/// 1 channel, 28 x 28, 10 classes.
/// </summary>
internal static class MnistFamily
{
    public const int NumClasses = 10;

    /// <summary>The four file names (without .gz).</summary>
    public static readonly IReadOnlyList<string> FileNames =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>True for MNIST and FashionMNIST (case, '-' and '_' ignored).</summary>
    public static bool IsMnistFamily(string dataset) => Key(dataset) is "mnist" or "fashionmnist";

    /// <summary>The name `adabits data fetch` knows the data set by: mnist or fashion-mnist.</summary>
    public static string FetchName(string dataset) => Key(dataset) switch
    {
        "mnist" => "mnist",
        "fashionmnist" => "fashion-mnist",
        _ => throw new ArgumentException($"dataset '{dataset}' is not MNIST or FashionMNIST"),
    };

    /// <summary>True when all four files are in dir.</summary>
    public static bool HasFiles(string dataset, string dir)
    {
        FetchName(dataset);
        return FileNames.All(n => Find(dir, n) is not null);
    }

    /// <summary>The path of a file in dir: the raw name first, then name.gz; null when neither exists.</summary>
    public static string? Find(string dir, string name)
    {
        string raw = Path.Combine(dir, name), gz = raw + ".gz";
        return File.Exists(raw) ? raw : File.Exists(gz) ? gz : null;
    }

    public static (ImageDataset Train, ImageDataset Val) Load(string dataset, string dir)
    {
        string fetch = FetchName(dataset);
        var missing = FileNames.Where(n => Find(dir, n) is null).ToList();
        if (missing.Count > 0)
            throw new FileNotFoundException(
                $"{dataset}: {string.Join(", ", missing)} (raw or .gz) not found in {dir}; run: ./adabits data fetch {fetch} --dir {dir}");
        var train = IdxReader.ReadPair(Find(dir, FileNames[0])!, Find(dir, FileNames[1])!, NumClasses);
        var val = IdxReader.ReadPair(Find(dir, FileNames[2])!, Find(dir, FileNames[3])!, NumClasses);
        foreach (var (d, file) in new[] { (train, FileNames[0]), (val, FileNames[2]) })
            if (d.Height != 28 || d.Width != 28)
                throw new InvalidDataException($"{Find(dir, file)}: images are {d.Height}x{d.Width}, expected 28x28 for {dataset}");
        return (train, val);
    }

    static string Key(string dataset) => dataset.Replace("-", "").Replace("_", "").ToLowerInvariant();
}
