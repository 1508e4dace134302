using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>QLinear, QConv2d, SwitchableBatchNorm2d and the CIFAR ResNet's layout (spec §2.2, §2.5, §3, §4.1).</summary>
public class ModulesTests
{
    static QuantOptions Opts(params int[] bits) => new() { BitsList = bits.Select(b => new Bits(b)).ToArray() };

    /// <summary>By hand: modified weight scheme (the default), 2 q((u + 1)/2) - 1 with u = tanh(W)/max|tanh(W)|.</summary>
    static Tensor HandWeight(Tensor w, int bits)
    {
        var t = w.detach().tanh();
        var u = t.div(t.abs().max());
        if (bits >= 32) return u;
        double a = Math.Pow(2, bits);
        return u.add(1).div(2).mul(a).floor().clamp_max(a - 1).div(a).mul(2).sub(1);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(4)]
    public void QLinearRescalesWeightInTrainAndBiasInEval(int bits)
    {
        torch.manual_seed(21);
        using var scope = NewDisposeScope();
        var lin = new QLinear(Opts(bits), 6, 5);
        var x = rand(3, 6).mul(12); // some inputs above alpha = 10
        // hand computation: s = (1/sqrt(out_features)) / std_unbiased(Wq); PACT at 4 bits (original act scheme,
        // alpha 10): 10 * round(15 * min(relu(x), 10) / 10) / 15; at 32 bits the input passes unchanged
        var wq = HandWeight(lin.weight, bits);
        double s = 1 / Math.Sqrt(5) / wq.std().item<float>();
        var xq = bits < 32 ? x.clamp(0, 10).div(10).mul(15).round().div(15).mul(10) : x;
        var b = lin.bias!.detach();
        var expectTrain = xq.matmul(wq.mul(s).t()).add(b);
        var expectEval = xq.matmul(wq.t()).add(b.div(s));

        lin.train();
        var yTrain = lin.call(x);
        Assert.True(Ref.MaxAbsDiff(yTrain, expectTrain) <= 1e-5 * Ref.MaxAbs(expectTrain), "train");
        lin.eval();
        Tensor yEval;
        using (no_grad()) yEval = lin.call(x);
        Assert.True(Ref.MaxAbsDiff(yEval, expectEval) <= 1e-5 * Ref.MaxAbs(expectEval), "eval");
        // eval logits are the train logits divided by s; the bias parameter itself is untouched
        Assert.True(Ref.MaxAbsDiff(yEval.mul(s), yTrain) <= 1e-5 * Ref.MaxAbs(yTrain));
        Assert.Equal(Ref.F(b), Ref.F(lin.bias!));
        Assert.True(Math.Abs(s - 1) > 1e-3, "the test needs s != 1");
    }

    [Fact]
    public void SwitchableBatchNormUpdatesOnlyTheActiveCopy()
    {
        torch.manual_seed(22);
        using var scope = NewDisposeScope();
        var bn = new SwitchableBatchNorm2d(Opts(8, 4), 3);
        bn.SetBits(4);
        bn.train();
        var x = randn(4, 3, 5, 5).mul(2).add(1);
        bn.call(x);
        var sd = bn.state_dict();
        // copy 0 untouched: mean 0, var 1, no batches
        Assert.All(Ref.F(sd["bn.0.running_mean"]), v => Assert.Equal(0f, v));
        Assert.All(Ref.F(sd["bn.0.running_var"]), v => Assert.Equal(1f, v));
        Assert.Equal(0L, sd["bn.0.num_batches_tracked"].item<long>());
        // copy 1: momentum 0.1, running_var from the unbiased batch variance (N = 4 * 5 * 5 = 100 per channel)
        Assert.Equal(1L, sd["bn.1.num_batches_tracked"].item<long>());
        var mean = Ref.F(sd["bn.1.running_mean"]);
        var variance = Ref.F(sd["bn.1.running_var"]);
        for (int c = 0; c < 3; c++)
        {
            var v = Ref.D(x.select(1, c));
            double m = v.Average();
            double unbiased = v.Sum(e => (e - m) * (e - m)) / (v.Length - 1);
            Assert.Equal(0.1 * m, mean[c], 5);
            Assert.Equal(0.9 + 0.1 * unbiased, variance[c], 5);
        }

        // back to 8 bits: copy 0 moves, copy 1 stays
        bn.SetBits(8);
        bn.call(x);
        sd = bn.state_dict();
        Assert.Equal(1L, sd["bn.0.num_batches_tracked"].item<long>());
        Assert.Equal(1L, sd["bn.1.num_batches_tracked"].item<long>());
        // a bits value not in the list uses copy 0
        bn.SetBits(5);
        Assert.Equal(0, bn.ActiveIndex);
    }

