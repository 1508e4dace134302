using AdaBits.Modules;
using AdaBits.Quantization;
using static TorchSharp.torch;

namespace AdaBits.Export;

/// <summary>
/// Emits the eval-mode computation of one quantized building block at the bits now set on it (the model
/// is in eval mode and SetBits was called): what each module's forward computes, as ONNX operators.
/// Model exporters chain these per layer; new models (MobileNets) need only a new chain.
/// </summary>
public sealed class OnnxLayerEmitter(OnnxGraphBuilder graph)
{
    public OnnxGraphBuilder Graph { get; } = graph;

    /// <summary>
    /// QConv2d: SAME padding (if set), the input's PACT quantizer, then Conv with the weight stored as
    /// integer codes + DequantizeLinear (float at 32 bits). bits 0: the (padded) input unchanged.
    /// </summary>
    public OnnxValue EmitQConv(OnnxValue x, QConv2d conv, string name)
    {
        if (conv.SamePadding) x = EmitSamePadding(x, conv, name);
        var (bitw, bita) = conv.EffectiveBits();
        if (bitw == 0) return x;
        string input = EmitPact(x.Name, conv, bita, conv.DoubleSide, name);
        var w = ExportedWeight.Of(conv, bitw, scaleWeight: true);
        var inputs = new List<string> { input, EmitWeight(w, $"{name}.weight") };
        if (conv.bias is not null) inputs.Add(Graph.Floats($"{name}.bias", [conv.OutChannels], Values(conv.bias)));
        long k = conv.KernelSize, s = conv.Stride, p = conv.Padding, d = conv.Dilation;
        string y = Graph.Node("Conv", name, inputs,
            AttributeProto.Ints("kernel_shape", k, k),
            AttributeProto.Ints("strides", s, s),
            AttributeProto.Ints("pads", p, p, p, p),
            AttributeProto.Ints("dilations", d, d),
            AttributeProto.Int("group", conv.Groups));
        long Out(long size) => (size + 2 * p - d * (k - 1) - 1) / s + 1;
        return new OnnxValue(y, conv.OutChannels, Out(x.Height), Out(x.Width));
    }

    OnnxValue EmitSamePadding(OnnxValue x, QConv2d conv, string name)
    {
        long Total(long size)
        {
            long output = (size + conv.Stride - 1) / conv.Stride;
            return Math.Max((output - 1) * conv.Stride + (conv.KernelSize - 1) * conv.Dilation + 1 - size, 0);
        }
        long h = Total(x.Height), w = Total(x.Width);
        if (h == 0 && w == 0) return x;
        string pads = Graph.Int64s($"{name}.same_pads", 0, 0, h / 2, w / 2, 0, 0, h - h / 2, w - w / 2);
        string y = Graph.Node("Pad", $"{name}.padded", [x.Name, pads], AttributeProto.String("mode", "constant"));
        return new OnnxValue(y, x.Channels, x.Height + h, x.Width + w);
    }

    /// <summary>
    /// QLinear in eval mode: the input's PACT quantizer, then Gemm. With `rescale` the eval forward keeps the
    /// weight unscaled and divides the bias by the SAT factor s, so the logits are the training logits / s.
    /// </summary>
    public OnnxValue EmitQLinear(OnnxValue x, QLinear fc, string name)
    {
        var (bitw, bita) = fc.EffectiveBits();
        if (bitw == 0) return x;
        string input = EmitPact(x.Name, fc, bita, doubleSide: false, name);
        bool scaleWeight = !fc.LayerOptions.Rescale;
        var w = ExportedWeight.Of(fc, bitw, scaleWeight);
        var inputs = new List<string> { input, EmitWeight(w, $"{name}.weight") };
        if (fc.bias is not null)
        {
            using var _ = no_grad();
            using var b = scaleWeight ? fc.bias.detach().clone() : fc.bias.detach().div(w.SatScale);
            inputs.Add(Graph.Floats($"{name}.bias", [fc.OutFeatures], Values(b)));
        }
        string y = Graph.Node("Gemm", name, inputs, AttributeProto.Int("transB", 1));
        return new OnnxValue(y, fc.OutFeatures);
    }

