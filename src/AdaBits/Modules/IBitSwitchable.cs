using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Modules;

/// <summary>A module whose behaviour depends on the active bit-width.</summary>
internal interface IBitSwitchable
{
    Bits Bits { get; set; }
}

public static class BitSwitching
{
    /// <summary>Sets the active bit-width on every bit-switchable module of a model (the one call to use).</summary>
    public static T SetBits<T>(this T model, Bits bits) where T : nn.Module
    {
        if (model is IBitSwitchable self) self.Bits = bits;
        foreach (var (_, m) in model.named_modules())
            if (m is IBitSwitchable s) s.Bits = bits;
        return model;
    }
}
