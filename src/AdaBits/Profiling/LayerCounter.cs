using AdaBits.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Profiling;

/// <summary>
/// The reference's per-layer definitions (§6), from the shapes one call saw (N, C, H, W = input; outputs
/// primed): conv MACs (C·C'·kh·kw·H'·W' / groups)·N, linear MACs in·out·N, average pool N·C·H·W, BitOPs
/// MACs·bitw·bita·1e-9 with 32 for full precision, weight-only inputs, pools and BN; bytes bitw/8 per weight,
/// 4 per bias and per alpha entry (len(bits_list) of them with switch_alpha), in MB. BN (a fix: the
/// reference prints it with its parameters counted twice and leaves it out of the totals): MACs N·C·H·W,
/// params 2C when affine else 0, BitOPs MACs·1024·1e-9, bytes 4e-6·params, kept out of the totals.
/// </summary>
public static class LayerCounter
{
    const int FullPrecision = 32;

    /// <summary>Whether calls of this module become a profile row.</summary>
    public static bool IsCounted(nn.Module module) => module is QConv2d or QLinear or Conv2d or Linear
        or AvgPool2d or AdaptiveAvgPool2d or BatchNorm2d;

    /// <summary>The row for one call of a counted module, or null for any other module.</summary>
    public static LayerProfile? Count(string name, nn.Module module, Tensor input, Tensor output)
    {
        long[] ins = input.shape, outs = output.shape;
        string type = module.GetType().Name;
        switch (module)
        {
            case QConv2d q:
            {
                var (bitw, bita) = Clamp(q.EffectiveBits());
                return Conv(name, type, ins, outs, q.KernelSize, q.KernelSize, q.Groups, q.bias is not null, q.alpha.numel(), bitw, bita);
            }
            case Conv2d c:
            {
                var w = Param(c, "weight") ?? throw new InvalidOperationException($"{name}: Conv2d without a weight");
                long groups = Math.Max(1, ins[1] / w.shape[1]);
                return Conv(name, type, ins, outs, w.shape[2], w.shape[3], groups, Param(c, "bias") is not null, 0, FullPrecision, FullPrecision);
            }
            case QLinear q:
            {
                var (bitw, bita) = Clamp(q.EffectiveBits());
                return Dense(name, type, ins, outs, q.bias is not null, q.alpha.numel(), bitw, bita);
            }
            case Linear l:
                return Dense(name, type, ins, outs, Param(l, "bias") is not null, 0, FullPrecision, FullPrecision);
            case AvgPool2d or AdaptiveAvgPool2d:
            {
                long macs = ins[0] * ins[1] * ins[2] * ins[3];
                return new LayerProfile(name, type, ins, outs, FullPrecision, FullPrecision, 0, macs,
                    BitOps(macs, FullPrecision, FullPrecision), 0, LayerKind.Compute);
            }
            case BatchNorm2d bn:
            {
                long macs = ins.Aggregate(1L, (a, b) => a * b);
                long parameters = (Param(bn, "weight")?.numel() ?? 0) + (Param(bn, "bias")?.numel() ?? 0);
                return new LayerProfile(name, type, ins, outs, FullPrecision, FullPrecision, parameters, macs,
                    BitOps(macs, FullPrecision, FullPrecision), 4e-6 * parameters, LayerKind.BatchNorm);
            }
            default:
                return null;
        }
    }

    static LayerProfile Conv(string name, string type, long[] ins, long[] outs, long kh, long kw, long groups,
        bool hasBias, long alphaEntries, int bitw, int bita)
    {
        long weights = ins[1] * outs[1] * kh * kw / groups;
        long macs = ins[1] * outs[1] * kh * kw * outs[2] * outs[3] / groups * outs[0];
        long parameters = weights + (hasBias ? outs[1] : 0);
        double bytes = weights * bitw / 8e6 + (hasBias ? outs[1] * 4e-6 : 0) + AlphaBytes(alphaEntries);
        return new LayerProfile(name, type, ins, outs, bitw, bita, parameters, macs, BitOps(macs, bitw, bita), bytes, LayerKind.Compute);
    }

    static LayerProfile Dense(string name, string type, long[] ins, long[] outs, bool hasBias, long alphaEntries, int bitw, int bita)
    {
        long weights = ins[1] * outs[1];
        long macs = weights * outs[0];
        long parameters = weights + (hasBias ? outs[1] : 0);
        double bytes = weights * bitw / 8e6 + (hasBias ? outs[1] * 4e-6 : 0) + AlphaBytes(alphaEntries);
        return new LayerProfile(name, type, ins, outs, bitw, bita, parameters, macs, BitOps(macs, bitw, bita), bytes, LayerKind.Compute);
    }

    /// <summary>4 bytes per clipping level: len(bits_list) with switch_alpha, else 1 (the reference's 4e-6·len / 4e-6).</summary>
    static double AlphaBytes(long entries) => entries == 0 ? 0 : 4e-6 * entries;

    static double BitOps(long macs, int bitw, int bita) => macs * (double)bitw * bita * 1e-9;

    /// <summary>Bits of 32 and above are full precision and count as 32 (weight-only layers already have bita 32).</summary>
    static (int, int) Clamp((int Bitw, int Bita) bits) => (Math.Min(bits.Bitw, FullPrecision), Math.Min(bits.Bita, FullPrecision));

    static Parameter? Param(nn.Module module, string name) =>
        module.named_parameters(recurse: false).Where(p => p.name == name).Select(p => p.parameter).FirstOrDefault();
}