    /// <summary>
    /// The PACT quantizer on a layer's input, as the layer's forward applies it at activation bits bita:
    /// nothing when the layer does not quantize activations (weight_only, bits 32) and has no pact_fp;
    /// the clip alone for pact_fp; for single-sided `original` up to 16 bits,
    /// Clip(0, |alpha|) -> QuantizeLinear(|alpha| / (2^b - 1), zero point 0, uint8/uint16) -> DequantizeLinear
    /// (round half to even, as the reference); other schemes and double-sided PACT as the exact float staircase
    /// the kernel computes (Div, Mul, Round or Floor/Min, Mul).
    /// </summary>
    public string EmitPact(string x, QuantizedLayer layer, int bita, bool doubleSide, string name)
    {
        bool quantize = bita < 32 && !layer.WeightOnly;
        if (!quantize && !layer.PactFp) return x;
        float a = layer.ClipLevel(bita);
        if (!(a > 0) || !float.IsFinite(a))
            throw new NotSupportedException($"{name}: clipping level |alpha| = {a} cannot be exported (PACT divides by it)");
        string hi = Graph.Scalar($"{name}.alpha", a);
        string lo = doubleSide ? Graph.Scalar($"{name}.neg_alpha", -a) : Graph.Scalar($"{name}.zero", 0f);
        string c = Graph.Node("Clip", $"{name}.clipped", [x, lo, hi]);
        if (!quantize) return c;
        var scheme = layer.LayerOptions.ActScheme;
        if (!doubleSide && scheme == QuantScheme.Original && bita <= 16)
        {
            float levels = QuantSchemes.Divisor(scheme, bita);
            string scale = Graph.Scalar($"{name}.act_scale", a / levels);
            var type = bita <= 8 ? OnnxDataType.UInt8 : OnnxDataType.UInt16;
            string zp = Graph.Integers($"{name}.act_zero_point", [], type, [0]);
            string q = Graph.Node("QuantizeLinear", $"{name}.act_codes", [c, scale, zp]);
            return Graph.Node("DequantizeLinear", $"{name}.act_quantized", [q, scale, zp]);
        }
        // the kernel's float32 operations, in its order
        string u = Graph.Node("Div", $"{name}.act_u", [c, hi]);
        if (doubleSide)
        {
            u = Graph.Node("Add", $"{name}.act_u1", [u, Graph.Scalar($"{name}.one", 1f)]);
            u = Graph.Node("Mul", $"{name}.act_uh", [u, Graph.Scalar($"{name}.half", 0.5f)]);
        }
        string stairs = EmitStaircase(u, scheme, bita, name);
        if (!doubleSide) return Graph.Node("Mul", $"{name}.act_quantized", [stairs, hi]);
        string two = Graph.Node("Mul", $"{name}.act_2q", [stairs, Graph.Scalar($"{name}.two", 2f)]);
        string signed = Graph.Node("Sub", $"{name}.act_2q1", [two, Graph.Scalar($"{name}.one", 1f)]);
        return Graph.Node("Mul", $"{name}.act_quantized", [hi, signed]);
    }

    /// <summary>q_k(u) on [0, 1] as float32 operations (Staircase.Apply).</summary>
    string EmitStaircase(string u, QuantScheme scheme, int bits, string name)
    {
        float a = QuantSchemes.Divisor(scheme, bits);
        string av = Graph.Scalar($"{name}.levels", a);
        string scaled = Graph.Node("Mul", $"{name}.act_ua", [u, av]);
        if (scheme == QuantScheme.Original)
            return Graph.Node("Div", $"{name}.act_q", [Graph.Node("Round", $"{name}.act_k", [scaled]), av]);
        string k = Graph.Node("Min", $"{name}.act_k", [Graph.Node("Floor", $"{name}.act_floor", [scaled]), Graph.Scalar($"{name}.top", a - 1f)]);
        if (scheme == QuantScheme.Centered) k = Graph.Node("Add", $"{name}.act_kc", [k, Graph.Scalar($"{name}.half", 0.5f)]);
        return Graph.Node("Mul", $"{name}.act_q", [k, Graph.Scalar($"{name}.inv_levels", 1f / a)]);
    }

