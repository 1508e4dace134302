using AdaBits.Quantization;

namespace AdaBits.Modules;

public enum RescaleType { Constant, Stddev }

/// <summary>
/// The quantization settings every quantized layer reads (the reference's FLAGS keys of §1.2,
/// "Quantization / model behaviour"). Immutable: pass a new record to change behaviour.
/// </summary>
public sealed record QuantOptions
{
    IReadOnlyList<Bits> bitsList = [new Bits(32)];

    /// <summary>Bit-widths trained jointly, in training order; one BN copy and one alpha entry each.</summary>
    public IReadOnlyList<Bits> BitsList
    {
        get => bitsList;
        init
        {
            if (value is null || value.Count == 0) throw new ArgumentException("bits_list must hold at least one bit-width");
            bitsList = value.ToArray();
        }
    }

    QuantScheme weightScheme = QuantScheme.Modified, actScheme = QuantScheme.Original;

    /// <summary>The weights' level placement: a built-in scheme (config name) or any <see cref="QuantScheme"/>.</summary>
    public QuantScheme WeightScheme { get => weightScheme; init => weightScheme = value ?? throw new ArgumentNullException(nameof(WeightScheme)); }
    /// <summary>The activations' level placement.</summary>
    public QuantScheme ActScheme { get => actScheme; init => actScheme = value ?? throw new ArgumentNullException(nameof(ActScheme)); }
    /// <summary>Full-precision weights are tanh-normalised.</summary>
    public bool Clamp { get; init; } = true;
    /// <summary>SAT rescaling of linear layers.</summary>
    public bool Rescale { get; init; } = true;
    /// <summary>SAT rescaling of conv layers.</summary>
    public bool RescaleConv { get; init; }
    public RescaleType RescaleType { get; init; } = RescaleType.Constant;
    /// <summary>One BN copy per bit-width (false: always copy 0).</summary>
    public bool SwitchBn { get; init; } = true;
    /// <summary>One clipping level per bit-width (false: one shared alpha).</summary>
    public bool SwitchAlpha { get; init; }
    /// <summary>Quantize weights only; activations stay full precision.</summary>
    public bool WeightOnly { get; init; }
    /// <summary>Share BN affine parameters across bit-widths (running statistics stay per bit-width).</summary>
    public bool StatsSharing { get; init; }
    /// <summary>The weight part every quantized layer applies (default: SAT transform, scheme, rescale).</summary>
    internal IWeightQuantizer WeightQuantizer { get; init; } = SatWeightQuantizer.Instance;
    /// <summary>The input-activation part every quantized layer applies (default: PACT).</summary>
    internal IActivationQuantizer ActivationQuantizer { get; init; } = PactQuantizer.Instance;
    /// <summary>Use the fused CPU kernels where they apply (false: plain torch ops everywhere).</summary>
    public bool Fused { get; init; } = true;

    /// <summary>The default bit-width of a new model: the last entry, as in the reference.</summary>
    public Bits DefaultBits => bitsList[^1];

    /// <summary>Largest weight bit-width in the list (the ResNet head and classifier precision).</summary>
    public int MaxWeightBits => bitsList.Max(b => b.Weight);

    /// <summary>Index of a raw bits value in bits_list, or -1.</summary>
    public int IndexOf(Bits bits)
    {
        for (int i = 0; i < bitsList.Count; i++) if (bitsList[i] == bits) return i;
        return -1;
    }

    /// <summary>
    /// The switchable clipping level to use. Int entries: the index of the effective activation bits in
    /// bits_list (reference behaviour); [bw, ba] entries: the entry's own index (the reference fell back to 0).
    /// </summary>
    public int AlphaIndex(Bits raw, int effectiveActivationBits)
    {
        if (raw.IsPair)
        {
            int own = IndexOf(raw);
            return own < 0 ? 0 : own;
        }
        int i = IndexOf(new Bits(effectiveActivationBits));
        return i < 0 ? 0 : i;
    }
}
