using System.Runtime.Intrinsics.X86;
using System.Text;

namespace AdaBits.Inference;

/// <summary>
/// A loaded model: immutable, shared by any number of sessions (one per thread). Everything every bit-width
/// needs (packed weights, epilogue constants) is prepared here, at load, so that switching bit-width in a
/// session is an index change.
/// </summary>
public sealed class InferenceModel
{
    internal readonly ModelSpec Spec;
    internal readonly EngineOptions Options;
    internal readonly TensorPlan[] Tensors;
    internal readonly PreparedLayer[] Layers;
    internal readonly List<CodeView> Views = [];

    public IReadOnlyList<int> BitsList => Spec.BitsList;
    public int InputsPerImage => Spec.InputChannels * Spec.InputHeight * Spec.InputWidth;
    /// <summary>The (C, H, W) of one input image, as the model's forward takes it.</summary>
    public (int Channels, int Height, int Width) InputShape => (Spec.InputChannels, Spec.InputHeight, Spec.InputWidth);
    public int OutputsPerImage => Layers[^1].Out.Shape.Elements;
    /// <summary>Multiply-adds of one image through every layer.</summary>
    internal long MacsPerImage { get; private set; }

    public static InferenceModel Load(string path, EngineOptions? options = null) => new(ArtifactFile.Read(path), options);

    public InferenceModel(ModelSpec spec, EngineOptions? options = null)
    {
        Spec = spec;
        Options = options ?? new EngineOptions();
        if (Options.Threads < 1) throw new ArgumentException($"threads must be >= 1, got {Options.Threads}");
        var shapes = ModelSpecCheck.Shapes(spec);
        Tensors = new TensorPlan[shapes.Length];
        Tensors[0] = new TensorPlan { Id = 0, Shape = shapes[0] };
        foreach (var l in spec.Layers) Tensors[l.Output] = new TensorPlan { Id = l.Output, Shape = shapes[l.Output] };
        foreach (var l in spec.Layers)
        {
            var input = Tensors[l.Input];
            if (l.Residual >= 0) Tensors[l.Residual].NeedFloat = true;
            if (l.Op == LayerOp.GlobalAvgPool || l.InputQuant is null) input.NeedFloat = true;
            else
            {
                var view = input.Views.FirstOrDefault(v => CodeView.SameQuantizer(v.Quant, l.InputQuant));
                if (view is null)
                {
                    view = new CodeView { Quant = l.InputQuant, Shape = input.Shape, Index = Views.Count };
                    Views.Add(view);
                    input.Views.Add(view);
                }
                view.PadH = Math.Max(view.PadH, l.PadH);
                view.PadW = Math.Max(view.PadW, l.PadW);
            }
        }
        Tensors[spec.Layers[^1].Output].NeedFloat = true;
        foreach (var v in Views) v.Requant = spec.BitsList.Select((_, s) => new Requantizer(v.Quant, s)).ToArray();
        Layers = spec.Layers.Select(Prepare).ToArray();
        MacsPerImage = Layers.Sum(l => l.MacsPerImage);
    }

    public InferenceSession CreateSession(int maxBatch = 1) => new(this, maxBatch);