    /// <summary>
    /// The weight as an initializer: float, or integer codes -> DequantizeLinear. `modified`: one DequantizeLinear
    /// (scale 2 s / 2^b, exact). `original`/`centered`: DequantizeLinear(scale 1) gives k as float, then the
    /// quantizer's float operations (k / a or (k + 1/2) / a, 2 q - 1, times s), bit-identical to the forward's
    /// weight. All of it is constant: runtimes fold it at load time.
    /// </summary>
    public string EmitWeight(ExportedWeight w, string name)
    {
        if (!w.IsQuantized) return Graph.Floats(name, w.Dims, w.FloatValues);
        string codes = Graph.Integers($"{name}.codes", w.Dims, w.CodeType, w.Codes);
        string zp = Graph.Integers($"{name}.zero_point", [], w.CodeType, [0]);
        if (w.Scheme == QuantScheme.Modified)
            return Graph.Node("DequantizeLinear", name, [codes, Graph.Scalar($"{name}.scale", w.Scale), zp]);
        string k = Graph.Node("DequantizeLinear", $"{name}.levels", [codes, Graph.Scalar($"{name}.one", 1f), zp]);
        string q = w.Scheme == QuantScheme.Original
            ? Graph.Node("Div", $"{name}.q", [k, Graph.Scalar($"{name}.a", w.Levels)])
            : Graph.Node("Mul", $"{name}.q", [Graph.Node("Add", $"{name}.k_half", [k, Graph.Scalar($"{name}.half", 0.5f)]),
                Graph.Scalar($"{name}.inv_a", 1f / w.Levels)]);
        string twoQ = Graph.Node("Mul", $"{name}.2q", [q, Graph.Scalar($"{name}.two", 2f)]);
        if (w.WeightScale == 1f) return Graph.Node("Sub", name, [twoQ, Graph.Scalar($"{name}.one", 1f)]);
        string unscaled = Graph.Node("Sub", $"{name}.unscaled", [twoQ, Graph.Scalar($"{name}.one", 1f)]);
        return Graph.Node("Mul", name, [unscaled, Graph.Scalar($"{name}.sat_scale", w.WeightScale)]);
    }

    /// <summary>The active SwitchBN copy in eval mode, folded into a per-channel Mul and Add (as the fused kernel computes it).</summary>
    public OnnxValue EmitBatchNorm(OnnxValue x, SwitchableBatchNorm2d bn, string name)
    {
        var (scale, shift) = bn.EvalAffine();
        long[] dims = [1, bn.NumFeatures, 1, 1];
        string m = Graph.Node("Mul", $"{name}.scaled", [x.Name, Graph.Floats($"{name}.scale", dims, scale)]);
        return x.With(Graph.Node("Add", name, [m, Graph.Floats($"{name}.shift", dims, shift)]));
    }

    public OnnxValue EmitRelu(OnnxValue x, string name) => x.With(Graph.Node("Relu", name, [x.Name]));

    public OnnxValue EmitAdd(OnnxValue a, OnnxValue b, string name) => a.With(Graph.Node("Add", name, [a.Name, b.Name]));

    /// <summary>AdaptiveAvgPool2d(1) then flatten(1): [N, C, H, W] -> [N, C].</summary>
    public OnnxValue EmitGlobalAveragePoolFlatten(OnnxValue x, string name)
    {
        string p = Graph.Node("GlobalAveragePool", $"{name}.pooled", [x.Name]);
        return new OnnxValue(Graph.Node("Flatten", name, [p], AttributeProto.Int("axis", 1)), x.Channels);
    }

    static float[] Values(Tensor t) => t.detach().contiguous().to(CPU).data<float>().ToArray();
}
