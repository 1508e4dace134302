using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Modules;

/// <summary>
/// Puts a model in eval mode at one bit-width and, when disposed, gives every module back its own mode and bits,
/// so lowering or profiling a model in the middle of training leaves it as it was.
/// </summary>
internal sealed class EvalModeScope : IDisposable
{
    readonly List<(nn.Module Module, bool Training)> modes;
    readonly List<(IBitSwitchable Module, Bits Bits)> bits;

    public EvalModeScope(nn.Module model, Bits active)
    {
        var all = model.named_modules().Select(m => m.module).Prepend(model).Distinct().ToList();
        modes = all.Select(m => (m, m.training)).ToList();
        bits = all.OfType<IBitSwitchable>().Select(m => (m, m.Bits)).ToList();
        model.eval();
        model.SetBits(active);
    }

    public void Dispose()
    {
        foreach (var (m, b) in bits) m.Bits = b;
        foreach (var (m, t) in modes) m.train(t);
    }
}