    [Fact]
    public void SwitchBnOffAlwaysUsesCopyZero()
    {
        torch.manual_seed(23);
        using var scope = NewDisposeScope();
        var bn = new SwitchableBatchNorm2d(Opts(8, 4) with { SwitchBn = false }, 3);
        bn.SetBits(4);
        Assert.Equal(0, bn.ActiveIndex);
        bn.train();
        bn.call(randn(2, 3, 4, 4));
        var sd = bn.state_dict();
        Assert.Equal(1L, sd["bn.0.num_batches_tracked"].item<long>());
        Assert.Equal(0L, sd["bn.1.num_batches_tracked"].item<long>());
    }

    [Fact]
    public void StatsSharingHasOneSharedAffineAndPerBitStatistics()
    {
        torch.manual_seed(24);
        using var scope = NewDisposeScope();
        var bn = new SwitchableBatchNorm2d(Opts(8, 4) with { StatsSharing = true }, 3, affine: false);
        var keys = bn.state_dict().Keys.ToHashSet();
        Assert.Contains("weight", keys);
        Assert.Contains("bias", keys);
        Assert.Contains("bn.0.running_mean", keys);
        Assert.Contains("bn.1.running_var", keys);
        Assert.DoesNotContain("bn.0.weight", keys);
        Assert.DoesNotContain("bn.1.bias", keys);
        Assert.Equal(8, keys.Count); // weight, bias + 3 buffers x 2 copies

        var affineKeys = new SwitchableBatchNorm2d(Opts(8, 4), 3).state_dict().Keys.ToHashSet();
        Assert.Contains("bn.1.weight", affineKeys);
        Assert.DoesNotContain("weight", affineKeys);

        // y = weight[c] * BN_i(x) + bias[c], in train mode BN_i uses the biased batch variance, eps 1e-5
        using (no_grad()) { bn.weight!.fill_(2); bn.bias!.fill_(0.5); }
        bn.train();
        var x = randn(2, 3, 4, 4).mul(3);
        var y = Ref.D(bn.call(x).select(1, 1));
        var xc = Ref.D(x.select(1, 1));
        double m = xc.Average(), v = xc.Sum(e => (e - m) * (e - m)) / xc.Length;
        for (int i = 0; i < xc.Length; i++) Assert.Equal(2 * (xc[i] - m) / Math.Sqrt(v + 1e-5) + 0.5, y[i], 1e-4);
    }