    /// <summary>One line per layer: its op, shape and the kernel path at every bit-width.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"cpu: {KernelChoice.Supported()}; allowed: {Options.Paths}; threads: {Options.Threads}");
        foreach (var l in Layers)
            sb.AppendLine($"{l.Spec.Name,-28} {l.Spec.Op,-13} {l.Out.Shape.C}x{l.Out.Shape.H}x{l.Out.Shape.W} " +
                string.Join(" ", Spec.BitsList.Select((b, s) => $"{b}:{l.PathAt(s)}")));
        return sb.ToString();
    }

    PreparedLayer Prepare(LayerSpec l)
    {
        var input = Tensors[l.Input];
        var output = Tensors[l.Output];
        var residual = l.Residual >= 0 ? Tensors[l.Residual] : null;
        long macs = (long)output.Shape.H * output.Shape.W * l.OutChannels * (l.InChannels / Math.Max(1, l.Groups)) * l.KernelH * l.KernelW;
        if (l.Op == LayerOp.GlobalAvgPool)
            return new PoolLayer { Spec = l, In = input, Out = output, MacsPerImage = input.Shape.Elements };
        if (l.InputQuant is null)
        {
            // the scalar reference takes the 8-lane head (same products, same order): the tests then compare two implementations
            int lanes = Avx512F.IsSupported && !Options.Baseline && Options.Paths != KernelPath.Scalar ? 16 : 8;
            int lastColumn = (output.Shape.W - 1) * l.StrideW - l.PadW + l.KernelW - 1; // the widest window's last input column
            int paddedWidth = l.PadW + Math.Max(input.Shape.W, lastColumn + 1);
            int[] Offsets(int rowPixels) => Enumerable.Range(0, l.KernelH * l.KernelW * l.InChannels)
                .Select(k => ((k / l.InChannels / l.KernelW) * rowPixels + k / l.InChannels % l.KernelW) * l.InChannels + k % l.InChannels).ToArray();
            return new FloatConvLayer
            {
                Spec = l, In = input, Out = output, Residual = residual, MacsPerImage = macs, Lanes = lanes,
                Slots = Spec.BitsList.Select((_, s) => FloatSlot(l, s, lanes)).ToArray(),
                TapOffsets = Offsets(input.Shape.W), PaddedWidth = paddedWidth, PaddedTapOffsets = Offsets(paddedWidth),
            };
        }
        var view = input.Views.First(v => CodeView.SameQuantizer(v.Quant, l.InputQuant));
        int taps = l.KernelH * l.KernelW;
        var tapOff = new int[taps];
        for (int kh = 0; kh < l.KernelH; kh++)
            for (int kw = 0; kw < l.KernelW; kw++)
                tapOff[kh * l.KernelW + kw] = (kh * view.Wp + kw) * view.Cp;
        var windows = new WindowClasses(l, input.Shape, output.Shape);
        // a residual is added in floats after the affine: then the code is not a function of the sum alone
        T WithIntCodes<T>(T slot, int s) where T : AffineSlot
        {
            if (residual is null)
                slot.IntCodes = output.Views.Select(v => IntThresholds.TryBuild(slot, windows, l.OutChannels, v.Requant[s], l.Relu, (long)taps * (l.InChannels / l.Groups))).ToArray();
            return slot;
        }
        if (l.IsDepthwise)
            return new DepthwiseLayer
            {
                Spec = l, In = input, Out = output, Residual = residual, MacsPerImage = macs, View = view, TapOff = tapOff, Windows = windows,
                Slots = Spec.BitsList.Select((_, s) => WithIntCodes(DepthwiseSlotOf(l, s, windows), s)).ToArray(),
            };
        int cp4 = view.Cp / 4, steps = taps * cp4;
        var actOff = GC.AllocateArray<int>(steps, pinned: true);
        for (int t = 0; t < taps; t++)
            for (int c4 = 0; c4 < cp4; c4++)
                actOff[t * cp4 + c4] = tapOff[t] + c4 * 4;
        int group = Options.Baseline ? DenseKernels.Group : DenseKernels.GroupOf(l.OutChannels);
        return new DenseLayer
        {
            Group = group, Spec = l, In = input, Out = output, Residual = residual, MacsPerImage = macs, View = view, Steps = steps, ActOff = actOff,
            Windows = windows, Slots = Spec.BitsList.Select((_, s) => WithIntCodes(DenseSlotOf(l, s, view, steps, windows, group), s)).ToArray(),
        };
    }

    /// <summary>The signed weight operands w = k - 2^(b-1) at the slot's bits, in PyTorch (O, I, KH, KW) order.</summary>
    internal static sbyte[] OperandsOihw(LayerSpec l, int slot)
    {
        int b = l.WeightBits[slot], top = l.WeightBits.Max();
        bool nested = QuantMath.Nested(l.WeightScheme);
        var k = nested ? l.WeightLevels[top] : l.WeightLevels[b];
        int shift = nested ? top - b : 0, half = 1 << (b - 1);
        var w = new sbyte[k.Length];
        for (int i = 0; i < k.Length; i++) w[i] = (sbyte)((k[i] >> shift) - half);
        return w;
    }

    /// <summary>Per output channel: M = step_a x step_w x s x bn_scale and the shift the constant terms are added to.</summary>
    static (double[] M, double[] B) Affine(LayerSpec l, int slot)
    {
        var q = l.InputQuant!;
        double stepA = QuantMath.ActivationStep(q.Alpha[slot], q.Bits[slot], q.Scheme, q.DoubleSided);
        double stepW = QuantMath.WeightStep(l.WeightBits[slot], l.WeightScheme);
        var m = new double[l.OutChannels];
        var b = new double[l.OutChannels];
        for (int c = 0; c < l.OutChannels; c++)
        {
            double scale = l.BnScale?[slot][c] ?? 1.0, shift = l.BnShift?[slot][c] ?? 0.0;
            double bias = l.Bias is null ? 0 : l.Bias[c] / (l.BiasDivisor?[slot] ?? 1f);
            m[c] = stepA * stepW * l.SatScale[slot] * scale;
            b[c] = bias * scale + shift;
        }
        return (m, b);
    }

    /// <summary>
    /// The epilogue constants: per window class and channel, CstB = (offset_a (sum of valid w) +
    /// offset_a offset_w (valid count)) M + B; the zero-code padding makes the code sums themselves exact.
    /// </summary>
    static (float[] MHalf, float[] CstB, int WindowSumTimes) Epilogue(LayerSpec l, int slot, WindowClasses windows, Func<int, int, int, int, int, long> validWeightSum, int perTapInputs)
    {
        var (m, b) = Affine(l, slot);
        var q = l.InputQuant!;
        double da = QuantMath.ActivationOffset(q.Bits[slot], q.Scheme, q.DoubleSided), dw = QuantMath.WeightOffset(l.WeightScheme);
        var cst = new float[windows.Count * l.OutChannels];
        foreach (var (cls, lo, hi, clo, chi) in windows.All())
        {
            long n = (long)(hi - lo) * (chi - clo) * perTapInputs;
            for (int c = 0; c < l.OutChannels; c++)
            {
                double constant = da == 0 ? 0 : da * (validWeightSum(c, lo, hi, clo, chi) + dw * n);
                cst[cls * l.OutChannels + c] = (float)(constant * m[c] + b[c]);
            }
        }
        return (m.Select(v => (float)(v / 2)).ToArray(), cst, (int)(2 * dw));
    }

    DenseSlot DenseSlotOf(LayerSpec l, int slot, CodeView view, int steps, WindowClasses windows, int group)
    {
        var w = OperandsOihw(l, slot);
        int cin = l.InChannels, kh = l.KernelH, kw = l.KernelW, cp4 = view.Cp / 4, row = steps * 4;
        var ops = GC.AllocateArray<sbyte>(l.OutChannels * row + 64, pinned: true);
        for (int co = 0; co < l.OutChannels; co++)
            for (int ci = 0; ci < cin; ci++)
                for (int y = 0; y < kh; y++)
                    for (int x = 0; x < kw; x++)
                        ops[co * row + ((y * kw + x) * cp4) * 4 + ci] = w[((co * cin + ci) * kh + y) * kw + x];
        long Valid(int co, int lo, int hi, int clo, int chi)
        {
            long s = 0;
            for (int ci = 0; ci < cin; ci++)
                for (int y = lo; y < hi; y++)
                    for (int x = clo; x < chi; x++)
                        s += w[((co * cin + ci) * kh + y) * kw + x];
            return s;
        }
        var (mHalf, cstB, times) = Epilogue(l, slot, windows, Valid, cin);
        int bw = l.WeightBits[slot], ba = l.InputQuant!.Bits[slot];
        var path = KernelChoice.Dense(bw, ba, Options.Paths);
        if (path == KernelPath.Scalar)
            return new DenseSlot { Path = path, Chunk = 1, Operands = ops, MHalf = mHalf, CstB = cstB, WindowSumTimes = times };
        int wMin = ops.Take(l.OutChannels * row).Min(x => (int)x), range = ops.Take(l.OutChannels * row).Max(x => (int)x) - wMin;
        int planes = range == 0 ? 1 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)range);
        DenseSlot Lut() => new()
        {
            Path = KernelPath.Lut, Chunk = 1, Operands = ops, MHalf = mHalf, CstB = cstB, WindowSumTimes = times,
            LutIndex = LutKernels.Index(ops.AsSpan(0, l.OutChannels * row), l.OutChannels, steps, wMin, planes), LutPlanes = planes,
            LutTimes = times + 2 * wMin, LutByteSteps = LutKernels.ByteSteps(ba), LutWordChunks = LutKernels.WordChunks(planes),
        };
        var packing = new DensePacking(ops, l.OutChannels, steps, group);
        DenseSlot Make(KernelPath p) => PackedSlot(p, bw, ba, packing, mHalf, cstB, times);
        if (!Options.TuneAtLoad)
            return KernelChoice.UseLut(planes, ba, group, l.OutChannels, Options.Paths) ? Lut() : Make(path);
        // every SIMD path is bit-exact with the scalar one, so the choice changes speed only
        var candidates = KernelChoice.DenseCandidates(Options.Paths).Select(Make);
        if (KernelChoice.LutAllowed(planes, ba, group, Options.Paths)) candidates = candidates.Append(Lut());
        return KernelTuning.Fastest(candidates.ToArray(), l, view, steps, group);
    }

    /// <summary>A slot on a packed path. The packings do not depend on the path, so the candidates of one layer
    /// and bits share them (made on first use: packing every candidate's copy had taken most of the tuning's load time).</summary>
    static DenseSlot PackedSlot(KernelPath path, int bw, int ba, DensePacking packing, float[] mHalf, float[] cstB, int times)
    {
        int pairMax = KernelChoice.PairMax(bw, ba);
        bool split = path != KernelPath.AvxVnni && pairMax > short.MaxValue;
        int chunk = path != KernelPath.Avx512Acc16 ? 1 : split ? short.MaxValue / (2 * ((1 << ba) - 1) * 15) : KernelChoice.Acc16Steps(pairMax);
        var (packed, hi) = split ? packing.Nibbles : (packing.Plain, null);
        return new DenseSlot { Path = path, Chunk = chunk, Operands = packing.Operands, Packed = packed, PackedHi = hi, MHalf = mHalf, CstB = cstB, WindowSumTimes = times };
    }

    /// <summary>A dense layer's weight operands packed for the SIMD paths: whole, or split into nibbles (w = 16 hi + lo).</summary>
    sealed class DensePacking(sbyte[] operands, int outChannels, int steps, int group)
    {
        sbyte[]? plain;
        (sbyte[], sbyte[]?)? nibbles;
        int Count => outChannels * steps * 4;
        public sbyte[] Operands => operands;
        public sbyte[] Plain => plain ??= DenseKernels.Pack(operands.AsSpan(0, Count), outChannels, steps, group);
        public (sbyte[] Lo, sbyte[]? Hi) Nibbles => nibbles ??= Split();

        (sbyte[], sbyte[]?) Split()
        {
            var lo = new sbyte[Count];
            var up = new sbyte[Count];
            for (int i = 0; i < lo.Length; i++) { lo[i] = (sbyte)(operands[i] & 15); up[i] = (sbyte)(operands[i] >> 4); }
            return (DenseKernels.Pack(lo, outChannels, steps, group), DenseKernels.Pack(up, outChannels, steps, group));
        }
    }

    DepthwiseSlot DepthwiseSlotOf(LayerSpec l, int slot, WindowClasses windows)
    {
        var w = OperandsOihw(l, slot);
        int c = l.OutChannels, kh = l.KernelH, kw = l.KernelW, taps = kh * kw;
        int c8 = (c + 15) & ~15, c16 = (c + 31) & ~31; // strides: whole 512-bit vectors of 32-bit and 16-bit lanes
        var w8 = GC.AllocateArray<sbyte>(taps * c, pinned: true);
        var w32 = GC.AllocateArray<int>(taps * c8, pinned: true);
        var w16 = GC.AllocateArray<short>(taps * c16, pinned: true);
        for (int ch = 0; ch < c; ch++)
            for (int t = 0; t < taps; t++)
            {
                sbyte v = w[ch * taps + t];
                w8[t * c + ch] = v; w32[t * c8 + ch] = v; w16[t * c16 + ch] = v;
            }
        long Valid(int ch, int lo, int hi, int clo, int chi)
        {
            long s = 0;
            for (int y = lo; y < hi; y++)
                for (int x = clo; x < chi; x++)
                    s += w[ch * taps + y * kw + x];
            return s;
        }
        var (mHalf, cstB, times) = Epilogue(l, slot, windows, Valid, 1);
        var path = KernelChoice.Depthwise(Options.Paths);
        bool use16 = path != KernelPath.Scalar && DepthwiseKernels.Fits16(taps, l.WeightBits[slot], l.InputQuant!.Bits[slot]);
        return new DepthwiseSlot
        {
            Path = path, Use16 = use16, W8 = w8, W32 = path == KernelPath.Scalar || use16 ? null : w32, W16 = use16 ? w16 : null,
            MHalf = mHalf, CstB = cstB, WindowSumTimes = times, Stride32 = c8, Stride16 = c16,
        };
    }

    /// <summary>Float weights exactly as the reference forms them: s x (2 q - 1), q from the level index.</summary>
    (float[] W, float[] Scale, float[] Shift) FloatSlot(LayerSpec l, int slot, int lanes)
    {
        if (l.Groups != 1) throw new InvalidDataException($"layer '{l.Name}': an unquantized-input conv must have groups 1");
        int b = l.WeightBits[slot], top = l.WeightBits.Max();
        bool nested = QuantMath.Nested(l.WeightScheme);
        var k = nested ? l.WeightLevels[top] : l.WeightLevels[b];
        int shift = nested ? top - b : 0;
        int cin = l.InChannels, kh = l.KernelH, kw = l.KernelW, groups = (l.OutChannels + lanes - 1) / lanes;
        var w = GC.AllocateArray<float>(groups * kh * kw * cin * lanes, pinned: true);
        for (int co = 0; co < l.OutChannels; co++)
            for (int ci = 0; ci < cin; ci++)
                for (int y = 0; y < kh; y++)
                    for (int x = 0; x < kw; x++)
                    {
                        int level = k[((co * cin + ci) * kh + y) * kw + x] >> shift;
                        float q = l.WeightScheme switch
                        {
                            QuantScheme.Original => level / (float)((1 << b) - 1),
                            QuantScheme.Modified => level / (float)(1 << b),
                            _ => (level + 0.5f) / (1 << b),
                        };
                        w[((((co / lanes) * kh + y) * kw + x) * cin + ci) * lanes + co % lanes] = l.SatScale[slot] * (2 * q - 1);
                    }
        var scale = new float[l.OutChannels];
        var sh = new float[l.OutChannels];
        for (int c = 0; c < l.OutChannels; c++)
        {
            scale[c] = l.BnScale?[slot][c] ?? 1f;
            float bias = l.Bias is null ? 0 : l.Bias[c] / (l.BiasDivisor?[slot] ?? 1f);
            sh[c] = bias * scale[c] + (l.BnShift?[slot][c] ?? 0f);
        }
        return (w, scale, sh);
    }
}
