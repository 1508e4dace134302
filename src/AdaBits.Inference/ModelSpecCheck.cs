namespace AdaBits.Inference;

/// <summary>A tensor's per-image shape (channels, height, width); a flattened tensor has H = W = 1.</summary>
internal readonly record struct TensorShape(int C, int H, int W)
{
    public int Elements => C * H * W;
}

/// <summary>Checks a <see cref="ModelSpec"/> and derives every tensor's shape; errors name the layer and field.</summary>
internal static class ModelSpecCheck
{
    public static TensorShape[] Shapes(ModelSpec spec)
    {
        if (spec.BitsList.Length == 0) throw Bad("bits_list is empty");
        if (spec.Layers.Count == 0) throw Bad("the model has no layers");
        var shapes = new Dictionary<int, TensorShape> { [0] = new(spec.InputChannels, spec.InputHeight, spec.InputWidth) };
        int slots = spec.BitsList.Length;
        for (int li = 0; li < spec.Layers.Count; li++)
        {
            var l = spec.Layers[li];
            string at = $"layer {li} '{l.Name}'";
            if (!shapes.TryGetValue(l.Input, out var input)) throw Bad($"{at}: input tensor {l.Input} is not produced by an earlier layer");
            if (l.Output <= 0 || shapes.ContainsKey(l.Output)) throw Bad($"{at}: output tensor {l.Output} must be new and > 0");
            TensorShape output;
            switch (l.Op)
            {
                case LayerOp.GlobalAvgPool:
                    output = new TensorShape(input.C, 1, 1);
                    break;
                case LayerOp.Conv2d:
                case LayerOp.Linear:
                    if (l.Op == LayerOp.Linear && (l.KernelH != 1 || l.KernelW != 1 || l.Groups != 1 || input.H != 1 || input.W != 1))
                        throw Bad($"{at}: a linear layer needs a flattened (N, C) input and no kernel/groups");
                    if (l.InChannels != input.C) throw Bad($"{at}: in_channels {l.InChannels} but input tensor {l.Input} has {input.C} channels");
                    if (l.Groups < 1 || l.InChannels % l.Groups != 0 || l.OutChannels % l.Groups != 0)
                        throw Bad($"{at}: groups {l.Groups} must divide in_channels {l.InChannels} and out_channels {l.OutChannels}");
                    if (l.Groups != 1 && !l.IsDepthwise) throw Bad($"{at}: only groups 1 or depthwise (groups = in = out channels) are supported");
                    int oh = (input.H + 2 * l.PadH - l.KernelH) / l.StrideH + 1, ow = (input.W + 2 * l.PadW - l.KernelW) / l.StrideW + 1;
                    if (l.KernelH < 1 || l.KernelW < 1 || l.StrideH < 1 || l.StrideW < 1 || l.PadH < 0 || l.PadW < 0 || oh < 1 || ow < 1)
                        throw Bad($"{at}: kernel {l.KernelH}x{l.KernelW} stride {l.StrideH}x{l.StrideW} pad {l.PadH}x{l.PadW} does not fit a {input.H}x{input.W} input");
                    output = new TensorShape(l.OutChannels, oh, ow);
                    CheckWeights(l, at, slots);
                    break;
                default:
                    throw Bad($"{at}: unknown op {(int)l.Op}");
            }
            if (l.Residual >= 0)
            {
                if (l.Op == LayerOp.GlobalAvgPool) throw Bad($"{at}: a pool has no residual");
                if (!shapes.TryGetValue(l.Residual, out var r) || r != output)
                    throw Bad($"{at}: residual tensor {l.Residual} is missing or its shape differs from the output {output}");
            }
            shapes[l.Output] = output;
        }
        var list = new TensorShape[shapes.Keys.Max() + 1];
        foreach (var (k, v) in shapes) list[k] = v;
        return list;
    }

    static void CheckWeights(LayerSpec l, string at, int slots)
    {
        Count(l.WeightBits, slots, at, "weight_bits");
        Count(l.SatScale, slots, at, "sat_scale");
        foreach (int b in l.WeightBits)
            if (b < 1 || b > 8) throw Bad($"{at}: weight bits {b} outside 1..8");
        int top = l.WeightBits.Max();
        IEnumerable<int> needed = QuantMath.Nested(l.WeightScheme) ? [top] : l.WeightBits.Distinct();
        foreach (int b in needed)
        {
            if (!l.WeightLevels.TryGetValue(b, out var k)) throw Bad($"{at}: no weight levels for {b} bits");
            if (k.Length != l.WeightCount) throw Bad($"{at}: weight levels for {b} bits have {k.Length} entries, expected {l.WeightCount}");
            for (int i = 0; i < k.Length; i++)
                if (k[i] >> b != 0) throw Bad($"{at}: weight level {k[i]} at index {i} does not fit {b} bits");
        }
        if (QuantMath.Nested(l.WeightScheme))
            foreach (var (b, k) in l.WeightLevels)
                if (b < top && l.WeightBits.Contains(b))
                {
                    var t = l.WeightLevels[top];
                    for (int i = 0; i < k.Length; i++)
                        if (k[i] != t[i] >> (top - b))
                            throw Bad($"{at}: {b}-bit weight level at index {i} is {k[i]}, not the {top}-bit level {t[i]} >> {top - b}: the tanh normalisation is not shared");
                }
        if (l.BnScale is not null || l.BnShift is not null)
        {
            if (l.BnScale is null || l.BnShift is null) throw Bad($"{at}: bn_scale and bn_shift come together");
            Count(l.BnScale, slots, at, "bn_scale");
            Count(l.BnShift, slots, at, "bn_shift");
            for (int s = 0; s < slots; s++)
            {
                Count(l.BnScale[s], l.OutChannels, at, $"bn_scale[{s}]");
                Count(l.BnShift[s], l.OutChannels, at, $"bn_shift[{s}]");
            }
        }
        if (l.Bias is not null) Count(l.Bias, l.OutChannels, at, "bias");
        if (l.BiasDivisor is not null) Count(l.BiasDivisor, slots, at, "bias_divisor");
        if (l.InputQuant is { } q)
        {
            Count(q.Alpha, slots, at, "input_quant.alpha");
            Count(q.Bits, slots, at, "input_quant.bits");
            foreach (int b in q.Bits)
                if (b < 1 || b > 8) throw Bad($"{at}: activation bits {b} outside 1..8 (unquantized activations: give no input_quant)");
            foreach (float a in q.Alpha)
                if (!(MathF.Abs(a) > 0) || !float.IsFinite(a)) throw Bad($"{at}: alpha {a} must be finite and non-zero");
        }
        else if (l.Groups != 1)
            throw Bad($"{at}: a depthwise conv needs a quantized input (input_quant)");
    }

    static void Count<T>(T[]? a, int n, string at, string field)
    {
        if (a is null || a.Length != n) throw Bad($"{at}: {field} has {a?.Length ?? 0} entries, expected {n}");
    }

    static InvalidDataException Bad(string message) => new(message);
}
