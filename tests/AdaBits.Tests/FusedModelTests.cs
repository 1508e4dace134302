using AdaBits.Models;
using AdaBits.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// The CIFAR ResNet's fused forward (ReLU fan-out into the next block's PACTs; in inference with the batch
/// norms and the add folded in) against the same model calling its modules one by one (fused: false):
/// training outputs, every gradient and the BN running statistics, then inference outputs.
/// </summary>
public class FusedModelTests
{
    static QResNetCifar Model(bool fused, int[] bits)
    {
        manual_seed(77);
        var options = new QuantOptions { BitsList = bits.Select(b => new Bits(b)).ToArray(), SwitchAlpha = true, RescaleConv = true, Fused = fused };
        return new QResNetCifar(options, 20);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(2)]
    public void Fused_resnet_equals_module_by_module_in_training_and_inference(int bits)
    {
        using var fused = Model(true, [8, bits]);
        using var plain = Model(false, [8, bits]);
        fused.SetBits(bits);
        plain.SetBits(bits);
        manual_seed(78);
        using var x = randn(6, 3, 32, 32).mul(40).add(120);
        using var g = randn(6, 10);

        foreach (var m in new[] { fused, plain })
        {
            m.train();
            using var y = m.call(x);
            y.mul(g).sum().backward();
        }
        var fp = fused.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in plain.named_parameters())
        {
            var a = fp[name].grad;
            var b = p.grad;
            Assert.Equal(b is null, a is null); // the other bit-width's BN copy gets none
            if (a is null || b is null) continue;
            double scale = Math.Max(Ref.MaxAbs(b), 1e-6);
            // an alpha gradient is one sum over a whole activation: float in torch, double in the kernels
            double tol = name.EndsWith("alpha") ? 1e-3 : 1e-4;
            Assert.True(Ref.MaxAbsDiff(a, b) <= tol * scale, $"grad of {name}: {Ref.MaxAbsDiff(a, b)} (max {scale})");
        }
        var fb = fused.named_buffers().ToDictionary(p => p.name, p => p.buffer);
        foreach (var (name, t) in plain.named_buffers())
            Assert.True(Ref.MaxAbsDiff(fb[name], t) <= 1e-5 * Math.Max(Ref.MaxAbs(t), 1), $"buffer {name}");

        // inference, with the statistics just learnt; the folded batch norm may round one value to the
        // neighbouring level where it sits on a step, so compare the logits against their range
        using var _ = no_grad();
        fused.eval();
        plain.eval();
        using var yf = fused.call(x);
        using var yp = plain.call(x);
        double range = Ref.MaxAbs(yp);
        Assert.True(Ref.MaxAbsDiff(yf, yp) <= 1e-3 * range, $"eval: {Ref.MaxAbsDiff(yf, yp)} of range {range}");
    }
}
