using AdaBits.Graph;
using AdaBits.Inference;
using AdaBits.Modules;
using static TorchSharp.torch;
using EngineScheme = AdaBits.Inference.QuantScheme;

namespace AdaBits.Export;

/// <summary>
/// Describes a model for the integer engine (<see cref="ModelSpec"/>) from its lowered graph at every bit-width of
/// bits_list (GraphBuilder, GraphPasses.ForInference, GraphPasses.Fusions), and writes the artifact. The weight levels
/// are the graph's own codes at the top bit-width, so the engine's levels are those of the fake-quant weights.
/// Graphs the engine cannot run (SAME padding, pooling other than global, clip-only PACT, pair bit-widths) are
/// refused with one line naming the node.
/// </summary>
internal static class EngineExporter
{
    /// <summary>Writes the artifact for <paramref name="bitsList"/> to <paramref name="path"/> (atomically, by ArtifactFile).</summary>
    public static ModelSpec Export(nn.Module<Tensor, Tensor> model, IReadOnlyList<Bits> bitsList, int channels, int height, int width, string path)
    {
        var spec = Build(model, bitsList, channels, height, width);
        ArtifactFile.Write(spec, path);
        return spec;
    }

    /// <summary>The engine's description of the model at every entry of <paramref name="bitsList"/>.</summary>
    public static ModelSpec Build(nn.Module<Tensor, Tensor> model, IReadOnlyList<Bits> bitsList, int channels, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (bitsList.Count == 0) throw new ArgumentException("bits_list is empty");
        foreach (var b in bitsList)
            if (b.IsPair || b.Weight >= 32)
                throw new NotSupportedException($"engine export: bits {b} is not supported (one bit-width of 1..8 per entry)");
        var graphs = bitsList.Select(b => GraphPasses.ForInference(GraphBuilder.Build(model, b, channels, height, width))).ToList();
        var units = graphs.Select(g =>
        {
            var d = new Dictionary<ConvNode, FusedUnit>(ReferenceEqualityComparer.Instance);
            foreach (var u in GraphPasses.Fusions(g)) d[u.Conv] = u;
            return d;
        }).ToList();
        var biases = BiasesOf(model);
        var top = graphs[0];
        foreach (var g in graphs)
            if (g.Nodes.Count != top.Nodes.Count)
                throw new InvalidOperationException("engine export: the graphs of bits_list differ in structure");

        var tensorOf = new Dictionary<int, int> { [top.Input.Id] = 0 };
        var pactOf = new Dictionary<int, int>(); // PACT output value -> node index
        var covered = new HashSet<int>();         // value ids produced inside a fused unit
        var layers = new List<LayerSpec>();
        int nextTensor = 1;
        int slots = graphs.Count;
        T At<T>(int slot, int index) where T : Node => (T)graphs[slot].Nodes[index];

        int Tensor(Value v, string at) => tensorOf.TryGetValue(v.Id, out int t) ? t
            : throw new NotSupportedException($"engine export: {at} reads value {v.Id}, which the engine does not materialise");

        (int Input, ActivationSpec? Quant) InputOf(Node n, int index, string at)
        {
            if (!pactOf.TryGetValue(n.Input.Id, out int pi)) return (Tensor(n.Input, at), null);
            var p = At<PactNode>(0, pi);
            var pacts = Enumerable.Range(0, slots).Select(s => At<PactNode>(s, pi)).ToList();
            if (pacts.Any(q => !q.Quantizes))
                throw new NotSupportedException($"engine export: {at}: a clip-only PACT (pact_fp) is not supported");
            return (Tensor(p.Input, at), new ActivationSpec(Scheme(p.Scheme, at), p.DoubleSide,
                pacts.Select(q => q.Alpha).ToArray(), pacts.Select(q => q.Bits).ToArray()));
        }

        for (int i = 0; i < top.Nodes.Count; i++)
        {
            var node = top.Nodes[i];
            string at = $"node '{node.Name}' ({node.GetType().Name})";
            switch (node)
            {
                case PactNode:
                    pactOf[node.Output.Id] = i;
                    break;
                case ConvNode conv:
                {
                    if (conv.Dilation != 1) throw new NotSupportedException($"engine export: {at}: dilation {conv.Dilation} is not supported");
                    var (input, quant) = InputOf(conv, i, at);
                    var convs = Enumerable.Range(0, slots).Select(s => At<ConvNode>(s, i)).ToList();
                    var us = Enumerable.Range(0, slots).Select(s => units[s][convs[s]]).ToList();
                    var u = us[0];
                    int residual = u.Residual is null ? -1 : Tensor(u.Residual, at);
                    foreach (var v in new[] { u.Affine?.Output, u.Add?.Output, u.Relu?.Output })
                        if (v is not null) covered.Add(v.Id);
                    int output = nextTensor++;
                    tensorOf[u.Output.Id] = output;
                    layers.Add(WeightLayer(LayerOp.Conv2d, conv.Name, input, output, residual, u.Relu is not null,
                        convs.Select(c => c.Weight).ToList(), quant, (int)conv.KernelSize, (int)conv.Stride, (int)conv.Padding, (int)conv.Groups,
                        conv.Bias, null,
                        u.Affine is null ? null : us.Select(x => x.Affine!.Scale).ToArray(),
                        u.Affine is null ? null : us.Select(x => x.Affine!.Shift).ToArray()));
                    if (u.Relu is not null && u.Relu.Max is not null)
                        throw new NotSupportedException($"engine export: {at}: ReLU6 is not supported");
                    break;
                }
                case LinearNode lin:
                {
                    var (input, quant) = InputOf(lin, i, at);
                    var lins = Enumerable.Range(0, slots).Select(s => At<LinearNode>(s, i)).ToList();
                    float[]? bias = null;
                    float[]? divisor = null;
                    if (lin.Bias is not null)
                    {
                        // the node's bias is already divided by s; the engine divides the layer's own bias itself
                        bias = biases.TryGetValue(lin.Name + ".bias", out var raw) ? raw
                            : throw new InvalidOperationException($"engine export: {at}: no parameter {lin.Name}.bias");
                        divisor = lins.Select(l => (float)l.LogitScale).ToArray();
                    }
                    int output = nextTensor++;
                    tensorOf[lin.Output.Id] = output;
                    layers.Add(WeightLayer(LayerOp.Linear, lin.Name, input, output, -1, false, lins.Select(l => l.Weight).ToList(), quant,
                        1, 1, 0, 1, bias, divisor, null, null));
                    break;
                }
                case AvgPoolNode { Global: true } pool:
                {
                    int output = nextTensor++;
                    layers.Add(new LayerSpec { Op = LayerOp.GlobalAvgPool, Name = pool.Name, Input = Tensor(pool.Input, at), Output = output });
                    tensorOf[pool.Output.Id] = output;
                    break;
                }
                case FlattenNode:
                    if (node.Input.Height != 1 || node.Input.Width != 1)
                        throw new NotSupportedException($"engine export: {at}: flattening a [{string.Join(", ", node.Input.Shape)}] tensor is not supported (only after a global pool)");
                    tensorOf[node.Output.Id] = Tensor(node.Input, at);
                    break;
                case AffineNode or AddNode or ReluNode when covered.Contains(node.Output.Id):
                    break;
                default:
                    throw new NotSupportedException($"engine export: {at} is not supported by the integer engine"
                        + (node is PadNode ? " (SAME padding)" : ""));
            }
        }
        if (!tensorOf.TryGetValue(top.Output.Id, out int last) || layers.Count == 0 || layers[^1].Output != last)
            throw new NotSupportedException("engine export: the graph output is not the last layer's output");
        return new ModelSpec
        {
            BitsList = bitsList.Select(b => b.Weight).ToArray(),
            InputChannels = channels, InputHeight = height, InputWidth = width,
            Layers = layers,
        };
    }

