using AdaBits.Modules;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;
using EngineSession = AdaBits.Inference.InferenceSession;

namespace AdaBits.Cli.Bench;

/// <summary>One timed thing of the engine benchmark: a back-end at one bit-width (32: float) on one batch.</summary>
internal abstract class BenchBackend(string name, int bits) : IDisposable
{
    public string Name { get; } = name;
    public int Bits { get; } = bits;
    public abstract void Run();
    public virtual void Dispose() { }
}

/// <summary>The TorchSharp eval forward (fake quantization) at one bit-width.</summary>
internal sealed class TorchBackend : BenchBackend
{
    readonly BenchModel model;
    readonly Tensor x;
    readonly Bits bits;

    public TorchBackend(BenchModel model, Bits bits, float[] images, int batch) : base("torchsharp", bits.Weight)
    {
        this.model = model;
        this.bits = bits;
        x = tensor(images, [batch, model.Channels, model.Height, model.Width]);
    }

    public override void Run()
    {
        model.Torch.SetBits(bits);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        model.Torch.call(x);
    }

    public override void Dispose() => x.Dispose();
}

/// <summary>ONNX Runtime on one export; input and output buffers bound once, so a run allocates no tensors.</summary>
internal sealed class OrtBackend : BenchBackend
{
    readonly InferenceSession session;
    readonly OrtValue input, output;
    readonly RunOptions runOptions = new();
    readonly string[] inputNames = [AdaBits.Export.OnnxExporter.InputName], outputNames = [AdaBits.Export.OnnxExporter.OutputName];

    public OrtBackend(string name, int bits, InferenceSession session, BenchModel model, float[] images, int batch, int classes) : base(name, bits)
    {
        this.session = session;
        input = OrtValue.CreateTensorValueFromMemory(images, [batch, model.Channels, model.Height, model.Width]);
        output = OrtValue.CreateTensorValueFromMemory(new float[batch * classes], [batch, classes]);
    }

    /// <summary>
    /// ORT_ENABLE_ALL, <paramref name="threads"/> intra-op threads, sequential execution, and no spinning: ORT's pool
    /// otherwise spins after each run and takes the cores from whichever back-end the interleaved round runs next.
    /// </summary>
    public static SessionOptions Options(int threads)
    {
        var so = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return so;
    }

    public override void Run() => session.Run(runOptions, inputNames, [input], outputNames, [output]);

    public override void Dispose()
    {
        input.Dispose();
        output.Dispose();
        runOptions.Dispose();
    }
}

/// <summary>The integer engine at one bit-width; the session is shared by the bit-widths of a case (SetBits per run).</summary>
internal sealed class EngineBackend(EngineSession session, int bits, float[] images, float[] logits) : BenchBackend("engine", bits)
{
    public EngineSession Session => session;

    public override void Run()
    {
        session.SetBits(Bits);
        session.Run(images, logits);
    }
}