    [Fact]
    public void ResNetStateDictKeysAndAlphaShapes()
    {
        using var scope = NewDisposeScope();
        var model = new QResNetCifar(Opts(5, 4, 3) with { SwitchAlpha = true }, depth: 20);
        var sd = model.state_dict();
        string[] expected =
        [
            "head.0.weight", "head.0.alpha", "head.1.bn.0.weight", "head.1.bn.2.running_var", "head.1.bn.2.num_batches_tracked",
            "stage_0_layer_0.body.0.weight", "stage_0_layer_0.body.0.alpha", "stage_0_layer_0.body.1.bn.1.bias",
            "stage_0_layer_0.body.3.alpha", "stage_0_layer_0.body.4.bn.2.running_mean",
            "stage_1_layer_0.shortcut.0.weight", "stage_1_layer_0.shortcut.1.bn.0.running_var", "stage_1_layer_0.body.0.alpha",
            "stage_2_layer_2.body.3.weight", "classifier.0.weight", "classifier.0.bias", "classifier.0.alpha",
        ];
        foreach (var k in expected) Assert.True(sd.ContainsKey(k), $"missing {k}");
        Assert.False(sd.ContainsKey("stage_0_layer_0.shortcut.0.weight")); // 16 -> 16, stride 1: identity shortcut
        Assert.False(sd.ContainsKey("head.1.bn.3.running_var"));
        Assert.False(sd.ContainsKey("stage_3_layer_0.body.0.weight"));
        // count by hand: head 2 + 15 (3 BN copies x 5 entries); 9 blocks x (2 convs x 2 + 2 BN x 15) = 306;
        // 2 projection shortcuts x (2 + 15) = 34; classifier 3  ->  360
        Assert.Equal(360, sd.Count);
        // no layer registered twice under a field name (TorchSharp registers Module-typed fields by reflection)
        Assert.DoesNotContain(sd.Keys, k => k.Contains('<') || k.Contains(".conv1.") || k.Contains(".bn1."));
        var ps = model.parameters().ToList();
        Assert.Equal(ps.Count, ps.Select(p => p.Handle).Distinct().Count());
        // parameters: per conv weight + alpha (21 convs), 21 SBN x 3 copies x (weight, bias), classifier 3
        Assert.Equal(21 * 2 + 21 * 3 * 2 + 3, ps.Count);

        // stats_sharing: one shared weight/bias per SBN, no per-copy affine, nothing doubled
        var shared = new QResNetCifar(Opts(5, 4, 3) with { StatsSharing = true }, depth: 20).state_dict();
        Assert.True(shared.ContainsKey("head.1.weight"));
        Assert.True(shared.ContainsKey("stage_1_layer_0.shortcut.1.bias"));
        Assert.False(shared.ContainsKey("head.1.bn.0.weight"));
        Assert.DoesNotContain(shared.Keys, k => k.Contains('<'));
        // 21 convs x 2 + 21 SBN x (2 shared + 3 copies x 3 buffers) + classifier 3
        Assert.Equal(21 * 2 + 21 * (2 + 9) + 3, shared.Count);
        Assert.Equal(new long[] { 16, 3, 3, 3 }, sd["head.0.weight"].shape);
        Assert.Equal(new long[] { 32, 16, 1, 1 }, sd["stage_1_layer_0.shortcut.0.weight"].shape);
        Assert.Equal(new long[] { 10, 64 }, sd["classifier.0.weight"].shape);
        // switch_alpha: one entry per bits_list entry; init 8 for convs, 10 for the linear layer
        Assert.Equal(new long[] { 3 }, sd["head.0.alpha"].shape);
        Assert.Equal(new[] { 8f, 8f, 8f }, Ref.F(sd["stage_1_layer_0.body.0.alpha"]));
        Assert.Equal(new[] { 10f, 10f, 10f }, Ref.F(sd["classifier.0.alpha"]));

        var plain = new QResNetCifar(Opts(5, 4, 3), depth: 20).state_dict();
        Assert.Empty(plain["head.0.alpha"].shape);
        Assert.Equal(8f, plain["stage_0_layer_1.body.3.alpha"].item<float>());
        Assert.Equal(10f, plain["classifier.0.alpha"].item<float>());
    }

    [Fact]
    public void ZeroBitsMakesConvTheIdentity()
    {
        torch.manual_seed(25);
        using var scope = NewDisposeScope();
        var conv = new QConv2d(Opts(4), 4, 4, 3, padding: 1, bias: false);
        var x = randn(2, 4, 5, 5);
        conv.SetBits(0);
        Assert.Equal(Ref.F(x), Ref.F(conv.call(x)));
        conv.SetBits(4);
        Assert.NotEqual(Ref.F(x), Ref.F(conv.call(x)));
    }

