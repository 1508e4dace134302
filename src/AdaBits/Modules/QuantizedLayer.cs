using AdaBits.Kernels;
using AdaBits.Graph;
using AdaBits.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Modules;

/// <summary>
/// What QConv2d and QLinear share (reference §2.2-2.5): latent weight, optional bias, PACT clipping
/// level(s) alpha, the active bits with per-layer floors, and a per-bit-width cache of the transformed
/// weight for inference.
/// </summary>
public abstract class QuantizedLayer : nn.Module<Tensor, Tensor>, IBitSwitchable
{
    protected readonly QuantOptions Options;
    public Parameter weight { get; }
    public Parameter? bias { get; }
    public Parameter alpha { get; }

    public int? BitwMin { get; }
    public int? BitaMin { get; }
    public bool WeightOnly { get; }
    public bool PactFp { get; }
    public Bits Bits { get; set; }

    readonly Dictionary<int, CachedWeight> evalCache = new();

    sealed record CachedWeight(Tensor Snapshot, Tensor Weight, double Scale);

    protected QuantizedLayer(string name, QuantOptions options, long[] weightShape, long biasSize, bool hasBias,
        float alphaInit, int? bitwMin, int? bitaMin, bool pactFp, bool weightOnly) : base(name)
    {
        Options = options;
        BitwMin = bitwMin;
        BitaMin = bitaMin;
        PactFp = pactFp;
        WeightOnly = weightOnly || options.WeightOnly;
        Bits = options.DefaultBits;
        weight = new Parameter(empty(weightShape));
        register_parameter("weight", weight);
        if (hasBias)
        {
            bias = new Parameter(empty(biasSize));
            register_parameter("bias", bias);
        }
        alpha = new Parameter(options.SwitchAlpha ? full(options.BitsList.Count, alphaInit) : tensor(alphaInit));
        register_parameter("alpha", alpha);
        ResetParametersPyTorchDefault();
    }

    /// <summary>PyTorch's default init for conv/linear: Kaiming-uniform (a = sqrt 5) weight, uniform bias.</summary>
    void ResetParametersPyTorchDefault()
    {
        using var _ = no_grad();
        nn.init.kaiming_uniform_(weight, Math.Sqrt(5));
        if (bias is not null)
        {
            long fanIn = weight.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            double bound = fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
            nn.init.uniform_(bias, -bound, bound);
        }
    }

    /// <summary>Effective (bitw, bita) after the per-layer floors and weight_only (reference §2.2).</summary>
    public (int Bitw, int Bita) EffectiveBits()
    {
        int bw = BitwMin is int wmin ? Math.Max(Bits.Weight, wmin) : Bits.Weight;
        int ba = BitaMin is int amin ? Math.Max(Bits.Activation, amin) : Bits.Activation;
        if (WeightOnly) ba = 32;
        return (bw, ba);
    }

    /// <summary>The settings this layer was built with (for the ONNX exporter).</summary>
    internal QuantOptions LayerOptions => Options;

    /// <summary>The eval-mode transformed weight at bitw and the SAT scale s (for the ONNX exporter).</summary>
    internal (Tensor Weight, double Scale) WeightForExport(int bitw, bool applyScale) => TransformedWeight(bitw, applyScale);

    /// <summary>|alpha| as the forward at the current bits uses it for activation bits bita (for the ONNX exporter).</summary>
    internal float ClipLevel(int bita)
    {
        using var _ = no_grad();
        using var a = SelectedAlpha(bita);
        return MathF.Abs(a.item<float>());
    }

