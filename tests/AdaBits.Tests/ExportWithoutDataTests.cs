using AdaBits.Export;
using AdaBits.Inference;
using AdaBits.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// `adabits export` of a trained checkpoint runs where the data set is not: the input shape comes from the
/// data set's kind and the config, the classes of an image-folder set from num_classes or the checkpoint.
/// </summary>
[Collection("Console")]
public sealed class ExportWithoutDataTests() : TempFolderTests("adabits-export-nodata-")
{
    static string Config(string relative) => "app:" + Path.Combine(Mnist.RepoRoot(), relative);

    /// <summary>The torch eval logits of the checkpoint's model at bits, and ORT's / the engine's on the same images.</summary>
    static float[] TorchLogits(nn.Module<Tensor, Tensor> model, Bits bits, Tensor x)
    {
        model.eval();
        model.SetBits(bits);
        using (no_grad())
        using (var y = model.call(x))
            return y.contiguous().data<float>().ToArray();
    }

    /// <summary>
    /// Per image, max |a - b| within 1e-4 of the logit range, except for up to `flips` images where one activation
    /// sits on a rounding boundary (see OnnxExportTests.ExportAndCompare): those within `flipRange` of the range.
    /// </summary>
    static void AssertClose(float[] expected, float[] actual, int n, int flips, double flipRange, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int classes = expected.Length / n;
        double range = expected.Max() - expected.Min();
        Assert.True(range > 0, what);
        int over = 0;
        for (int i = 0; i < n; i++)
        {
            double d = 0;
            for (int c = 0; c < classes; c++) d = Math.Max(d, Math.Abs((double)expected[i * classes + c] - actual[i * classes + c]));
            if (d <= 1e-4 * range) continue;
            over++;
            Assert.True(d <= flipRange * range, $"{what} image {i}: max |difference| {d:G4}, logits range {range:G4}");
        }
        Assert.True(over <= flips, $"{what}: {over} of {n} images differ by more than 1e-4 x range (allowed {flips})");
    }

    [Fact]
    public void Mobilenet_v2_trained_on_an_image_folder_exports_to_onnx_and_engine_after_the_folder_is_removed()
    {
        string data = Path.Combine(dir, "imagenet");
        foreach (var split in new[] { "train", "val" })
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < (split == "train" ? 3 : 2); i++)
                    ImageFolderTests.WriteImage(Path.Combine(data, split, $"n0000{c}", $"img{i}.png"), 80 + 8 * i, 72,
                        (x, y) => ((byte)(x * (c + 1) % 256), (byte)(y * 7 % 256), (byte)((x + y + 40 * i) % 256)));
        // num_classes=null: the model's classes are the 3 class folders, which export can only learn from the checkpoint
        string[] keys = [$"dataset_dir={data}", "num_classes=null", "image_size=64", "width_mult=0.25", "bits_list=[8, 4]"];
        string cfg = Config("apps/imagenet/q_mobilenetv2_uint8_train_val.yml");
        string logs = Path.Combine(dir, "run");
        var (code, stdout, err) = CliRunner.Run(["train", cfg, .. keys, $"log_dir={logs}", "num_epochs=1", "batch_size=4", "data_loader_workers=1"]);
        Assert.True(code == 0, err);
        string ckpt = Directory.GetFiles(logs, "best_model.pt", SearchOption.AllDirectories).Single();

        Directory.Delete(data, recursive: true);
        string onnxDir = Path.Combine(dir, "onnx"), artifact = Path.Combine(dir, "model.abits");
        (code, stdout, err) = CliRunner.Run(["export", ckpt, cfg, .. keys, "--format", "onnx", "--bits", "all", "--float", "--out", onnxDir]);
        Assert.True(code == 0, err);
        Assert.Equal(["model_4bit.onnx", "model_8bit.onnx", "model_float.onnx"], Directory.GetFiles(onnxDir).Select(f => Path.GetFileName(f)!).Order().ToArray());
        (code, stdout, err) = CliRunner.Run(["export", ckpt, cfg, .. keys, "--format", "engine", "--out", artifact]);
        Assert.True(code == 0, err);
        Assert.False(Directory.Exists(data));

        var config = AdaBits.Config.ConfigLoader.Load([cfg, .. keys], _ => { });
        Assert.Null(config.NumClasses);
        using var model = AdaBits.Training.ModelFactory.Create(config, 3, 3);
        AdaBits.Checkpoints.CheckpointFile.LoadInto(model, AdaBits.Checkpoints.CheckpointFile.LoadStateDict(ckpt), ckpt);
        const int n = 16;
        manual_seed(11);
        using var x = randint(0, 256, [n, 3, 64, 64]).to_type(ScalarType.Float32);
        float[] images = x.contiguous().data<float>().ToArray();

