using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Modules;

/// <summary>
/// Switchable batch norm (AdaBits): one BatchNorm2d per bit-width of bits_list, chosen by the raw active
/// bits; only the chosen copy's running statistics move. With affine false (stats_sharing) the copies
/// have no affine parameters and one shared weight/bias is applied after them. Keys: bn.{i}.*, weight, bias.
/// </summary>
public sealed class SwitchableBatchNorm2d : nn.Module<Tensor, Tensor>, IBitSwitchable
{
    readonly QuantOptions options;
    public ModuleList<BatchNorm2d> bn { get; }
    public Parameter? weight { get; }
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

    public override Tensor forward(Tensor x)
    {
        var y = bn[ActiveIndex].call(x);
        // The reference skips the shared affine when switchbn is off; kept, since checkpoints depend on it.
        if (Affine || !options.SwitchBn) return y;
        using var scope = NewDisposeScope();
        var shape = new long[] { 1, NumFeatures, 1, 1 };
        return y.mul(weight!.view(shape)).add(bias!.view(shape)).MoveToOuterDisposeScope();
    }
}
