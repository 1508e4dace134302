namespace AdaBits.Modules;

/// <summary>
/// A bit-width: one number for weights and activations, or a (weight, activation) pair as a
/// `[bw, ba]` entry of bits_list. 0 makes a layer the identity, 32 and above is full precision.
/// </summary>
public readonly record struct Bits
{
    public int Weight { get; }
    public int Activation { get; }
    /// <summary>Written as a [bw, ba] pair: prints and compares as the reference's list entry would.</summary>
    public bool IsPair { get; }

    public Bits(int both) : this(both, both, false) { }

    public Bits(int weight, int activation, bool isPair = true)
    {
        if (weight < 0 || activation < 0)
            throw new ArgumentOutOfRangeException(nameof(weight), $"bit-widths must be >= 0, got ({weight}, {activation})");
        Weight = weight;
        Activation = activation;
        IsPair = isPair;
    }

    public static implicit operator Bits(int both) => new(both);

    /// <summary>The reference's str(): `4` or `[4, 8]` (used as metric keys and folder names).</summary>
    public override string ToString() => IsPair ? $"[{Weight}, {Activation}]" : Weight.ToString();

    public static string ListToString(IEnumerable<Bits> bits) => "[" + string.Join(", ", bits) + "]";
}
