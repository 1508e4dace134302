namespace AdaBits.Profiling;

/// <summary>What a profiled row counts toward: the totals (conv, linear, average pool) or the separate BN line.</summary>
public enum LayerKind
{
    /// <summary>Conv2d/QConv2d, Linear/QLinear, AvgPool2d/AdaptiveAvgPool2d: in the totals, as in the reference.</summary>
    Compute,
    /// <summary>BatchNorm2d (the active copy of a SwitchableBatchNorm2d): reported apart, never in the totals.</summary>
    BatchNorm,
}

/// <summary>
/// One layer call of the profiling forward (reference §6): shapes as seen by the layer, the effective bits it
/// ran at (32 for full precision, BN and pools), and its params, MACs, BitOPs (in 1e9, "GBitOPs") and storage
/// (in MB, 1e6 bytes).
/// </summary>
public sealed record LayerProfile(
    string Name,
    string Type,
    IReadOnlyList<long> InputShape,
    IReadOnlyList<long> OutputShape,
    int Bitw,
    int Bita,
    long Params,
    long Macs,
    double GBitOps,
    double MBytes,
    LayerKind Kind)
{
    /// <summary>Whether the row counts toward ModelProfile's totals (everything but batch norm).</summary>
    public bool InTotals => Kind != LayerKind.BatchNorm;

    /// <summary>A shape as `1x16x32x32`.</summary>
    public static string ShapeText(IReadOnlyList<long> shape) => string.Join("x", shape);
}
