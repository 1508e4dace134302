using AdaBits.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Graph;

/// <summary>
/// Lowers a model's module tree to a <see cref="LoweredGraph"/> at one bit-width: the model is put in eval mode at
/// the bits, each module lowers itself (<see cref="ILowerable"/>), and the model's modes and bits are restored.
/// </summary>
internal sealed class GraphBuilder
{
    readonly Dictionary<nn.Module, string> names = new(ReferenceEqualityComparer.Instance);
    readonly List<Node> nodes = [];
    int nextId;

    GraphBuilder(nn.Module model)
    {
        foreach (var (name, module) in model.named_modules())
            names.TryAdd(module, name);
        names.TryAdd(model, "");
    }

    /// <summary>
    /// The graph of <paramref name="model"/> at <paramref name="bits"/> for one sample of shape
    /// <paramref name="inputShape"/> ([C, H, W]). Bits 32 gives the full-precision network.
    /// </summary>
    public static LoweredGraph Build(nn.Module model, Bits bits, params long[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (inputShape.Length == 0 || inputShape.Any(d => d <= 0))
            throw new ArgumentException($"input shape [{string.Join(", ", inputShape)}] must be positive");
        var b = new GraphBuilder(model);
        using var state = new EvalModeScope(model, bits);
        using var _ = no_grad();
        var input = b.NewValue(inputShape);
        var output = b.Lower(model, input);
        return new LoweredGraph(model.GetName(), bits, input, output, b.nodes.ToList());
    }

    /// <summary>The state-dict path of a module of the model ("" for the model itself).</summary>
    public string NameOf(nn.Module module) =>
        names.TryGetValue(module, out var n) ? n : throw new ArgumentException($"{module.GetName()} is not a module of the model being lowered");

    /// <summary>Lowers one module on x: ILowerable, Sequential (children in order) or a supported plain torch module.</summary>
    public Value Lower(nn.Module module, Value x)
    {
        string name = NameOf(module);
        switch (module)
        {
            case ILowerable l: return l.Lower(this, x);
            case Sequential s:
                foreach (var child in s.children()) x = Lower(child, x);
                return x;
            case ReLU: return Relu(name, x);
            case ReLU6: return Emit(new ReluNode(6f), name, module, [x], x.Shape);
            case Identity: return x;
            case TorchSharp.Modules.Flatten: return Flatten(name, x);
            case AdaptiveAvgPool2d: return Emit(new AvgPoolNode(true), name, module, [x], [x.Channels, 1, 1]);
            default:
                throw new NotSupportedException(
                    $"{(name == "" ? module.GetName() : name)} ({module.GetType().Name}) cannot be lowered: it implements no ILowerable");
        }
    }

    /// <summary>Adds a node (its header filled in here) with a new output of the given shape; returns the output.</summary>
    public Value Emit(Node node, string name, nn.Module? source, IReadOnlyList<Value> inputs, long[] shape)
    {
        var output = NewValue(shape);
        nodes.Add(node with { Name = name, ModuleType = source?.GetType().Name ?? node.GetType().Name.Replace("Node", ""), Inputs = inputs, Output = output });
        return output;
    }

    public Value Relu(string name, Value x) => Emit(new ReluNode(), name, null, [x], x.Shape);

    public Value Add(string name, Value a, Value b)
    {
        if (!a.Shape.SequenceEqual(b.Shape))
            throw new InvalidOperationException($"{name}: cannot add [{string.Join(", ", a.Shape)}] and [{string.Join(", ", b.Shape)}]");
        return Emit(new AddNode(), name, null, [a, b], a.Shape);
    }

    public Value Flatten(string name, Value x) => Emit(new FlattenNode(), name, null, [x], [x.Elements]);

    Value NewValue(long[] shape) => new(nextId++, shape.ToArray());
}
