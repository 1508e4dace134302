using AdaBits.Graph;
using AdaBits.Quantization;
using static AdaBits.Export.OnnxGraphBuilder;

namespace AdaBits.Export;

/// <summary>
/// Writes the nodes of a lowered (and folded) graph as ONNX operators, one node type at a time; it knows nothing of
/// models or module names beyond each node's Name, which prefixes the ONNX names.
/// </summary>
internal sealed class OnnxNodeWriter(OnnxGraphBuilder graph)
{
    readonly Dictionary<int, string> names = new();

    /// <summary>Writes every node; the graph input is named <paramref name="inputName"/>; returns the output's ONNX name.</summary>
    public string Write(LoweredGraph lowered, string inputName)
    {
        names[lowered.Input.Id] = inputName;
        foreach (var node in lowered.Nodes)
            names[node.Output.Id] = node switch
            {
                PadNode p => Pad(p),
                PactNode p => Pact(p),
                ConvNode c => Conv(c),
                LinearNode l => Linear(l),
                AffineNode a => Affine(a),
                BatchNormNode b => Affine(new AffineNode(b.Scale, b.Shift) { Name = b.Name, Inputs = b.Inputs, Output = b.Output }),
                ReluNode { Max: null } r => graph.Node("Relu", r.Name, [In(r)]),
                ReluNode r => graph.Node("Clip", r.Name, [In(r), graph.Scalar($"{r.Name}.zero", 0f), graph.Scalar($"{r.Name}.max", r.Max!.Value)]),
                AddNode a => graph.Node("Add", a.Name, [In(a), names[a.Inputs[1].Id]]),
                AvgPoolNode { Global: true } p => graph.Node("GlobalAveragePool", $"{p.Name}.pooled", [In(p)]),
                AvgPoolNode p => graph.Node("AveragePool", p.Name, [In(p)], Ints("kernel_shape", p.KernelSize, p.KernelSize),
                    Ints("strides", p.Stride, p.Stride)),
                FlattenNode f => graph.Node("Flatten", f.Name, [In(f)], Int("axis", 1)),
                _ => throw new NotSupportedException($"{node.Name}: ONNX export has no writer for {node.GetType().Name}"),
            };
        return names[lowered.Output.Id];
    }

    string In(Node n) => names[n.Input.Id];

    string Pad(PadNode p)
    {
        string pads = graph.Int64s($"{p.Name}.same_pads", 0, 0, p.Top, p.Left, 0, 0, p.Bottom, p.Right);
        return graph.Node("Pad", $"{p.Name}.padded", [In(p), pads], OnnxGraphBuilder.String("mode", "constant"));
    }

    /// <summary>
    /// The PACT quantizer, in the kernel's float32 operations so that ONNX Runtime picks the same codes: the clip
    /// alone for pact_fp; single-sided up to 16 bits where q = round(u a) / a (`original`), Clip(0, alpha) -> Div(alpha)
    /// -> Mul(a) -> QuantizeLinear(scale 1, zero point 0, uint8/uint16: the codes k, round half to even as the
    /// reference) -> DequantizeLinear -> Div(a) -> Mul(alpha); other schemes and double-sided PACT as the float
    /// staircase (Div, Mul, Round or Floor/Min, Add offset, Mul by 1 / a or Div by a).
    /// </summary>
    string Pact(PactNode p)
    {
        string name = p.Name;
        string hi = graph.Scalar($"{name}.alpha", p.Alpha);
        string lo = p.DoubleSide ? graph.Scalar($"{name}.neg_alpha", -p.Alpha) : graph.Scalar($"{name}.zero", 0f);
        string c = graph.Node("Clip", $"{name}.clipped", [In(p), lo, hi]);
        if (!p.Quantizes) return c;
        var st = p.Scheme.At(p.Bits);
        if (!p.DoubleSide && st.IsRoundToDivisor && p.Bits <= 16)
        {
            // k = round((c / alpha) * a) exactly as the kernel rounds it: QuantizeLinear at scale 1 on the kernel's own
            // argument. (QuantizeLinear at scale alpha / a would divide by a rounded scale and pick the neighbouring
            // code near rounding boundaries: measured on a MobileNet V1 at 8 bits, 2 top-1 changes in 1000 images.)
            string one = graph.Scalar($"{name}.one", 1f);
            var type = p.Bits <= 8 ? OnnxDataType.UInt8 : OnnxDataType.UInt16;
            string zp = graph.Integers($"{name}.act_zero_point", [], type, [0]);
            string levels = graph.Scalar($"{name}.levels", p.Divisor);
            string ua = graph.Node("Mul", $"{name}.act_ua", [graph.Node("Div", $"{name}.act_u", [c, hi]), levels]);
            string codes = graph.Node("QuantizeLinear", $"{name}.act_codes", [ua, one, zp]);
            string k = graph.Node("DequantizeLinear", $"{name}.act_k", [codes, one, zp]);
            return graph.Node("Mul", $"{name}.act_quantized", [graph.Node("Div", $"{name}.act_q", [k, levels]), hi]);
        }
        // the kernel's float32 operations, in its order
        string u = graph.Node("Div", $"{name}.act_u", [c, hi]);
        if (p.DoubleSide)
        {
            u = graph.Node("Add", $"{name}.act_u1", [u, graph.Scalar($"{name}.one", 1f)]);
            u = graph.Node("Mul", $"{name}.act_uh", [u, graph.Scalar($"{name}.half", 0.5f)]);
        }
        string stairs = Staircase(u, st, name);
        if (!p.DoubleSide) return graph.Node("Mul", $"{name}.act_quantized", [stairs, hi]);
        string two = graph.Node("Mul", $"{name}.act_2q", [stairs, graph.Scalar($"{name}.two", 2f)]);
        string signed = graph.Node("Sub", $"{name}.act_2q1", [two, graph.Scalar($"{name}.one", 1f)]);
        return graph.Node("Mul", $"{name}.act_quantized", [hi, signed]);
    }