    /// <summary>
    /// The lowered form of this layer's input PACT at the current bits (nothing where the forward passes its input
    /// unclipped): the same decision as the forward's (InputClip), with |alpha| as a number.
    /// </summary>
    internal Value LowerInputPact(GraphBuilder graph, Value x, bool doubleSide)
    {
        if (InputClip(doubleSide) is not var (spec, bita)) return x;
        string name = graph.NameOf(this);
        float a = ClipLevel(bita);
        if (!(a > 0) || !float.IsFinite(a))
            throw new NotSupportedException($"{name}: clipping level |alpha| = {a} cannot be lowered (PACT divides by it)");
        return graph.Emit(Options.ActivationQuantizer.Lower(a, spec), name, this, [x], x.Shape);
    }

    /// <summary>Whether this layer type rescales (`rescale_conv` for convs, `rescale` for linears) and its fan-out.</summary>
    protected abstract (bool Enabled, long FanOut) RescaleSetting { get; }

    /// <summary>Target sigma* for SAT rescaling (constant: 1/sqrt(fan-out); stddev: std of W), or null.</summary>
    double? RescaleTarget()
    {
        var (enabled, fanOut) = RescaleSetting;
        if (!enabled) return null;
        return Options.RescaleType == RescaleType.Constant
            ? WeightTransform.ConstantTarget(fanOut)
            : weight.detach().std().item<float>();
    }

    /// <summary>PACT on the input when the layer quantizes activations or has pact_fp.</summary>
    protected Tensor QuantizeInput(Tensor x, bool doubleSide)
    {
        if (InputClip(doubleSide) is not var (spec, bita)) return x.alias();
        using var a = SelectedAlpha(bita);
        if (ClipCalibration is { } pick && spec.Quantize && pick(x, spec) is float level)
        {
            using var _ = no_grad();
            a.fill_(level);
        }
        return Options.ActivationQuantizer.Apply(x, a, spec, Options.Fused ? null : false);
    }

    /// <summary>
    /// Set only while AlphaCalibration runs the model: given this layer's input and its quantizer at the current
    /// bits, the clipping level to store for them before the input is quantized (null leaves alpha as it is).
    /// </summary>
    internal Func<Tensor, PactSpec, float?>? ClipCalibration { get; set; }

    /// <summary>
    /// The PACT this layer's forward applies to its input at the current bits, and the effective activation
    /// bits that pick its alpha; null where the input passes unclipped (0 bits, or neither quantized
    /// activations nor pact_fp). The one place that decides it, for the forward and for every fused path.
    /// </summary>
    (PactSpec Spec, int Bita)? InputClip(bool doubleSide)
    {
        var (bitw, bita) = EffectiveBits();
        bool quantizeActs = bita < 32 && !WeightOnly;
        if (bitw == 0 || (!quantizeActs && !PactFp)) return null;
        if (quantizeActs) QuantSchemes.CheckBits(bita);
        return (new PactSpec(doubleSide, quantizeActs, Options.ActScheme, quantizeActs ? bita : 0), bita);
    }

    /// <summary>The clipping parameter as stored, at activation bits bita: one entry of the vector under switch_alpha.</summary>
    Tensor SelectedAlpha(int bita) => Options.SwitchAlpha ? alpha[Options.AlphaIndex(Bits, bita)] : alpha.alias();

    /// <summary>
    /// For a caller that applies this layer's input PACT itself (fused with the ReLU before it, see ReluPact):
    /// the clipping parameter selected at the current bits and the PACT to apply; null where the forward
    /// would not clip its input (0 bits, or neither quantized activations nor pact_fp), or where the
    /// activation part is not PACT (see PactClip).
    /// </summary>
    internal (Tensor Alpha, PactSpec Spec)? InputPact(bool doubleSide) =>
        PactClip(doubleSide) is var (spec, bita) ? (SelectedAlpha(bita), spec) : null;

    /// <summary>
    /// InputClip for the shared fast paths that compute PACT themselves (ReLU with the next PACTs, BN + PACT in
    /// place, the ReLU skipped before a single-sided clip): null where the activation part is not PACT, so such a
    /// layer always quantizes its input through the part's own Apply.
    /// </summary>
    (PactSpec Spec, int Bita)? PactClip(bool doubleSide) => Options.ActivationQuantizer.IsPact ? InputClip(doubleSide) : null;

