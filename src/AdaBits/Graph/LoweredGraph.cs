using AdaBits.Modules;

namespace AdaBits.Graph;

/// <summary>
/// The eval-mode computation of a model at one bit-width as a list of nodes in execution order (each node's
/// inputs are the graph input or outputs of earlier nodes), with shapes. Built by <see cref="GraphBuilder"/> from
/// the module tree; rewritten by <see cref="GraphPasses"/>; read by the ONNX exporter, the profiler and the
/// integer engine's artifact writer. Immutable: passes return new graphs.
/// </summary>
internal sealed record LoweredGraph(string ModelName, Bits Bits, Value Input, Value Output, IReadOnlyList<Node> Nodes)
{
    /// <summary>True for the full-precision lowering (bits 32: no quantizers).</summary>
    public bool IsFloat => Bits.Weight >= 32 && Bits.Activation >= 32;

    /// <summary>The nodes that read each value (by value id).</summary>
    public IReadOnlyDictionary<int, List<Node>> Consumers()
    {
        var map = new Dictionary<int, List<Node>>();
        foreach (var n in Nodes)
            foreach (var v in n.Inputs)
            {
                if (!map.TryGetValue(v.Id, out var list)) map[v.Id] = list = [];
                if (!list.Contains(n)) list.Add(n);
            }
        return map;
    }

    /// <summary>The node that produces a value, or null for the graph input.</summary>
    public Node? Producer(Value v) => Nodes.FirstOrDefault(n => n.Output.Id == v.Id);
}
