using AdaBits.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Models;

/// <summary>The reference's reset_parameters (§4.5), applied to every submodule, and the <c>init</c> schemes built on it.</summary>
internal static class Initialization
{
    /// <summary>reset_parameters under <paramref name="scheme"/>.</summary>
    public static void Apply(nn.Module model, InitScheme scheme)
    {
        ResetParameters(model);
        if (scheme == InitScheme.Reference) return;
        using var _ = no_grad();
        foreach (var (_, m) in model.named_modules().Prepend(("", model)))
            if (m is QLinear l) nn.init.normal_(l.weight, 0, SatScaleStd(l));
    }

    /// <summary>The latent weights' standard deviation under <see cref="InitScheme.SatScale"/>: SAT's constant target, 1/sqrt(out_features).</summary>
    public static double SatScaleStd(QLinear layer) => Quantization.WeightTransform.ConstantTarget(layer.OutFeatures);

    public static void ResetParameters(nn.Module model)
    {
        using var _ = no_grad();
        foreach (var (_, m) in model.named_modules().Prepend(("", model)))
        {
            switch (m)
            {
                case QConv2d c:
                    nn.init.normal_(c.weight, 0, Math.Sqrt(2.0 / (c.KernelSize * c.KernelSize * c.OutChannels)));
                    c.bias?.zero_();
                    break;
                case Conv2d c:
                    long k = c.weight!.shape[2] * c.weight.shape[3];
                    nn.init.normal_(c.weight, 0, Math.Sqrt(2.0 / (k * c.weight.shape[0])));
                    c.bias?.zero_();
                    break;
                case BatchNorm2d b:
                    b.weight?.fill_(1);
                    b.bias?.zero_();
                    break;
                case QLinear l:
                    nn.init.normal_(l.weight, 0, 0.01);
                    l.bias?.zero_();
                    break;
                case Linear l:
                    nn.init.normal_(l.weight!, 0, 0.01);
                    l.bias?.zero_();
                    break;
                case SwitchableBatchNorm2d s when !s.Affine:
                    s.weight!.fill_(1);
                    s.bias!.zero_();
                    break;
            }
        }
    }
}
