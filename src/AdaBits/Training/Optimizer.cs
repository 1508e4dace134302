using System.Collections;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Training;

/// <summary>
/// PyTorch's SGD and RMSprop update rules over a model's parameters, one group per parameter as in the
/// reference (§5.8), with one learning rate the schedule sets each step. State is kept as tensors and
/// saved in PyTorch's optimizer state_dict layout (state by parameter index, param_groups with initial_lr).
/// </summary>
internal abstract class Optimizer : IDisposable
{
    protected readonly Parameter[] Params;
    protected readonly double[] WeightDecays;

    /// <summary>The learning rate before the schedule's factor (after the batch-size rule).</summary>
    public double BaseLr { get; }
    public double Lr { get; set; }

    protected Optimizer(IEnumerable<Parameter> parameters, double lr, Func<Parameter, double> weightDecay)
    {
        Params = parameters.ToArray();
        WeightDecays = Params.Select(weightDecay).ToArray();
        BaseLr = Lr = lr;
    }

    public IReadOnlyList<double> WeightDecayPerParameter => WeightDecays;

    /// <summary>
    /// The reference's SGD weight-decay groups: ordinary conv weights (4-D with more than one input channel
    /// per group) and linear weights decay; depthwise weights, BN, biases and clipping levels do not.
    /// </summary>
    public static double ReferenceWeightDecay(Tensor p, double weightDecay) =>
        (p.dim() == 4 && p.shape[1] != 1) || p.dim() == 2 ? weightDecay : 0;

    public void ZeroGrad()
    {
        foreach (var p in Params) p.grad?.zero_();
    }

    public void Step()
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        for (int i = 0; i < Params.Length; i++)
        {
            var g = Params[i].grad;
            // Like PyTorch: a parameter that never had a gradient (the head's unused alpha) is not touched.
            if (g is null) continue;
            Update(i, Params[i], WeightDecays[i] != 0 ? g.add(Params[i], alpha: WeightDecays[i]) : g);
        }
    }

    protected abstract void Update(int index, Parameter p, Tensor grad);

    /// <summary>PyTorch layout: {"state": {i: {...}}, "param_groups": [...]}.</summary>
    public Hashtable StateDict()
    {
        var state = new Hashtable();
        for (int i = 0; i < Params.Length; i++)
            if (SaveState(i) is { Count: > 0 } s) state[i] = s;
        return new Hashtable { ["state"] = state, ["param_groups"] = ParamGroups() };
    }

    public void LoadStateDict(IDictionary dict, string source)
    {
        if (dict["state"] is not IDictionary state)
            throw new InvalidDataException($"{source}: optimizer state has no 'state' entry");
        using var _ = no_grad();
        foreach (DictionaryEntry e in state)
        {
            int i = Convert.ToInt32(e.Key);
            if (i < 0 || i >= Params.Length)
                throw new InvalidDataException($"{source}: optimizer state for parameter {i}, but the model has {Params.Length}");
            LoadState(i, (IDictionary)e.Value!, source);
        }
    }

    protected abstract IDictionary? SaveState(int index);
    protected abstract void LoadState(int index, IDictionary state, string source);
    protected abstract ArrayList ParamGroups();

    protected Tensor Restore(IDictionary state, string key, int index, string source)
    {
        if (state[key] is not Tensor t)
            throw new InvalidDataException($"{source}: optimizer state of parameter {index} lacks '{key}'");
        if (!t.shape.SequenceEqual(Params[index].shape))
            throw new InvalidDataException($"{source}: optimizer '{key}' of parameter {index} has shape [{string.Join(", ", t.shape)}], the model's is [{string.Join(", ", Params[index].shape)}]");
        return t.to(Params[index].device).clone().DetachFromDisposeScope();
    }

    public virtual void Dispose() { }
}