        var engine = InferenceModel.Load(artifact, new EngineOptions { Threads = 2 });
        Assert.Equal(3, engine.OutputsPerImage);
        using var session = engine.CreateSession(maxBatch: n);
        foreach (int bits in new[] { 8, 4 })
        {
            float[] expected = TorchLogits(model, bits, x);
            AssertClose(expected, OnnxExportTests.RunOnnx(Path.Combine(onnxDir, $"model_{bits}bit.onnx"), x), n,
                flips: bits == 8 ? 4 : 2, flipRange: bits == 8 ? 3e-3 : 1e-2, $"ONNX at {bits} bits");
            session.SetBits(bits);
            var logits = new float[n * 3];
            session.Run(images, logits);
            // the engine's integer arithmetic differs from the float model by more than rounding (EngineMobileNetExportTests)
            double range = expected.Max() - expected.Min(), diff = expected.Zip(logits, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(diff <= 0.01 * range + 1e-6, $"engine at {bits} bits: |engine - torch| {diff:G3}, range {range:G3}");
        }
        AssertClose(TorchLogits(model, OnnxExporter.FloatBits, x), OnnxExportTests.RunOnnx(Path.Combine(onnxDir, "model_float.onnx"), x), n,
            flips: 0, flipRange: 0, "float ONNX");

        // evaluating does need the data, and says which folder is missing
        (code, _, err) = CliRunner.Run(["eval-onnx", Path.Combine(onnxDir, "model_8bit.onnx"), cfg, .. keys]);
        Assert.NotEqual(0, code);
        Assert.Contains("image folder not found", err);
    }

    [Fact]
    public void Image_folder_classes_neither_declared_nor_in_the_checkpoint_fail_naming_num_classes()
    {
        string ckpt = Path.Combine(dir, "not_a_model.pt");
        AdaBits.Checkpoints.CheckpointFile.Save(ckpt, new System.Collections.Hashtable { ["model"] = new Dictionary<string, Tensor> { ["w"] = zeros(2, 2) } });
        var (code, _, err) = CliRunner.Run("export", ckpt, Config("apps/imagenet/q_mobilenetv2_uint8_train_val.yml"),
            $"dataset_dir={Path.Combine(dir, "absent")}", "num_classes=null", "--format", "engine", "--out", Path.Combine(dir, "m.abits"));
        Assert.True(code == 2, err);
        // the config's own warning about its ignored cluster keys comes first
        var error = Assert.Single(err.Trim().Split('\n'), l => !l.StartsWith("adabits: warning:"));
        Assert.StartsWith("adabits: export: ", error);
        Assert.Contains("set num_classes", error);
        Assert.DoesNotContain("not found", err);
    }

    [Fact]
    public void Cifar10_checkpoint_exports_without_the_cifar_files_with_the_data_sets_10_classes()
    {
        string cfg = Config("apps/cifar10/q_resnet_uint8_train_val.yml");
        string[] keys = [$"dataset_dir={Path.Combine(dir, "absent")}", "num_classes=null"];
        var config = AdaBits.Config.ConfigLoader.Load([cfg, .. keys], _ => { });
        manual_seed(5);
        using var model = AdaBits.Training.ModelFactory.Create(config, 3, 10);
        string ckpt = Path.Combine(dir, "resnet20.pt");
        AdaBits.Checkpoints.CheckpointFile.Save(ckpt, new System.Collections.Hashtable { ["model"] = AdaBits.Checkpoints.CheckpointFile.ModelState(model) });
        string onnx = Path.Combine(dir, "resnet20_float.onnx");
        var (code, _, err) = CliRunner.Run(["export", ckpt, cfg, .. keys, "--float", "--out", onnx]);
        Assert.True(code == 0, err);
        const int n = 4;
        manual_seed(12);
        using var x = randint(0, 256, [n, 3, 32, 32]).to_type(ScalarType.Float32);
        float[] expected = TorchLogits(model, OnnxExporter.FloatBits, x);
        Assert.Equal(n * 10, expected.Length);
        AssertClose(expected, OnnxExportTests.RunOnnx(onnx, x), n, flips: 0, flipRange: 0, "float ONNX");
    }

    /// <summary>The registry's shape is the one the loaded validation data has, for every kind of data set
    /// (image folders are only scanned by Load, so their files need not be of the delivered size).</summary>
    [Theory]
    [InlineData("MNIST", null)]
    [InlineData("CIFAR10", null)]
    [InlineData("imagenet1k", 48)]
    [InlineData("imagenet1k_val50k", null)]
    [InlineData("CINIC10", null)]
    [InlineData("CINIC10", 40)]
    public void The_shape_without_the_data_is_the_loaded_data_sets(string dataset, int? imageSize)
    {
        string data = Path.Combine(dir, "data");
        if (dataset == "MNIST") data = Mnist.Dir;
        else if (dataset == "CIFAR10")
        {
            Directory.CreateDirectory(data);
            for (int k = 1; k <= 5; k++) File.WriteAllBytes(Path.Combine(data, $"data_batch_{k}.bin"), CifarTests.Records(2, 1, i => i));
            File.WriteAllBytes(Path.Combine(data, "test_batch.bin"), CifarTests.Records(2, 1, i => i));
        }
        else
            foreach (var split in new[] { "train", "val", "valid" })
                for (int c = 0; c < 2; c++)
                    ImageFolderTests.WriteImage(Path.Combine(data, split, $"c{c}", "a.png"), 8, 8, (x, y) => (1, 2, 3));
        var config = AdaBits.Config.ConfigLoader.Load([Config("apps/cifar10/q_resnet_uint8_train_val.yml")], _ => { }) with
        {
            Dataset = dataset, DatasetDir = data, ImageSize = imageSize, DataTransforms = null, ValLimit = null,
        };
        var (_, val) = AdaBits.Training.DataSources.Load(config, _ => { }, needTrain: false);
        var (channels, height, width, classes) = AdaBits.Training.DatasetInput.Of(config);
        Assert.Equal((val.Channels, val.Height, val.Width), (channels, height, width));
        Assert.Equal(dataset is "MNIST" or "CIFAR10" ? val.NumClasses : null, classes);
    }
}
