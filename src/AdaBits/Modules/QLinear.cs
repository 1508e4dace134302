using AdaBits.Graph;
using static TorchSharp.torch;

namespace AdaBits.Modules;

/// <summary>
/// Linear layer with SAT weight quantization and PACT input quantization (reference §2.7). With
/// `rescale`, training scales the weight by s; evaluation leaves the weight and divides the bias by s,
/// as the reference does (logits differ by the factor s, argmax does not).
/// </summary>
public sealed class QLinear : QuantizedLayer, ILowerable
{
    public long InFeatures { get; }
    public long OutFeatures { get; }

    public QLinear(QuantOptions options, long inFeatures, long outFeatures, bool bias = true,
        int? bitwMin = null, int? bitaMin = null, bool pactFp = false, bool weightOnly = false)
        : base(nameof(QLinear), options, [outFeatures, inFeatures], outFeatures, bias, 10f, bitwMin, bitaMin, pactFp, weightOnly)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
    }

    /// <summary>
    /// The factor the last forward's logits are below training-mode logits (s in eval with rescale, else 1):
    /// multiplying by it gives a validation loss comparable with the training loss (a fix over the reference).
    /// </summary>
    public double LogitScale { get; private set; } = 1;

    protected override (bool, long) RescaleSetting => (Options.Rescale, OutFeatures);

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var (bitw, _) = EffectiveBits();
        LogitScale = 1;
        if (bitw == 0) return input.alias().MoveToOuterDisposeScope();
        bool scaleWeight = training || !Options.Rescale;
        var (w, s) = TransformedWeight(bitw, applyScale: scaleWeight);
        LogitScale = scaleWeight ? 1 : s;
        var b = bias is null || scaleWeight ? bias : bias.div(s);
        var xq = QuantizeInput(input, doubleSide: false);
        return nn.functional.linear(xq, w, b).MoveToOuterDisposeScope();
    }

    /// <summary>The input's PACT, then the layer as its eval forward computes it (the bias divided by s under rescale).</summary>
    Value ILowerable.Lower(GraphBuilder graph, Value input)
    {
        string name = graph.NameOf(this);
        var (bitw, bita) = EffectiveBits();
        if (bitw == 0) return input;
        if (input.Shape.Length != 1 || input.Channels != InFeatures)
            throw new InvalidOperationException($"{name}: expects [{InFeatures}], got [{string.Join(", ", input.Shape)}] (flatten first)");
        var x = LowerInputPact(graph, input, doubleSide: false);
        bool scaleWeight = !Options.Rescale;
        var weight = LayerWeight.Of(this, bitw, scaleWeight);
        float[]? b = null;
        if (bias is not null)
            using (no_grad())
            using (var t = scaleWeight ? bias.detach().clone() : bias.detach().div(weight.SatScale))
                b = t.contiguous().data<float>().ToArray();
        return graph.Emit(new LinearNode(weight, b, scaleWeight ? 1 : weight.SatScale, bitw, bita, alpha.numel(), input),
            name, this, [x], [OutFeatures]);
    }
}
