using System.Collections;
using System.Collections.Specialized;
using AdaBits.Checkpoints;
using AdaBits.Config;
using AdaBits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// pretrained_model_remap_keys end to end, with the original's CIFAR ResNet-20 config on a tiny CIFAR binary
/// folder: a checkpoint whose keys are all renamed (p000, p001, ... in PyTorch order) must give exactly what the
/// same tensors under the model's own keys give, through pretrained_file (`adabits test`) and fp_pretrained_file
/// (`adabits train`).
/// </summary>
[Collection("Console")]
public sealed class RemapTrainingTests : TempFolderTests
{
    readonly string data;

    public RemapTrainingTests() : base("adabits-remap-run-")
    {
        data = Path.Combine(dir, "cifar");
        string bin = Path.Combine(data, "cifar-10-batches-bin");
        Directory.CreateDirectory(bin);
        for (int k = 1; k <= 5; k++)
            File.WriteAllBytes(Path.Combine(bin, $"data_batch_{k}.bin"), CifarTests.Records(16, 1, i => i % 10, (k - 1) * 16));
        File.WriteAllBytes(Path.Combine(bin, "test_batch.bin"), CifarTests.Records(32, 1, i => (i + 3) % 10, 1000));
    }

    string[] Args(string command, params string[] extra) =>
        [command, "app:" + Path.Combine(Mnist.RepoRoot(), "apps/cifar10/q_resnet_uint8_train_val.yml"),
            $"dataset_dir={data}", "data_loader_workers=1", "batch_size=32", .. extra];

    /// <summary>A model of the config with random weights and BN statistics, saved under its own keys and renamed.</summary>
    (string Own, string Renamed) WriteCheckpoints(string name, params string[] overrides)
    {
        var config = ConfigLoader.Load(Args("train", overrides)[1..]);
        manual_seed(5);
        using var model = ModelFactory.Create(config, 3, 10);
        using (no_grad())
            foreach (var (key, t) in model.state_dict())
                if (key.EndsWith("running_mean")) t.normal_();
                else if (key.EndsWith("running_var")) t.uniform_(0.5, 2);
        string own = Path.Combine(dir, name + ".pt"), renamed = Path.Combine(dir, name + "_renamed.pt");
        CheckpointFile.Save(own, new Hashtable { ["model"] = CheckpointFile.ModelState(model) });
        var sd = new OrderedDictionary();
        var state = model.state_dict();
        var keys = StateDictOrder.Keys(model);
        for (int i = 0; i < keys.Count; i++) sd[$"p{i:D3}"] = state[keys[i]];
        CheckpointFile.Save(renamed, new Hashtable { ["model"] = sd, ["epoch"] = 7 });
        return (own, renamed);
    }

    [Fact]
    public void Test_command_evaluates_a_renamed_checkpoint_with_remap_exactly_as_the_original_keys()
    {
        var (own, renamed) = WriteCheckpoints("b543");
        var a = CliRunner.Run(Args("test", $"pretrained_file={own}", "--json"));
        Assert.True(a.Code == 0, a.Err);
        var b = CliRunner.Run(Args("test", $"pretrained_file={renamed}", "pretrained_model_remap_keys=True", "--json"));
        Assert.True(b.Code == 0, b.Err);
        Assert.Equal(a.Out, b.Out);

        var shown = CliRunner.Run(Args("test", $"pretrained_file={renamed}", "pretrained_model_remap_keys=True"));
        Assert.True(shown.Code == 0, shown.Err);
        Assert.Contains("remap head.0.weight to p000", shown.Out);
        Assert.Contains("remap classifier.0.alpha to p359", shown.Out);

        var refused = CliRunner.Run(Args("test", $"pretrained_file={renamed}", "--json"));
        Assert.Equal(1, refused.Code);
        Assert.Contains("missing key", refused.Err);
    }

    [Fact]
    public void Fp_pretrained_file_with_remap_trains_exactly_as_with_the_original_keys()
    {
        var (own, renamed) = WriteCheckpoints("fp", "bits_list=[32]");
        string runA = Path.Combine(dir, "a"), runB = Path.Combine(dir, "b");
        string[] common = ["bits_list=[32]", "num_epochs=1", "train_limit=64", "val_limit=32"];
        var a = CliRunner.Run(Args("train", [$"fp_pretrained_file={own}", $"log_dir={runA}", .. common]));
        Assert.True(a.Code == 0, a.Err);
        var b = CliRunner.Run(Args("train", [$"fp_pretrained_file={renamed}", "pretrained_model_remap_keys=True", $"log_dir={runB}", .. common]));
        Assert.True(b.Code == 0, b.Err);

        string Find(string root, string file) => Assert.Single(Directory.GetFiles(root, file, SearchOption.AllDirectories));
        var sa = CheckpointFile.LoadStateDict(Find(runA, Trainer.BestModel));
        var sb = CheckpointFile.LoadStateDict(Find(runB, Trainer.BestModel));
        Assert.Equal(sa.Keys.Order(), sb.Keys.Order());
        foreach (var k in sa.Keys)
            Assert.True(Ref.MaxAbsDiff(sa[k], sb[k]) == 0, k);
        string log = File.ReadAllText(Find(runB, "train.log"));
        Assert.Contains("remap head.0.weight to p000", log);
        Assert.Contains("Loaded full precision model", log);

        // the checkpoints written during training list the model in PyTorch order
        var config = ConfigLoader.Load(Args("train", "bits_list=[32]")[1..]);
        using var model = ModelFactory.Create(config, 3, 10);
        Assert.Equal(StateDictOrder.Keys(model), PickleKeyOrder.StateDictKeys(Find(runB, Trainer.LatestCheckpoint)));
    }
}