    /// <summary>Whether a fused path may replace module calls now: options.fused, outside FusionSuppression.Enter().</summary>
    internal bool MayFuse => Options.Fused && !FusionSuppression.Active;

    /// <summary>
    /// Inference fast path: when y (a fresh tensor nothing else reads) is the input of batch norm `bn`
    /// whose output only this layer reads, applies BN and this layer's PACT to y in one in-place pass.
    /// Returns false (touching nothing) where that does not apply: training, autograd, other devices, and
    /// inside FusionSuppression.Enter() (the profiler, which needs every module called).
    /// </summary>
    internal unsafe bool TryQuantizeAfterBatchNormInPlace(Tensor y, SwitchableBatchNorm2d bn, bool doubleSide)
    {
        if (!MayFuse || training || bn.training || PactClip(doubleSide) is not var (spec, bita)) return false;
        if (is_grad_enabled() && (y.requires_grad || alpha.requires_grad)) return false;
        if (!TensorMemory.IsFusable(y) || !y.is_contiguous() || y.dim() != 4 || y.shape[1] != bn.NumFeatures) return false;
        using var alphaNow = SelectedAlpha(bita);
        float a = MathF.Abs(alphaNow.item<float>());
        var (scale, shift) = bn.EvalAffine();
        PactKernel.ForwardAffine(TensorMemory.Ptr(y), y.shape[0] * y.shape[1], y.shape[2] * y.shape[3], scale, shift, a, spec);
        return true;
    }

    /// <summary>
    /// The weight for the forward at bitw, and the SAT scale s. With applyScale false the weight is left
    /// unscaled (the linear layer's eval mode divides its bias by s instead).
    /// </summary>
    protected (Tensor Weight, double Scale) TransformedWeight(int bitw, bool applyScale)
    {
        var spec = new WeightSpec(bitw, Options.WeightScheme, Options.Clamp, RescaleTarget(), applyScale);
        bool cacheable = !training && !(is_grad_enabled() && weight.requires_grad);
        if (!cacheable)
        {
            if (evalCache.Count > 0) DropCache();
            return Options.WeightQuantizer.Apply(weight, spec, Options.Fused ? null : false);
        }
        int key = bitw * 2 + (applyScale ? 1 : 0);
        if (evalCache.TryGetValue(key, out var hit))
        {
            if (SameValues(hit.Snapshot, weight))
                return (hit.Weight.alias(), hit.Scale);
            DropCache();
        }
        var (w, s) = Options.WeightQuantizer.Apply(weight, spec, Options.Fused ? null : false);
        var entry = new CachedWeight(weight.detach().clone().DetachFromDisposeScope(), w.detach().DetachFromDisposeScope(), s);
        evalCache[key] = entry;
        return (w.alias(), s);
    }

    /// <summary>Whether the weight still holds the values the cache was made from (a memcmp on CPU).</summary>
    static bool SameValues(Tensor snapshot, Tensor current)
    {
        if (!snapshot.shape.SequenceEqual(current.shape)) return false;
        if (current.device_type == DeviceType.CPU && current.is_contiguous())
            return snapshot.bytes.SequenceEqual(current.bytes);
        return snapshot.allclose(current, rtol: 0, atol: 0);
    }

    /// <summary>
    /// True when the input goes through single-sided PACT at the current bits: that clip contains a ReLU,
    /// so a ReLU right before this layer (whose output nothing else reads) can be skipped, exactly.
    /// </summary>
    public bool ClipsInputAtZero(bool doubleSide) => !doubleSide && PactClip(doubleSide) is not null;

    void DropCache()
    {
        foreach (var c in evalCache.Values) { c.Snapshot.Dispose(); c.Weight.Dispose(); }
        evalCache.Clear();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) DropCache();
        base.Dispose(disposing);
    }
}
