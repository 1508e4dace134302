namespace AdaBits.Data;

/// <summary>
/// CIFAR-10 and CIFAR-100 from the official binary version (reference §5.3: train = the training split,
/// val = the test split; 3 x 32 x 32, pixels stored as the R, G and B planes, which is C x H x W already).
/// CIFAR-10: records of 1 label byte + 3072 pixel bytes in data_batch_1.bin .. data_batch_5.bin (train, in
/// that order) and test_batch.bin. CIFAR-100: 2 label bytes (coarse, fine; the fine label is used) + 3072
/// pixel bytes in train.bin and test.bin. The files are looked for directly in the folder, then in the
/// sub-folder the official tarball extracts to (cifar-10-batches-bin/, cifar-100-binary/).
/// </summary>
internal static class CifarBinary
{
    public const int ImageBytes = 3 * 32 * 32;

    /// <summary>True for CIFAR10 and CIFAR100 (case, '-' and '_' ignored).</summary>
    public static bool IsCifar(string dataset) => Key(dataset) is "cifar10" or "cifar100";

    public static int NumClasses(string dataset) => Layout(dataset).Classes;

    static (string Sub, string[] Train, string[] Test, int LabelBytes, int Classes, string Tarball) Layout(string dataset) => Key(dataset) switch
    {
        "cifar10" => ("cifar-10-batches-bin", ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"],
            ["test_batch.bin"], 1, 10, "cifar-10-binary.tar.gz"),
        "cifar100" => ("cifar-100-binary", ["train.bin"], ["test.bin"], 2, 100, "cifar-100-binary.tar.gz"),
        _ => throw new ArgumentException($"dataset '{dataset}' is not CIFAR10 or CIFAR100"),
    };

    /// <summary>The folder holding the files: dir itself when it has them all, else dir/&lt;tarball folder&gt;; null when neither.</summary>
    public static string? FindFolder(string dataset, string dir)
    {
        var l = Layout(dataset);
        foreach (string candidate in new[] { dir, Path.Combine(dir, l.Sub) })
            if (l.Train.Concat(l.Test).All(f => File.Exists(Path.Combine(candidate, f))))
                return candidate;
        return null;
    }

    public static (ImageDataset Train, ImageDataset Val) Load(string dataset, string dir)
    {
        var l = Layout(dataset);
        string folder = FindFolder(dataset, dir) ?? throw new FileNotFoundException(
            $"{dataset}: {string.Join(", ", l.Train.Concat(l.Test))} not found in {dir} or {Path.Combine(dir, l.Sub)}; " +
            $"CIFAR is not downloadable here: place the files of the official binary version ({l.Tarball}, extracted) in {Path.Combine(dir, l.Sub)}");
        return (Read(folder, l.Train, l.LabelBytes, l.Classes), Read(folder, l.Test, l.LabelBytes, l.Classes));
    }

    /// <summary>The records of the files, concatenated in order.</summary>
    public static ImageDataset Read(string folder, IReadOnlyList<string> files, int labelBytes, int classes)
    {
        int record = labelBytes + ImageBytes;
        var blobs = new List<(string Path, byte[] Bytes)>();
        long total = 0;
        foreach (string f in files)
        {
            string path = Path.Combine(folder, f);
            byte[] bytes = File.ReadAllBytes(path);
            if (bytes.Length == 0 || bytes.Length % record != 0)
                throw new InvalidDataException(
                    $"{path}: {bytes.Length} bytes is not a whole number of {record}-byte CIFAR records (truncated or not CIFAR binary)");
            blobs.Add((path, bytes));
            total += bytes.Length / record;
        }
        if (total * ImageBytes > Array.MaxLength) throw new InvalidDataException($"{folder}: {total} images do not fit in memory as one array");
        var pixels = new byte[total * ImageBytes];
        var labels = new int[total];
        int n = 0;
        foreach (var (path, bytes) in blobs)
            for (int off = 0; off < bytes.Length; off += record, n++)
            {
                int label = bytes[off + labelBytes - 1];   // CIFAR-100: the second (fine) label byte
                if (label >= classes)
                    throw new InvalidDataException($"{path}: record {off / record} has label {label}, out of range for {classes} classes");
                labels[n] = label;
                Buffer.BlockCopy(bytes, off + labelBytes, pixels, n * ImageBytes, ImageBytes);
            }
        return new ImageDataset(pixels, labels, 3, 32, 32, classes);
    }

    static string Key(string dataset) => (dataset ?? "").Replace("-", "").Replace("_", "").ToLowerInvariant();
}
