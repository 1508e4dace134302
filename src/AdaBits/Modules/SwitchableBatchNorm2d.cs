using AdaBits.Graph;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Modules;

/// <summary>
/// Switchable batch norm (AdaBits): one BatchNorm2d per bit-width of bits_list, chosen by the raw active
/// bits; only the chosen copy's running statistics move. With affine false (stats_sharing) the copies
/// have no affine parameters and one shared weight/bias is applied after them. Keys: bn.{i}.*, weight, bias.
/// </summary>
public sealed class SwitchableBatchNorm2d : nn.Module<Tensor, Tensor>, IBitSwitchable, ILowerable
{
    readonly QuantOptions options;
    // [field: ComponentName]: TorchSharp's RegisterComponents would otherwise register the auto-property
    // backing fields a second time, as "<bn>k__BackingField.*" (and "<weight>k__BackingField"), once this
    // module sits inside another.
    [field: TorchSharp.Utils.ComponentName(Name = "bn")]
    public ModuleList<BatchNorm2d> bn { get; }
    [field: TorchSharp.Utils.ComponentName(Name = "weight")]
    public Parameter? weight { get; }
    [field: TorchSharp.Utils.ComponentName(Name = "bias")]
    public Parameter? bias { get; }
    public long NumFeatures { get; }
    public bool Affine { get; }
    public Bits Bits { get; set; }

    public SwitchableBatchNorm2d(QuantOptions options, long numFeatures, bool affine = true) : base(nameof(SwitchableBatchNorm2d))
    {
        this.options = options;
        NumFeatures = numFeatures;
        Affine = affine;
        Bits = options.DefaultBits;
        bn = new ModuleList<BatchNorm2d>(options.BitsList
            .Select(_ => nn.BatchNorm2d(numFeatures, eps: 1e-5, momentum: 0.1, affine: affine)).ToArray());
        register_module("bn", bn);
        if (!affine)
        {
            weight = new Parameter(ones(numFeatures));
            bias = new Parameter(zeros(numFeatures));
            register_parameter("weight", weight);
            register_parameter("bias", bias);
        }
    }

    /// <summary>The BN copy in use: the raw bits' index in bits_list (0 when absent or switchbn is off).</summary>
    public int ActiveIndex => options.SwitchBn ? Math.Max(options.IndexOf(Bits), 0) : 0;

    /// <summary>
    /// The active copy in eval mode as a per-channel affine map y = scale x + shift (running statistics,
    /// and the shared affine under stats_sharing), computed in double.
    /// </summary>
    internal (float[] Scale, float[] Shift) EvalAffine()
    {
        var b = bn[ActiveIndex];
        double[] mean = b.running_mean!.data<float>().Select(v => (double)v).ToArray();
        double[] variance = b.running_var!.data<float>().Select(v => (double)v).ToArray();
        float[]? g = b.weight?.data<float>().ToArray(), beta = b.bias?.data<float>().ToArray();
        float[]? sg = !Affine && options.SwitchBn ? weight!.data<float>().ToArray() : null;
        float[]? sb = !Affine && options.SwitchBn ? bias!.data<float>().ToArray() : null;
        var scale = new float[NumFeatures];
        var shift = new float[NumFeatures];
        for (int c = 0; c < NumFeatures; c++)
        {
            double inv = 1.0 / Math.Sqrt(variance[c] + b.eps);
            double k = (g?[c] ?? 1.0) * inv, m = (beta?[c] ?? 0.0) - mean[c] * k;
            if (sg is not null) (k, m) = (sg[c] * k, sg[c] * m + sb![c]);
            scale[c] = (float)k;
            shift[c] = (float)m;
        }
        return (scale, shift);
    }

    public override Tensor forward(Tensor x)
    {
        var y = bn[ActiveIndex].call(x);
        // The reference skips the shared affine when switchbn is off; kept, since checkpoints depend on it.
        if (Affine || !options.SwitchBn) return y;
        using var scope = NewDisposeScope();
        var shape = new long[] { 1, NumFeatures, 1, 1 };
        return y.mul(weight!.view(shape)).add(bias!.view(shape)).MoveToOuterDisposeScope();
    }

    /// <summary>The active copy in eval mode: its statistics and parameters, and the folded per-channel affine.</summary>
    Value ILowerable.Lower(GraphBuilder graph, Value input)
    {
        if (input.Channels != NumFeatures)
            throw new InvalidOperationException($"{graph.NameOf(this)}: expects {NumFeatures} channels, got {input.Channels}");
        var b = bn[ActiveIndex];
        static float[] F(Tensor t) => t.detach().contiguous().data<float>().ToArray();
        bool shared = !Affine && options.SwitchBn;
        var (scale, shift) = EvalAffine();
        return graph.Emit(new BatchNormNode(ActiveIndex, graph.NameOf(b), F(b.running_mean!), F(b.running_var!), b.eps,
                b.weight is null ? null : F(b.weight), b.bias is null ? null : F(b.bias),
                shared ? F(weight!) : null, shared ? F(bias!) : null, scale, shift),
            graph.NameOf(this), this, [input], input.Shape);
    }
}
