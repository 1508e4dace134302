using AdaBits.Graph;

namespace AdaBits.Profiling;

/// <summary>
/// The reference's per-layer definitions (§6), from the lowered graph's shapes (N, C, H, W = input; outputs
/// primed): conv MACs (C·C'·kh·kw·H'·W' / groups)·N, linear MACs in·out·N, average pool N·C·H·W, BitOPs
/// MACs·bitw·bita·1e-9 with 32 for full precision, weight-only inputs, pools and BN; bytes bitw/8 per weight,
/// 4 per bias and per alpha entry (len(bits_list) of them with switch_alpha), in MB. BN (a fix: the
/// reference prints it with its parameters counted twice and leaves it out of the totals): MACs N·C·H·W,
/// params 2C when affine else 0, BitOPs MACs·1024·1e-9, bytes 4e-6·params, kept out of the totals.
/// </summary>
internal static class LayerCounter
{
    const int FullPrecision = 32;

    /// <summary>The row of one node of an unfolded graph at batch size N, or null for nodes that are not counted.</summary>
    public static LayerProfile? Count(Node node, int batch)
    {
        long[] Shape(Value v) => [batch, .. v.Shape];
        switch (node)
        {
            case ConvNode c:
                return Conv(c.Name, c.ModuleType, Shape(c.LayerInput), Shape(c.Output), c.KernelSize, c.KernelSize, c.Groups,
                    c.Bias is not null, c.AlphaEntries, Clamp(c.Bitw), Clamp(c.Bita));
            case LinearNode l:
                return Dense(l.Name, l.ModuleType, Shape(l.LayerInput), Shape(l.Output), l.Bias is not null, l.AlphaEntries,
                    Clamp(l.Bitw), Clamp(l.Bita));
            case AvgPoolNode p:
            {
                long macs = batch * p.Input.Elements;
                return new LayerProfile(p.Name, p.ModuleType, Shape(p.Input), Shape(p.Output), FullPrecision, FullPrecision, 0, macs,
                    BitOps(macs, FullPrecision, FullPrecision), 0, LayerKind.Compute);
            }
            case BatchNormNode bn:
            {
                long macs = batch * bn.Input.Elements;
                long parameters = bn.CopyParameters;
                return new LayerProfile(bn.CopyName, "BatchNorm2d", Shape(bn.Input), Shape(bn.Output), FullPrecision, FullPrecision,
                    parameters, macs, BitOps(macs, FullPrecision, FullPrecision), 4e-6 * parameters, LayerKind.BatchNorm);
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
    static int Clamp(int bits) => Math.Min(bits, FullPrecision);
}
