using AdaBits.Config;
using AdaBits.Data;
using AdaBits.Training;

namespace AdaBits.Tests;

public sealed class CifarTests() : TempFolderTests("adabits-cifar-test-")
{
    /// <summary>n records; record r has labels (labelBytes of them, the last = the class) and pixels (r * 31 + i) % 256.</summary>
    internal static byte[] Records(int n, int labelBytes, Func<int, int> label, int first = 0)
    {
        int rec = labelBytes + 3072;
        var b = new byte[n * rec];
        for (int r = 0; r < n; r++)
        {
            if (labelBytes == 2) b[r * rec] = (byte)((first + r) % 20);   // coarse label
            b[r * rec + labelBytes - 1] = (byte)label(first + r);
            for (int i = 0; i < 3072; i++) b[r * rec + labelBytes + i] = (byte)(((first + r) * 31 + i) % 256);
        }
        return b;
    }

    string WriteCifar10(bool subfolder, int perBatch = 3, int test = 2)
    {
        string folder = subfolder ? Path.Combine(dir, "cifar-10-batches-bin") : dir;
        Directory.CreateDirectory(folder);
        for (int k = 1; k <= 5; k++)
            File.WriteAllBytes(Path.Combine(folder, $"data_batch_{k}.bin"), Records(perBatch, 1, i => i % 10, (k - 1) * perBatch));
        File.WriteAllBytes(Path.Combine(folder, "test_batch.bin"), Records(test, 1, i => (i + 3) % 10, 1000));
        return folder;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Cifar10ReadsBothLayouts(bool subfolder)
    {
        WriteCifar10(subfolder);
        var (train, val) = CifarBinary.Load("CIFAR10", dir);
        Assert.Equal((15, 2, 10), (train.Count, val.Count, train.NumClasses));
        Assert.Equal((3, 32, 32), (train.Channels, train.Height, train.Width));
        Assert.Equal(Enumerable.Range(0, 15).Select(i => i % 10), train.Labels);
        Assert.Equal(new[] { 1003 % 10, 1004 % 10 }, val.Labels);
        for (int s = 0; s < 15; s += 7)
            Assert.Equal(Enumerable.Range(0, 3072).Select(i => (byte)((s * 31 + i) % 256)), train.Sample(s).ToArray());
        Assert.Equal(Enumerable.Range(0, 3072).Select(i => (byte)((1001 * 31 + i) % 256)), val.Sample(1).ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Cifar100UsesTheFineLabel(bool subfolder)
    {
        string folder = subfolder ? Path.Combine(dir, "cifar-100-binary") : dir;
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "train.bin"), Records(4, 2, i => 97 - i));
        File.WriteAllBytes(Path.Combine(folder, "test.bin"), Records(3, 2, i => 50 + i, 10));
        var (train, val) = CifarBinary.Load("cifar100", dir);
        Assert.Equal(new[] { 97, 96, 95, 94 }, train.Labels);
        Assert.Equal(new[] { 60, 61, 62 }, val.Labels);
        Assert.Equal(100, train.NumClasses);
        Assert.Equal(Enumerable.Range(0, 3072).Select(i => (byte)((2 * 31 + i) % 256)), train.Sample(2).ToArray());
    }

    [Fact]
    public void TruncatedFileIsNamed()
    {
        string folder = WriteCifar10(subfolder: true);
        string bad = Path.Combine(folder, "data_batch_3.bin");
        var bytes = File.ReadAllBytes(bad);
        File.WriteAllBytes(bad, bytes[..^1]);
        var e = Assert.Throws<InvalidDataException>(() => CifarBinary.Load("CIFAR10", dir));
        Assert.Contains(bad, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void LabelOutOfRangeIsNamed()
    {
        WriteCifar10(subfolder: false);
        string bad = Path.Combine(dir, "test_batch.bin");
        File.WriteAllBytes(bad, Records(2, 1, _ => 10));
        var e = Assert.Throws<InvalidDataException>(() => CifarBinary.Load("CIFAR10", dir));
        Assert.Contains(bad, e.Message);
        Assert.Contains("label 10", e.Message);
    }

    [Theory]
    [InlineData("CIFAR10", "data_batch_1.bin", "cifar-10-batches-bin")]
    [InlineData("CIFAR100", "train.bin", "cifar-100-binary")]
    public void MissingFilesSayWhatToPlaceWhere(string dataset, string file, string sub)
    {
        var e = Assert.Throws<FileNotFoundException>(() => CifarBinary.Load(dataset, dir));
        Assert.Contains("not downloadable", e.Message);
        Assert.Contains(file, e.Message);
        Assert.Contains(Path.Combine(dir, sub), e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void DataSourcesLoadsCifarWithItsTransform()
    {
        WriteCifar10(subfolder: true);
        var config = new TrainConfig { Dataset = "CIFAR10", DatasetDir = dir, TrainLimit = 10 };
        var (train, val) = DataSources.Load(config, _ => { }, needTrain: true);
        Assert.Equal((10, 2), (train!.Count, val.Count));
        var spec = DataSources.Transform(config, training: true);
        Assert.Equal((4, true), (spec.CropPadding, spec.HorizontalFlip));
        using var loader = new DataLoader(train, 4, shuffle: true, dropLast: false, spec, workers: 1, seed: 3);
        int n = 0;
        foreach (var (x, y) in loader.Epoch(0))
            using (x)
            using (y)
            {
                Assert.Equal(new long[] { 3, 32, 32 }, x.shape[1..]);
                n += (int)x.shape[0];
            }
        Assert.Equal(10, n);
    }
}
