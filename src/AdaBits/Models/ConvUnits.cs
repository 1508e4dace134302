using AdaBits.Kernels;
using AdaBits.Modules;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Models;

/// <summary>One conv -> switchable BN -> optional ReLU step of a plain (branch-free) chain.</summary>
internal readonly record struct ConvUnit(QConv2d Conv, SwitchableBatchNorm2d Bn, ReLU? Relu);

/// <summary>
/// The end of a residual block: the last body unit's BN output plus the shortcut of the block input (a
/// conv-BN projection, or the input itself where Projection is null), then an optional ReLU.
/// </summary>
internal readonly record struct ResidualJoin(ConvUnit? Projection, ReLU? Relu);

/// <summary>
/// One link of a chain: units in order, and for a residual block its join (then the last unit's ReLU is
/// null: its BN output goes to the add). Consecutive links without a join run as one chain of units.
/// </summary>
internal sealed record ChainLink(IReadOnlyList<ConvUnit> Units, ResidualJoin? Join = null);

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
        return Run(units, x, null, holdLastBatchNorm: false).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Runs a chain of links; the result equals calling each layer in turn (in inference up to the folded batch
    /// norms' rounding). Within a run of units, as Forward(units). Where a value is read by a residual block
    /// (its body and its shortcut) or is a residual block's output, the batch norm, the add and the ReLU that
    /// make it are held back and run together with the PACT of every conv that reads it (ResidualSum): with
    /// ReluPact in training, in one pass in inference. That needs options.fused, CPU float32 input and no
    /// FusionSuppression; otherwise each join runs through its modules.
    /// </summary>
    public static Tensor Forward(IReadOnlyList<ChainLink> links, Tensor x)
    {
        using var scope = NewDisposeScope();
        var segments = Segments(links);
        bool fuse = segments[0].Units[0].Conv.MayFuse && TensorMemory.IsFusable(x);
        var y = x;
        Tensor[]? quantized = null;   // the PACT of y by the next segment's input readers, already applied
        ResidualSum? held = null;
        ReLU? heldRelu = null;
        for (int k = 0; k < segments.Count; k++)
        {
            var (units, join) = segments[k];
            var projection = join?.Projection;
            if (held is not null)
            {
                var readers = projection is { } p ? [units[0].Conv, p.Conv] : new[] { units[0].Conv };
                (y, quantized) = Release(held, heldRelu, readers, fuse);
            }
            if (join is null && k == segments.Count - 1)
                return Run(units, y, quantized?[0], holdLastBatchNorm: false).MoveToOuterDisposeScope();
            Tensor? residual = join is null ? null
                : projection is not { } proj ? y
                : quantized is null ? proj.Conv.call(y) : proj.Conv.ForwardOnQuantizedInput(quantized[1]);
            held = new ResidualSum(Run(units, y, quantized?[0], holdLastBatchNorm: true), units[^1].Bn, residual, projection?.Bn);
            heldRelu = join is { } j ? j.Relu : units[^1].Relu;
            quantized = null;
        }
        return Release(held!, heldRelu, [], fuse).Y.MoveToOuterDisposeScope();
    }

    /// <summary>The links with each run of join-free links merged into one.</summary>
    static List<(IReadOnlyList<ConvUnit> Units, ResidualJoin? Join)> Segments(IReadOnlyList<ChainLink> links)
    {
        var segments = new List<(IReadOnlyList<ConvUnit>, ResidualJoin?)>();
        List<ConvUnit>? run = null;
        foreach (var link in links)
        {
            if (link.Join is null)
            {
                (run ??= []).AddRange(link.Units);
                continue;
            }
            if (run is not null) segments.Add((run, null));
            run = null;
            segments.Add((link.Units, link.Join));
        }
        if (run is not null) segments.Add((run, null));
        return segments;
    }

    /// <summary>relu(sum), with the readers' PACT of it where fusing (else null: each reader quantizes it itself).</summary>
    static (Tensor Y, Tensor[]? Quantized) Release(ResidualSum held, ReLU? relu, IReadOnlyList<QConv2d> readers, bool fuse)
    {
        if (fuse) return held.ReluThenQuantize(relu, readers);
        var s = held.Sum();
        return (relu is null ? s : relu.call(s), null);
    }

    /// <summary>
    /// The units from x, as Forward(units), with the first conv's input already quantized where
    /// quantizedInput is given; with holdLastBatchNorm, stops at the last conv's output.
    /// </summary>
    static Tensor Run(IReadOnlyList<ConvUnit> units, Tensor x, Tensor? quantizedInput, bool holdLastBatchNorm)
    {
        var y = x;
        var quantized = quantizedInput;
        for (int i = 0; i < units.Count; i++)
        {
            var (conv, bn, relu) = units[i];
            y = quantized is not null ? conv.ForwardOnQuantizedInput(quantized) : conv.call(y);
            quantized = null;
            if (holdLastBatchNorm && i == units.Count - 1) break;
            // a conv at 0 bits returns (an alias of) its input, which must not be written in place
            var next = relu is not null && i + 1 < units.Count ? units[i + 1].Conv : null;
            bool nextContainsRelu = next is not null && !next.DoubleSide && !next.SamePadding && next.ClipsInputAtZero(false);
            if (nextContainsRelu && conv.EffectiveBits().Bitw != 0 && next!.TryQuantizeAfterBatchNormInPlace(y, bn, false))
            {
                quantized = y;
                continue;
            }
            y = bn.call(y);
            if (relu is not null && !nextContainsRelu) y = relu.call(y);
        }
        return y;
    }
}
