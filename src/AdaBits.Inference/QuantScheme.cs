namespace AdaBits.Inference;

/// <summary>The three staircases of the reference's q_k (spec §2.1); names as in the config keys.</summary>
public enum QuantScheme
{
    /// <summary>round((2^b - 1) x) / (2^b - 1), half to even: levels include 0 and 1.</summary>
    Original = 0,
    /// <summary>min(floor(2^b x), 2^b - 1) / 2^b.</summary>
    Modified = 1,
    /// <summary>(min(floor(2^b x), 2^b - 1) + 1/2) / 2^b.</summary>
    Centered = 2,
}
