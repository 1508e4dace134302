using AdaBits.Modules;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Models;

/// <summary>One conv -> switchable BN -> optional ReLU step of a plain (branch-free) chain.</summary>
internal readonly record struct ConvUnit(QConv2d Conv, SwitchableBatchNorm2d Bn, ReLU? Relu);

internal static class ConvUnits
{
    /// <summary>
    /// Views over a reference-style Sequential of [conv, BN, (ReLU)]* layers, in order.
    /// </summary>
    public static IEnumerable<ConvUnit> Of(Sequential seq)
    {
        var layers = seq.children().ToArray();
        for (int i = 0; i < layers.Length;)
        {
            var conv = (QConv2d)layers[i];
            var bn = (SwitchableBatchNorm2d)layers[i + 1];
            ReLU? relu = i + 2 < layers.Length && layers[i + 2] is ReLU r ? r : null;
            yield return new ConvUnit(conv, bn, relu);
            i += relu is null ? 2 : 3;
        }
    }

    /// <summary>
    /// Runs the units in order; the result equals calling each layer in turn. Where a ReLU feeds the next conv
    /// and that conv's single-sided PACT clip already contains it, the ReLU is skipped (exact, also for
    /// gradients), and in inference BN plus that PACT run as one in-place pass over the fresh conv output.
    /// A double-sided next conv never takes either shortcut (its clip would not contain the ReLU).
    /// </summary>
    public static Tensor Forward(IReadOnlyList<ConvUnit> units, Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = x;
        bool quantized = false;
        for (int i = 0; i < units.Count; i++)
        {
            var (conv, bn, relu) = units[i];
            y = quantized ? conv.ForwardOnQuantizedInput(y) : conv.call(y);
            quantized = false;
            // a conv at 0 bits returns (an alias of) its input, which must not be written in place
            var next = relu is not null && i + 1 < units.Count ? units[i + 1].Conv : null;
            bool nextContainsRelu = next is not null && !next.DoubleSide && !next.SamePadding && next.ClipsInputAtZero(false);
            if (nextContainsRelu && conv.EffectiveBits().Bitw != 0 && next!.TryQuantizeAfterBatchNormInPlace(y, bn, false))
            {
                quantized = true;
                continue;
            }
            y = bn.call(y);
            if (relu is not null && !nextContainsRelu) y = relu.call(y);
        }
        return y.MoveToOuterDisposeScope();
    }
}