    /// <summary>q_k(u) on [0, 1] as float32 operations (Staircase.Apply).</summary>
    string Staircase(string u, Staircase st, string name)
    {
        string av = graph.Scalar($"{name}.levels", st.Scale);
        string scaled = graph.Node("Mul", $"{name}.act_ua", [u, av]);
        string k = st.Rounding == LevelRounding.HalfEven
            ? graph.Node("Round", $"{name}.act_k", [scaled])
            : graph.Node("Min", $"{name}.act_k", [graph.Node("Floor", $"{name}.act_floor", [scaled]), graph.Scalar($"{name}.top", st.Top)]);
        if (st.HasOffset) k = graph.Node("Add", $"{name}.act_kc", [k, graph.Scalar($"{name}.half", st.Offset)]);
        return Quotient(k, st, $"{name}.act_q", () => st.Divisor == st.Scale ? av : graph.Scalar($"{name}.divisor", st.Divisor),
            $"{name}.inv_levels");
    }

    /// <summary>k / Divisor in the staircase's float32 form: Mul by the exact 1 / Divisor where it is a power of two, else Div.</summary>
    string Quotient(string k, Staircase st, string output, Func<string> divisor, string inverseName) =>
        st.MultipliesByInverse
            ? graph.Node("Mul", output, [k, graph.Scalar(inverseName, st.InverseDivisor)])
            : graph.Node("Div", output, [k, divisor()]);

    string Conv(ConvNode c)
    {
        var inputs = new List<string> { In(c), Weight(c.Weight, $"{c.Name}.weight") };
        if (c.Bias is not null) inputs.Add(graph.Floats($"{c.Name}.bias", [c.OutChannels], c.Bias));
        long k = c.KernelSize, s = c.Stride, p = c.Padding, d = c.Dilation;
        return graph.Node("Conv", c.Name, inputs, Ints("kernel_shape", k, k), Ints("strides", s, s), Ints("pads", p, p, p, p),
            Ints("dilations", d, d), Int("group", c.Groups));
    }

    string Linear(LinearNode l)
    {
        var inputs = new List<string> { In(l), Weight(l.Weight, $"{l.Name}.weight") };
        if (l.Bias is not null) inputs.Add(graph.Floats($"{l.Name}.bias", [l.OutFeatures], l.Bias));
        return graph.Node("Gemm", l.Name, inputs, Int("transB", 1));
    }

    /// <summary>A per-channel Mul and Add (a folded batch norm, as the fused kernel computes it).</summary>
    string Affine(AffineNode a)
    {
        long[] dims = [1, a.Scale.Length, 1, 1];
        string m = graph.Node("Mul", $"{a.Name}.scaled", [In(a), graph.Floats($"{a.Name}.scale", dims, a.Scale)]);
        return graph.Node("Add", a.Name, [m, graph.Floats($"{a.Name}.shift", dims, a.Shift)]);
    }

    /// <summary>
    /// The weight as an initializer: float, or integer codes -> DequantizeLinear. Signed codes (`modified`): one
    /// DequantizeLinear (scale 2 s / 2^b, exact). Unsigned (`original`/`centered`): DequantizeLinear(scale 1) gives k
    /// as float, then the quantizer's float operations (<see cref="Staircase.Level"/>: k / a or (k + 1/2) * (1 / a),
    /// then 2 q - 1, times s), bit-identical to the forward's weight. All of it is constant: runtimes fold it at load time.
    /// </summary>
    string Weight(LayerWeight w, string name)
    {
        if (!w.IsQuantized) return graph.Floats(name, w.Dims, w.Values);
        var (min, max) = w.CodeRange;
        var type = OnnxDataTypes.IntegerFor(min, max);
        string codes = graph.Integers($"{name}.codes", w.Dims, type, w.Codes);
        string zp = graph.Integers($"{name}.zero_point", [], type, [0]);
        if (w.CodeShift != 0)
            return graph.Node("DequantizeLinear", name, [codes, graph.Scalar($"{name}.scale", w.Scale), zp]);
        var st = w.Scheme.At(w.Bits);
        string k = graph.Node("DequantizeLinear", $"{name}.levels", [codes, graph.Scalar($"{name}.one", 1f), zp]);
        if (st.HasOffset) k = graph.Node("Add", $"{name}.k_half", [k, graph.Scalar($"{name}.half", st.Offset)]);
        string q = Quotient(k, st, $"{name}.q", () => graph.Scalar($"{name}.a", w.Levels), $"{name}.inv_a");
        string twoQ = graph.Node("Mul", $"{name}.2q", [q, graph.Scalar($"{name}.two", 2f)]);
        if (w.WeightScale == 1f) return graph.Node("Sub", name, [twoQ, graph.Scalar($"{name}.one", 1f)]);
        string unscaled = graph.Node("Sub", $"{name}.unscaled", [twoQ, graph.Scalar($"{name}.one", 1f)]);
        return graph.Node("Mul", name, [unscaled, graph.Scalar($"{name}.sat_scale", w.WeightScale)]);
    }
}
