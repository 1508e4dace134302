using AdaBits.Modules;

namespace AdaBits.Profiling;

/// <summary>
/// The profile of one forward at one bit-width. Totals sum the conv, linear and average-pool rows, i.e. the
/// reference's totals (which never reach BN); the Bn* figures sum the batch-norm rows, reported separately.
/// </summary>
public sealed record ModelProfile(
    Bits Bits,
    int Batch,
    int Channels,
    int Height,
    int Width,
    IReadOnlyList<LayerProfile> Layers,
    IReadOnlyList<string> Warnings)
{
    IEnumerable<LayerProfile> Counted => Layers.Where(l => l.InTotals);
    IEnumerable<LayerProfile> BatchNorms => Layers.Where(l => !l.InTotals);

    public long Params => Counted.Sum(l => l.Params);
    public long Macs => Counted.Sum(l => l.Macs);
    public double GBitOps => Counted.Sum(l => l.GBitOps);
    public double MBytes => Counted.Sum(l => l.MBytes);

    public long BnParams => BatchNorms.Sum(l => l.Params);
    public long BnMacs => BatchNorms.Sum(l => l.Macs);
    public double BnGBitOps => BatchNorms.Sum(l => l.GBitOps);
    public double BnMBytes => BatchNorms.Sum(l => l.MBytes);
}