/// <summary>SGD as PyTorch: d = g + wd p; buf = mu buf + d (buf = d at first); nesterov d += mu buf, else d = buf; p -= lr d.</summary>
internal sealed class Sgd(IEnumerable<Parameter> parameters, double lr, double momentum, bool nesterov, Func<Parameter, double> weightDecay)
    : Optimizer(parameters, lr, weightDecay)
{
    readonly Tensor?[] buffers = new Tensor?[parameters.Count()];

    protected override void Update(int index, Parameter p, Tensor d)
    {
        if (momentum != 0)
        {
            var buf = buffers[index];
            if (buf is null) buffers[index] = buf = d.clone().DetachFromDisposeScope();
            else buf.mul_(momentum).add_(d);
            d = nesterov ? d.add(buf, alpha: momentum) : buf;
        }
        p.add_(d, alpha: -Lr);
    }

    protected override IDictionary? SaveState(int index) =>
        buffers[index] is { } b ? new Hashtable { ["momentum_buffer"] = b } : null;

    protected override void LoadState(int index, IDictionary state, string source)
    {
        buffers[index]?.Dispose();
        buffers[index] = Restore(state, "momentum_buffer", index, source);
    }

    protected override ArrayList ParamGroups() => new(Params.Select((_, i) => (object)new Hashtable
    {
        ["lr"] = Lr, ["momentum"] = momentum, ["dampening"] = 0.0, ["weight_decay"] = WeightDecays[i],
        ["nesterov"] = nesterov, ["initial_lr"] = BaseLr, ["params"] = new ArrayList { i },
    }).ToList());

    public override void Dispose()
    {
        foreach (var b in buffers) b?.Dispose();
    }
}

/// <summary>RMSprop as PyTorch (not centered): v = a v + (1-a) g^2; step g / (sqrt v + eps), through momentum when set.</summary>
internal sealed class RmsProp(IEnumerable<Parameter> parameters, double lr, double alpha, double eps, double momentum, double weightDecay)
    : Optimizer(parameters, lr, _ => weightDecay)
{
    readonly Tensor?[] squareAvg = new Tensor?[parameters.Count()];
    readonly Tensor?[] buffers = new Tensor?[parameters.Count()];
    readonly long[] steps = new long[parameters.Count()];

    protected override void Update(int index, Parameter p, Tensor g)
    {
        var v = squareAvg[index] ??= zeros_like(p).DetachFromDisposeScope();
        steps[index]++;
        v.mul_(alpha).addcmul_(g, g, value: 1 - alpha);
        var denom = v.sqrt().add_(eps);
        if (momentum > 0)
        {
            var buf = buffers[index] ??= zeros_like(p).DetachFromDisposeScope();
            buf.mul_(momentum).addcdiv_(g, denom);
            p.add_(buf, alpha: -Lr);
        }
        else p.addcdiv_(g, denom, value: -Lr);
    }

    protected override IDictionary? SaveState(int index)
    {
        if (squareAvg[index] is not { } v) return null;
        var s = new Hashtable { ["step"] = tensor((float)steps[index]), ["square_avg"] = v };
        if (buffers[index] is { } b) s["momentum_buffer"] = b;
        return s;
    }

    protected override void LoadState(int index, IDictionary state, string source)
    {
        squareAvg[index]?.Dispose();
        squareAvg[index] = Restore(state, "square_avg", index, source);
        steps[index] = state["step"] is Tensor st ? (long)st.item<float>() : 0;
        if (state.Contains("momentum_buffer"))
        {
            buffers[index]?.Dispose();
            buffers[index] = Restore(state, "momentum_buffer", index, source);
        }
    }

    protected override ArrayList ParamGroups() =>
    [
        new Hashtable
        {
            ["lr"] = Lr, ["alpha"] = alpha, ["eps"] = eps, ["weight_decay"] = WeightDecays.FirstOrDefault(),
            ["momentum"] = momentum, ["centered"] = false, ["initial_lr"] = BaseLr,
            ["params"] = new ArrayList(Enumerable.Range(0, Params.Length).ToList()),
        },
    ];

    public override void Dispose()
    {
        foreach (var t in squareAvg.Concat(buffers)) t?.Dispose();
    }
}
