namespace AdaBits.Graph;

/// <summary>
/// Inference rewrites of a lowered graph, each exact (the rewritten graph computes the same values) and decided
/// here once for every back-end.
/// </summary>
internal static class GraphPasses
{
    /// <summary>What every inference back-end runs: ReLUs that a single-sided PACT contains dropped, BN folded.</summary>
    public static LoweredGraph ForInference(LoweredGraph graph) => FoldBatchNorm(SkipReluBeforePact(graph));

    /// <summary>
    /// Drops each ReLU whose output is read only by single-sided PACTs (clip to [0, alpha] contains the ReLU:
    /// clip(relu(x)) = clip(x) exactly) and is not the graph output; the readers then read the ReLU's input.
    /// </summary>
    public static LoweredGraph SkipReluBeforePact(LoweredGraph graph)
    {
        var consumers = graph.Consumers();
        var replace = new Dictionary<int, Value>();
        var keep = new List<Node>();
        foreach (var n in graph.Nodes)
        {
            bool skip = n is ReluNode { Max: null } && n.Output.Id != graph.Output.Id
                && consumers.TryGetValue(n.Output.Id, out var readers)
                && readers.All(r => r is PactNode { DoubleSide: false });
            if (skip) replace[n.Output.Id] = Resolve(replace, n.Input);
            else keep.Add(n);
        }
        return Rewire(graph, keep, replace);
    }

    /// <summary>Replaces each batch norm by its per-channel affine y = Scale x + Shift (the active copy's, in eval mode).</summary>
    public static LoweredGraph FoldBatchNorm(LoweredGraph graph) => graph with
    {
        Nodes = graph.Nodes.Select(n => n is BatchNormNode bn
            ? new AffineNode(bn.Scale, bn.Shift) { Name = bn.Name, ModuleType = bn.ModuleType, Inputs = bn.Inputs, Output = bn.Output }
            : n).ToList(),
    };

    /// <summary>
    /// The fusion markers of a folded graph (after <see cref="ForInference"/>): for each conv, the chain that an
    /// integer engine runs as one pass over the conv's output: its affine (BN), a residual add (the other operand:
    /// a block input or a shortcut's affine output), a ReLU, and the PACTs that read the result.
    /// </summary>
    public static IReadOnlyList<FusedUnit> Fusions(LoweredGraph graph)
    {
        var consumers = graph.Consumers();
        Node? Only(Value v) => consumers.TryGetValue(v.Id, out var r) && r.Count == 1 && v.Id != graph.Output.Id ? r[0] : null;
        var units = new List<FusedUnit>();
        foreach (var conv in graph.Nodes.OfType<ConvNode>())
        {
            var v = conv.Output;
            AffineNode? affine = Only(v) as AffineNode;
            if (affine is not null) v = affine.Output;
            AddNode? add = null;
            Value? residual = null;
            // the add belongs to the unit of its first operand (a shortcut conv's unit ends at its affine)
            if (Only(v) is AddNode a && a.Inputs[0].Id == v.Id)
            {
                add = a;
                residual = a.Inputs[1];
                v = a.Output;
            }
            ReluNode? relu = Only(v) as ReluNode;
            if (relu is not null) v = relu.Output;
            var pacts = consumers.TryGetValue(v.Id, out var readers) && readers.All(r => r is PactNode)
                ? readers.Cast<PactNode>().ToList()
                : [];
            units.Add(new FusedUnit(conv, affine, add, residual, relu, pacts, v));
        }
        return units;
    }

    static Value Resolve(Dictionary<int, Value> replace, Value v) => replace.TryGetValue(v.Id, out var r) ? r : v;

    static LoweredGraph Rewire(LoweredGraph graph, List<Node> nodes, Dictionary<int, Value> replace) => graph with
    {
        Nodes = nodes.Select(n => n.Inputs.Any(v => replace.ContainsKey(v.Id))
            ? n with { Inputs = n.Inputs.Select(v => Resolve(replace, v)).ToList() }
            : n).ToList(),
        Output = Resolve(replace, graph.Output),
    };
}

/// <summary>
/// One conv and what follows it up to the next quantizers: conv -> Affine? -> (+ Residual)? -> Relu? -> Pacts
/// (the PACTs reading Output; empty where anything else reads it). Output: the value the chain ends in.
/// </summary>
internal sealed record FusedUnit(ConvNode Conv, AffineNode? Affine, AddNode? Add, Value? Residual, ReluNode? Relu,
    IReadOnlyList<PactNode> Pacts, Value Output);
