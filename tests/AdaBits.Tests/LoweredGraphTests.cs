using AdaBits.Graph;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>The lowered graph: what each module lowers to, the weight codes, and the inference passes.</summary>
public class LoweredGraphTests
{
    [Fact]
    public void ResNet20_lowers_to_convs_with_integer_codes_that_give_the_forward_weight()
    {
        var o = new QuantOptions { BitsList = [5, 4], SwitchAlpha = true, RescaleConv = true, Rescale = true };
        manual_seed(3);
        using var model = new QResNetCifar(o, 20);
        OnnxExportTests.TrainABit(model, o, 3, 16, steps: 1);
        model.train();
        var g = GraphBuilder.Build(model, 4, 3, 16, 16);
        Assert.True(model.training); // restored
        var convs = g.Nodes.OfType<ConvNode>().ToList();
        Assert.Equal(21, convs.Count);
        Assert.Equal(9, g.Nodes.OfType<AddNode>().Count());
        Assert.Equal([64L, 4, 4], convs[^1].Output.Shape);
        Assert.Equal([10L], g.Output.Shape);
        // body convs at 4 bits (modified: signed codes in [-8, 7]); the head keeps max(bits_list) = 5 bits
        Assert.Equal((5, 32), (convs[0].Bitw, convs[0].Bita));
        var conv = convs.First(c => c.Name == "stage_1_layer_0.body.3");
        Assert.Equal((4, 4), (conv.Bitw, conv.Bita));
        sbyte[] codes = conv.Weight.SignedCodes();
        Assert.InRange(codes.Min(), -8, 7);
        Assert.InRange(codes.Max(), -8, 7);
        // code -> float weight: Scale * k + Offset equals the eval forward's weight (SAT rescale included)
        var layer = (QConv2d)model.named_modules().First(m => m.name == "stage_1_layer_0.body.3").module;
        model.eval();
        model.SetBits(4);
        float[] forward;
        using (no_grad())
        {
            var (w, s) = layer.WeightForExport(4, applyScale: true);
            using (w) forward = w.contiguous().data<float>().ToArray();
            Assert.NotEqual(1.0, s);
            Assert.Equal((float)s, conv.Weight.WeightScale);
        }
        Assert.Equal(forward, conv.Weight.Values);
        for (int i = 0; i < forward.Length; i++)
            Assert.Equal(forward[i], conv.Weight.Scale * codes[i] + conv.Weight.Offset, 5e-6f);
        // every conv reads a PACT except the weight-only head; their alphas are the layers' |alpha| at 4 bits
        var pacts = g.Nodes.OfType<PactNode>().ToList();
        Assert.Equal(20 + 1, pacts.Count); // 20 block convs + the classifier
        Assert.All(pacts, p => Assert.Equal(4, p.Bits));
        Assert.Equal(MathF.Abs(layer.alpha[1].item<float>()), pacts.First(p => p.Name == "stage_1_layer_0.body.3").Alpha);
    }

    [Fact]
    public void Passes_skip_relus_before_single_sided_pact_fold_bn_and_mark_residual_fusions()
    {
        var o = new QuantOptions { BitsList = [4], SwitchAlpha = true };
        manual_seed(3);
        using var model = new QResNetCifar(o, 20);
        var raw = GraphBuilder.Build(model, 4, 3, 8, 8);
        var g = GraphPasses.ForInference(raw);
        // the middle ReLU of each of the 9 blocks, and the post-ReLUs whose only readers are a projection block's
        // two convs (blocks 3 and 6 start stages): kept are the head's and post-ReLUs read by an identity add
        Assert.Equal(1 + 9 + 9, raw.Nodes.OfType<ReluNode>().Count());
        Assert.Equal(9 + 2, raw.Nodes.OfType<ReluNode>().Count() - g.Nodes.OfType<ReluNode>().Count());
        Assert.Empty(g.Nodes.OfType<BatchNormNode>());
        Assert.Equal(raw.Nodes.OfType<BatchNormNode>().Count(), g.Nodes.OfType<AffineNode>().Count());
        var bn = raw.Nodes.OfType<BatchNormNode>().First();
        // folded affine from the copy's statistics (init: mean 0, var 1, gamma 1, beta 0)
        Assert.All(bn.Scale, s => Assert.Equal((float)(1 / Math.Sqrt(1 + 1e-5)), s, 6));
        Assert.Equal("head.1.bn.0", bn.CopyName);
        // every graph value is produced before it is read
        var seen = new HashSet<int> { g.Input.Id };
        foreach (var n in g.Nodes)
        {
            Assert.All(n.Inputs, v => Assert.Contains(v.Id, seen));
            seen.Add(n.Output.Id);
        }
        var units = GraphPasses.Fusions(g);
        Assert.Equal(21, units.Count);
        Assert.Equal(9, units.Count(u => u.Add is not null));
        // each add is followed by its ReLU, or (skipped) by the two PACTs of a projection block that contain it
        Assert.All(units.Where(u => u.Add is not null), u => Assert.True(u.Relu is not null || u.Pacts.Count == 2));
        Assert.Equal(2, units.Count(u => u.Add is not null && u.Relu is null));
        // a block's conv1 unit ends in the PACT of its conv2 (ReLU skipped)
        var first = units.Single(u => u.Conv.Name == "stage_0_layer_0.body.0");
        Assert.Null(first.Relu);
        Assert.Equal("stage_0_layer_0.body.3", first.Pacts.Single().Name);
        // a projection shortcut's unit ends at its affine, which the add reads as its residual
        var shortcut = units.Single(u => u.Conv.Name == "stage_1_layer_0.shortcut.0");
        Assert.Null(shortcut.Add);
        Assert.Contains(units, u => u.Residual?.Id == shortcut.Output.Id);
    }

    [Fact]
    public void MobileNet_depthwise_convs_keep_groups_and_v2_double_side_keeps_its_relus()
    {
        var o = new QuantOptions { BitsList = [4] };
        using var v2 = new QMobileNetV2(o, 10, 3, widthMult: 0.25, doubleSide: true);
        var g = GraphPasses.ForInference(GraphBuilder.Build(v2, 4, 3, 32, 32));
        var dw = g.Nodes.OfType<ConvNode>().Where(c => c.Groups > 1).ToList();
        Assert.Equal(17, dw.Count);
        Assert.All(dw, c => Assert.Equal(c.InChannels, c.Groups));
        Assert.Contains(g.Nodes.OfType<PactNode>(), p => p.DoubleSide);
        // the head's ReLU feeds the first block's depthwise conv, double-sided (expansion 1): a clip to
        // [-alpha, alpha] does not contain the ReLU, so it stays; single-sided, it goes
        Assert.Contains(g.Nodes.OfType<ReluNode>(), r => r.Name == "head.2");
        using var single = new QMobileNetV2(o, 10, 3, widthMult: 0.25);
        var gs = GraphPasses.ForInference(GraphBuilder.Build(single, 4, 3, 32, 32));
        Assert.DoesNotContain(gs.Nodes.OfType<ReluNode>(), r => r.Name == "head.2");
        Assert.Equal(10, g.Nodes.OfType<AddNode>().Count()); // identity residuals of V2 (stride 1, same channels)
    }

    [Fact]
    public void A_module_that_cannot_lower_itself_is_named_in_the_error()
    {
        using var seq = nn.Sequential(("conv", nn.Conv2d(1, 2, 3)));
        var e = Assert.Throws<NotSupportedException>(() => GraphBuilder.Build(seq, 4, 1, 8, 8));
        Assert.Equal("conv (Conv2d) cannot be lowered: it implements no ILowerable", e.Message);
    }
}