    [Fact]
    public void EffectiveBitsPairsFloorsAndWeightOnly()
    {
        using var scope = NewDisposeScope();
        var opts = Opts(4);
        var conv = new QConv2d(opts, 2, 2, 1);
        conv.Bits = new Bits(4, 8);
        Assert.Equal((4, 8), conv.EffectiveBits());
        Assert.Equal("[4, 8]", conv.Bits.ToString());
        conv.Bits = 3;
        Assert.Equal((3, 3), conv.EffectiveBits());

        var weightOnly = new QConv2d(opts, 2, 2, 1, weightOnly: true) { Bits = new Bits(4, 8) };
        Assert.Equal((4, 32), weightOnly.EffectiveBits());
        var globalWeightOnly = new QLinear(opts with { WeightOnly = true }, 2, 2) { Bits = 3 };
        Assert.Equal((3, 32), globalWeightOnly.EffectiveBits());

        var floors = new QConv2d(opts, 2, 2, 1, bitwMin: 5, bitaMin: 8) { Bits = 3 };
        Assert.Equal((5, 8), floors.EffectiveBits());
        floors.Bits = new Bits(6, 10);
        Assert.Equal((6, 10), floors.EffectiveBits());
        // weight_only beats bita_min (the ResNet head: bita_min 8 is dead)
        var head = new QConv2d(opts, 2, 2, 1, bitwMin: 5, bitaMin: 8, weightOnly: true) { Bits = 3 };
        Assert.Equal((5, 32), head.EffectiveBits());
        Assert.Throws<ArgumentOutOfRangeException>(() => new Bits(-1, 4));
    }

    [Fact]
    public void EvalWeightCacheFollowsInPlaceWeightChanges()
    {
        torch.manual_seed(26);
        using var scope = NewDisposeScope();
        var conv = new QConv2d(Opts(4), 3, 8, 3, padding: 1);
        var x = rand(2, 3, 6, 6).mul(4);
        conv.eval();
        using (no_grad())
        {
            var y1 = conv.call(x);
            var y2 = conv.call(x);
            Assert.Equal(Ref.F(y1), Ref.F(y2));
            conv.weight.add_(0.1);
            var y3 = conv.call(x);
            Assert.NotEqual(Ref.F(y1), Ref.F(y3));
            // the recomputed weight is the right one: same as the uncached train-mode forward
            conv.train();
            var y4 = conv.call(x);
            Assert.Equal(Ref.F(y4), Ref.F(y3));
            // and a bits switch in eval gives that bit-width's weight, not the cached 4-bit one
            conv.eval();
            conv.SetBits(2);
            var y5 = conv.call(x);
            conv.train();
            Assert.Equal(Ref.F(conv.call(x)), Ref.F(y5));
        }
    }

    [Fact]
    public void SetBitsReachesEveryModule()
    {
        torch.manual_seed(27);
        using var scope = NewDisposeScope();
        var model = new QResNetCifar(Opts(5, 4, 3), depth: 20);
        var switchable = model.named_modules().Select(m => m.module).OfType<IBitSwitchable>().ToList();
        // 19 convs + 2 shortcut convs + 1 linear + 19 + 2 BNs
        Assert.Equal(43, switchable.Count);
        Assert.All(switchable, m => Assert.Equal(new Bits(3), m.Bits)); // default: last entry
        foreach (int b in new[] { 5, 4, 3 })
        {
            model.SetBits(b);
            Assert.All(switchable, m => Assert.Equal(new Bits(b), m.Bits));
            model.eval();
            using (no_grad())
            {
                var y = model.call(rand(2, 3, 8, 8).mul(255));
                Assert.Equal(new long[] { 2, 10 }, y.shape);
                Assert.True(y.isfinite().all().item<bool>());
            }
        }
    }
}
