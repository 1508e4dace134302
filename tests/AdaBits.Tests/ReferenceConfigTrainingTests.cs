using System.Text.Json;

namespace AdaBits.Tests;

/// <summary>
/// The original project's three configs, unchanged apart from dataset_dir / log_dir / run length, train one
/// epoch on tiny data sets written here in their real on-disk formats and write results.json for their bits.
/// </summary>
[Collection("Console")]
public sealed class ReferenceConfigTrainingTests() : TempFolderTests("adabits-refcfg-")
{
    static string Config(string relative) => "app:" + Path.Combine(Mnist.RepoRoot(), relative);

    static JsonElement Results(string logDir)
    {
        var files = Directory.GetFiles(logDir, "results.json", SearchOption.AllDirectories);
        return JsonDocument.Parse(File.ReadAllText(Assert.Single(files))).RootElement;
    }

    static void AssertBits(JsonElement results, params string[] bits)
    {
        Assert.Equal(bits, results.GetProperty("val").EnumerateObject().Select(p => p.Name).ToArray());
        foreach (var b in bits)
        {
            double top1 = results.GetProperty("val").GetProperty(b).GetProperty("top1").GetDouble();
            Assert.InRange(top1, 0, 1);
        }
    }

    [Fact]
    public void Cifar10_resnet20_config_trains_on_a_cifar_binary_folder()
    {
        string data = Path.Combine(dir, "cifar", "cifar-10-batches-bin");
        Directory.CreateDirectory(data);
        for (int k = 1; k <= 5; k++)
            File.WriteAllBytes(Path.Combine(data, $"data_batch_{k}.bin"), CifarTests.Records(60, 1, i => i % 10, (k - 1) * 60));
        File.WriteAllBytes(Path.Combine(data, "test_batch.bin"), CifarTests.Records(100, 1, i => (i + 3) % 10, 1000));
        string logs = Path.Combine(dir, "cifar-run");
        var (code, _, err) = CliRunner.Run("train", Config("apps/cifar10/q_resnet_uint8_train_val.yml"),
            $"dataset_dir={Path.Combine(dir, "cifar")}", $"log_dir={logs}", "num_epochs=1", "data_loader_workers=1");
        Assert.True(code == 0, err);
        AssertBits(Results(logs), "5", "4", "3");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Imagenet_mobilenet_configs_train_on_an_image_folder(int version)
    {
        string data = Path.Combine(dir, "imagenet");
        foreach (var split in new[] { "train", "val" })
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < (split == "train" ? 3 : 2); i++)
                    ImageFolderTests.WriteImage(Path.Combine(data, split, $"n0000{c}", $"img{i}.{(i % 2 == 0 ? "png" : "jpg")}"), 80 + 8 * i, 72,
                        (x, y) => ((byte)(x * (c + 1) % 256), (byte)(y * 7 % 256), (byte)((x + y + 40 * i) % 256)), jpeg: i % 2 == 1);
        string logs = Path.Combine(dir, $"mbv{version}-run");
        var (code, _, err) = CliRunner.Run("train", Config($"apps/imagenet/q_mobilenetv{version}_uint8_train_val.yml"),
            $"dataset_dir={data}", $"log_dir={logs}", "num_epochs=1", "batch_size=4", "image_size=64", "data_loader_workers=1", "width_mult=0.25");
        Assert.True(code == 0, err);
        AssertBits(Results(logs), "8", "6", "5", "4");
    }
}
