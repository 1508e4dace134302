using System.Collections;
using AdaBits.Checkpoints;
using AdaBits.Models;
using AdaBits.Modules;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>PyTorch-format checkpoints: round trips, and a checkpoint written by the original PyTorch code.</summary>
public class CheckpointTests() : TempFolderTests("adabits-ckpt-tests-")
{
    static QuantOptions CifarOptions => new() { BitsList = [5, 4, 3], SwitchAlpha = true, RescaleConv = true };

    /// <summary>
    /// Data/reference_resnet20_b543.pt was written by the original code (deJQK/AdaBits, PyTorch 1.13, CPU):
    /// its q_resnet_cifar under apps/cifar10/q_resnet_uint8_train_val.yml with random weights and BN
    /// statistics, saved as {'model': DataParallel-style 'module.'-prefixed state_dict, 'input': x,
    /// 'logits_B': eval-mode output at B bits}.
    /// </summary>
    [Fact]
    public void A_checkpoint_of_the_original_code_loads_and_gives_its_logits_at_every_bit_width()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Data", "reference_resnet20_b543.pt");
        var ckpt = CheckpointFile.Load(path);
        using var model = new QResNetCifar(CifarOptions, 20);
        CheckpointFile.LoadInto(model, CheckpointFile.StateDictOf(ckpt, path), path);
        model.eval();
        using var _ = no_grad();
        var x = (Tensor)ckpt["input"]!;
        foreach (int b in new[] { 5, 4, 3 })
        {
            model.SetBits(b);
            using var y = model.call(x);
            var expected = (Tensor)ckpt[$"logits_{b}"]!;
            double range = Ref.MaxAbs(expected);
            Assert.True(Ref.MaxAbsDiff(y, expected) <= 1e-4 * range, $"{b} bits: max diff {Ref.MaxAbsDiff(y, expected)} of range {range}");
        }
    }

    [Fact]
    public void Save_and_load_round_trip_keeps_every_key_and_value()
    {
        manual_seed(11);
        using var a = new QResNetCifar(CifarOptions, 20);
        using (no_grad())
            foreach (var (name, t) in a.state_dict())
                if (name.Contains("running_mean")) t.normal_();
        string path = Path.Combine(dir, "m.pt");
        CheckpointFile.Save(path, new Hashtable { ["model"] = CheckpointFile.ModelState(a), ["epoch"] = 3 });
        Assert.False(File.Exists(path + $".tmp{Environment.ProcessId}"));
        var loaded = CheckpointFile.Load(path);
        Assert.Equal(3, Convert.ToInt32(loaded["epoch"]));
        manual_seed(12);
        using var b = new QResNetCifar(CifarOptions, 20);
        CheckpointFile.LoadInto(b, CheckpointFile.StateDictOf(loaded, path), path);
        var sa = a.state_dict();
        var sb = b.state_dict();
        Assert.Equal(sa.Keys, sb.Keys);
        foreach (var k in sa.Keys)
            Assert.True(Ref.MaxAbsDiff(sa[k], sb[k]) == 0, k);
    }

    [Fact]
    public void A_checkpoint_that_does_not_fit_names_the_missing_and_unexpected_keys()
    {
        using var model = new QResNetCifar(CifarOptions, 20);
        var state = model.state_dict().ToDictionary(p => p.Key, p => p.Value);
        state.Remove("classifier.0.bias");
        state["classifier.0.extra"] = zeros(1);
        var e = Assert.Throws<InvalidDataException>(() => CheckpointFile.LoadInto(model, state, "x.pt"));
        Assert.Contains("x.pt", e.Message);
        Assert.Contains("classifier.0.bias", e.Message);
        Assert.Contains("classifier.0.extra", e.Message);

        string bad = Path.Combine(dir, "bad.pt");
        File.WriteAllText(bad, "not a checkpoint");
        var e2 = Assert.Throws<InvalidDataException>(() => CheckpointFile.Load(bad));
        Assert.Contains(bad, e2.Message);
    }
}

public class FpPretrainedTests
{
    [Fact]
    public void A_single_bn_full_precision_checkpoint_expands_to_every_bn_copy_and_alpha_entry()
    {
        manual_seed(21);
        using var fp = new QResNetCifar(new QuantOptions { BitsList = [32] }, 20);
        using (no_grad())
            foreach (var (name, t) in fp.state_dict())
                if (name.Contains("running_mean") || name.EndsWith("alpha")) t.uniform_(1, 2);
        var state = fp.state_dict().ToDictionary(p => p.Key, p => p.Value);
        Assert.Contains("head.1.bn.0.running_mean", state.Keys);
        Assert.DoesNotContain("head.1.bn.1.running_mean", state.Keys);

        using var adaptive = new QResNetCifar(new QuantOptions { BitsList = [8, 6, 4], SwitchAlpha = true }, 20);
        int used = FpPretrained.LoadInto(adaptive, state, "fp.pt");
        Assert.Equal(state.Count, used);
        var own = adaptive.state_dict();
        for (int i = 0; i < 3; i++)
            Assert.Equal(0, Ref.MaxAbsDiff(own[$"stage_1_layer_0.body.1.bn.{i}.running_mean"], state["stage_1_layer_0.body.1.bn.0.running_mean"]));
        var alpha = Ref.D(own["stage_2_layer_2.body.3.alpha"]);
        Assert.Equal(3, alpha.Length);
        Assert.All(alpha, a => Assert.Equal(Ref.D(state["stage_2_layer_2.body.3.alpha"])[0], a));
        Assert.Equal(0, Ref.MaxAbsDiff(own["head.0.weight"], state["head.0.weight"]));

        state.Remove("classifier.0.weight");
        var e = Assert.Throws<InvalidDataException>(() => FpPretrained.LoadInto(adaptive, state, "fp.pt"));
        Assert.Contains("classifier.0.weight", e.Message);
    }

    [Fact]
    public void A_scalar_alpha_fills_a_one_entry_alpha_vector()
    {
        manual_seed(22);
        using var fp = new QResNetCifar(new QuantOptions { BitsList = [32] }, 20);
        using (no_grad()) fp.state_dict()["stage_0_layer_0.body.3.alpha"].fill_(3.5f);
        var state = fp.state_dict().ToDictionary(p => p.Key, p => p.Value);
        using var single = new QResNetCifar(new QuantOptions { BitsList = [4], SwitchAlpha = true }, 20);
        FpPretrained.LoadInto(single, state, "fp.pt");
        var alpha = single.state_dict()["stage_0_layer_0.body.3.alpha"];
        Assert.Equal(new long[] { 1 }, alpha.shape);
        Assert.Equal(3.5, Ref.D(alpha)[0]);
    }
}