    static LayerSpec WeightLayer(LayerOp op, string name, int input, int output, int residual, bool relu, List<LayerWeight> weights,
        ActivationSpec? quant, int kernel, int stride, int pad, int groups, float[]? bias, float[]? biasDivisor, float[][]? bnScale, float[][]? bnShift)
    {
        var w0 = weights[0];
        foreach (var w in weights)
            if (!w.IsQuantized || w.Bits > 8)
                throw new NotSupportedException($"engine export: layer '{name}': {w.Bits}-bit weights are not supported (1..8)");
        var scheme = Scheme(w0.Scheme, $"layer '{name}'");
        bool nested = w0.Scheme.At(w0.Bits).CodesNest;
        var levels = new Dictionary<int, byte[]>();
        foreach (var w in weights.OrderByDescending(w => w.Bits))
        {
            if (levels.ContainsKey(w.Bits) || (nested && levels.Count > 0)) continue;
            levels[w.Bits] = Levels(w);
        }
        return new LayerSpec
        {
            Op = op, Name = name, Input = input, Output = output, Residual = residual, Relu = relu,
            InChannels = (int)(op == LayerOp.Linear ? w0.Dims[1] : w0.Dims[1] * groups), OutChannels = (int)w0.Dims[0],
            KernelH = kernel, KernelW = kernel, StrideH = stride, StrideW = stride, PadH = pad, PadW = pad, Groups = groups,
            WeightScheme = scheme,
            WeightBits = weights.Select(w => w.Bits).ToArray(),
            WeightLevels = levels,
            SatScale = weights.Select(w => w.WeightScale).ToArray(),
            BnScale = bnScale, BnShift = bnShift,
            Bias = bias, BiasDivisor = biasDivisor,
            InputQuant = quant,
        };
    }

    /// <summary>The level index k (0..2^b-1) of each code: the graph's signed codes (`modified`) are k - 2^(b-1).</summary>
    static byte[] Levels(LayerWeight w)
    {
        long shift = w.CodeShift;
        return w.Codes!.Select(c => checked((byte)(c + shift))).ToArray();
    }

    static EngineScheme Scheme(AdaBits.Quantization.QuantScheme s, string at) =>
        s.Engine ?? throw new NotSupportedException($"engine export: {at}: the integer engine has no '{s.Name}' scheme");

    static Dictionary<string, float[]> BiasesOf(nn.Module model)
    {
        var map = new Dictionary<string, float[]>();
        foreach (var (name, p) in model.named_parameters())
            if (name.EndsWith(".bias", StringComparison.Ordinal))
                map[name] = p.detach().contiguous().to(CPU).data<float>().ToArray();
        return map;
    }
}
