using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AdaBits.Inference;

/// <summary>
/// One thread's use of a shared <see cref="InferenceModel"/>: its activation buffers (allocated once, for
/// up to MaxBatch images), its worker team and its current bit-width. Run allocates nothing; SetBits
/// changes one index (everything per bit-width was prepared at load). Not thread-safe: one session per thread.
/// </summary>
public sealed unsafe class InferenceSession : IDisposable
{
    readonly InferenceModel model;
    readonly WorkerTeam team;
    /// <summary>Per tensor id its floats (null: kept only as codes), per view index its codes, in the shared
    /// buffers of <see cref="BufferPlan"/>; image n of the current pass at n (at imageBase + n where tensors are kept).</summary>
    readonly float*[] floats;
    readonly byte*[] codes;
    readonly byte[][] buffers;
    readonly BufferPlan buffersPlan;
    /// <summary>Images each buffer holds: a pass's, or the whole batch where tensors are kept.</summary>
    readonly int bufferImages;
    readonly bool keepTensors;
    readonly Worker[] workers;
    readonly LayerWork[] works;
    readonly bool simdEpilogue, epilogue512;
    /// <summary>Per tensor: where its values are written, resolved once for this session's buffers.</summary>
    readonly TensorTarget[] targets;
    /// <summary>Per worker of the team, a one-thread session with buffers of its own (see <see cref="RunImages"/>);
    /// null where batches always split each layer over the team.</summary>
    readonly InferenceSession[]? lanes;
    readonly ImageWork? imageWork;
    int slot, batch;

    public int MaxBatch { get; }
    public int Bits => model.Spec.BitsList[slot];
    public InferenceModel Model => model;

    sealed class Worker
    {
        /// <summary>Accumulators of one output row of a dense layer: one group's, or every block's on the lookup path.</summary>
        public readonly int[] Acc;
        public readonly int[] AccHi = GC.AllocateArray<int>(4 * DenseKernels.Group, pinned: true);
        public readonly int[] T2, Sum;
        /// <summary>Per input column of a dense layer's window: its sum over the window's rows (<see cref="RowWindowSums"/>).</summary>
        public readonly int[] Columns;
        public readonly float[] Y;
        /// <summary>Outputs of the float head's tiles: [pixel][channels rounded up to 32].</summary>
        public readonly float[] Y4;
        /// <summary>The float head's sums of one 16-channel group of a tile: [pixel][16].</summary>
        public readonly float[] Tile = GC.AllocateArray<float>(FloatTilePixels * 16, pinned: true);
        /// <summary>The float head's sums of two 16-channel groups of an output row: [group][pixel][16] (HeadGroup floats a group).</summary>
        public readonly float[] HeadRow;
        public readonly int HeadGroup;
        public readonly int Y4Stride;
        /// <summary>The table-lookup path's tables of one tile (<see cref="LutKernels.Tables"/>).</summary>
        public readonly byte[] Tables;
        /// <summary>The float head's input rows of one output row, with zero columns (<see cref="FloatConvLayer.PaddedWidth"/>).</summary>
        public readonly float[] Rows;
        public Worker(int channels, int tableBytes, int rowFloats, int rowPixels, int accInts, int windowColumns, int headPixels, int depthwiseRow)
        {
            HeadGroup = headPixels * 16 + 16;
            HeadRow = GC.AllocateArray<float>(2 * HeadGroup, pinned: true);
            Columns = GC.AllocateArray<int>(windowColumns + 1, pinned: true);
            Acc = GC.AllocateArray<int>(Math.Max(accInts, 4 * DenseKernels.Group * 2), pinned: true);
            Rows = GC.AllocateArray<float>(rowFloats + 16, pinned: true);
            Tables = GC.AllocateArray<byte>(tableBytes + 64, pinned: true);
            int n = (channels + 31) & ~31;
            Y4Stride = n;
            Y4 = GC.AllocateArray<float>(FloatTilePixels * n, pinned: true);
            T2 = GC.AllocateArray<int>(Math.Max(DepthwiseStrip * n, depthwiseRow), pinned: true);
            Sum = GC.AllocateArray<int>(Math.Max(Math.Max(DepthwiseStrip * n, depthwiseRow), rowPixels), pinned: true);
            Y = GC.AllocateArray<float>(n, pinned: true);
        }
    }

    sealed class LayerWork(InferenceSession session, PreparedLayer layer) : IParallelWork
    {
        public readonly PreparedLayer Layer = layer;
        public void Execute(int item, int worker) => session.Execute(Layer, item + session.bufferBase * Layer.ItemsPerImage, worker);
    }

    /// <summary>
    /// Images per pass through the layers. A batch runs as passes of this many images so that one layer's
    /// input, output and residual stay in the cores' L2 caches; one pass over all 64 ResNet-20 images moved
    /// every tensor through memory, and the epilogue's stores and residual loads waited on it.
    /// </summary>
    readonly int imagesPerPass;
    /// <summary>The pass's first image in the batch, and in the buffers (0 unless tensors are kept).</summary>
    int imageBase, bufferBase;

    internal InferenceSession(InferenceModel model, int maxBatch) : this(model, maxBatch, model.Options.Threads) { }

    InferenceSession(InferenceModel model, int maxBatch, int threads)
    {
        if (maxBatch < 1) throw new ArgumentException($"max batch must be >= 1, got {maxBatch}");
        this.model = model;
        MaxBatch = maxBatch;
        int channels = model.Tensors.Where(t => t is not null).Max(t => t.Shape.C);
        team = new WorkerTeam(threads, model.Options.Clock);
        imagesPerPass = model.Options.ImagesPerPass > 0 ? model.Options.ImagesPerPass : PassImages(model, team.Size);
        keepTensors = model.Options.KeepTensors;
        bufferImages = keepTensors ? maxBatch : Math.Min(maxBatch, imagesPerPass);
        buffersPlan = new BufferPlan(model, bufferImages, share: !keepTensors);
        buffers = buffersPlan.Sizes.Select(b => GC.AllocateArray<byte>(checked((int)b), pinned: true)).ToArray();
        floats = new float*[model.Tensors.Length];
        for (int t = 0; t < floats.Length; t++)
            if (buffersPlan.FloatBuffer[t] >= 0) floats[t] = (float*)BufferAt(buffersPlan.FloatBuffer[t]);
        codes = new byte*[model.Views.Count];
        for (int v = 0; v < codes.Length; v++) codes[v] = BufferAt(buffersPlan.CodeBuffer[v]);
        int tableBytes = model.Layers.OfType<DenseLayer>().Where(l => l.Slots.Any(s => s.Path == KernelPath.Lut))
            .Select(l => l.Steps * LutKernels.StepTableBytes).DefaultIfEmpty(0).Max();
        int rowFloats = model.Layers.OfType<FloatConvLayer>().Select(l => l.Spec.KernelH * l.PaddedWidth * l.Spec.InChannels).DefaultIfEmpty(0).Max();
        var dense = model.Layers.OfType<DenseLayer>().ToArray();
        int rowPixels = dense.Select(l => l.Out.Shape.W).DefaultIfEmpty(0).Max();
        int accInts = dense.Select(l => Math.Max(l.Out.Shape.W * DenseKernels.Group,
            l.Slots.Any(s => s.Path == KernelPath.Lut) ? LutKernels.PixelInts(l.Spec.OutChannels) * LutKernels.RowPixels(l.Out.Shape.W) : 0))
            .DefaultIfEmpty(0).Max();
        int windowColumns = dense.Select(l => (l.Out.Shape.W - 1) * l.Spec.StrideW + l.Spec.KernelW).DefaultIfEmpty(0).Max();
        int headPixels = model.Layers.OfType<FloatConvLayer>().Select(l => l.Out.Shape.W).DefaultIfEmpty(0).Max();
        // a depthwise row's sums: its last pixel's vectors may run past the channels to the next multiple of 32
        int depthwiseRow = model.Layers.OfType<DepthwiseLayer>().Select(l => (l.Out.Shape.W - 1) * l.Spec.OutChannels + ((l.Spec.OutChannels + 31) & ~31)).DefaultIfEmpty(0).Max();
        workers = Enumerable.Range(0, team.Size).Select(_ => new Worker(channels, tableBytes, rowFloats, rowPixels, accInts, windowColumns, headPixels, depthwiseRow)).ToArray();
        works = model.Layers.Select(l => new LayerWork(this, l)).ToArray();
        simdEpilogue = Vector256.IsHardwareAccelerated && model.Options.Paths != KernelPath.Scalar;
        epilogue512 = simdEpilogue && Avx512F.IsSupported && Avx512BW.IsSupported && !model.Options.Baseline;
        targets = new TensorTarget[model.Tensors.Length];
        foreach (var t in model.Tensors.Where(t => t is not null))
        {
            var views = new ViewTarget[t.Views.Count];
            for (int i = 0; i < views.Length; i++) views[i] = new ViewTarget(t.Views[i], codes[t.Views[i].Index]);
            targets[t.Id] = new TensorTarget(t, floats[t.Id], views);
        }
        slot = model.Spec.BitsList.Length - 1;
        if (team.Size > 1 && maxBatch >= team.Size && model.Options.ImageParallel && !keepTensors)
        {
            int laneImages = model.Options.ImagesPerPass > 0 ? model.Options.ImagesPerPass : PassImages(model, 1);
            int laneBatch = Math.Min(laneImages, (maxBatch + team.Size - 1) / team.Size);
            lanes = Enumerable.Range(0, team.Size).Select(_ => new InferenceSession(model, laneBatch, 1)).ToArray();
            imageWork = new ImageWork(this);
        }
    }

    byte* BufferAt(int b) => (byte*)Unsafe.AsPointer(ref buffers[b][0]);

    /// <summary>Images per pass: the L2 budget of the team's cores over the widest layer's bytes per image (input
    /// codes and floats, output codes and floats, residual floats).</summary>
    static int PassImages(InferenceModel model, int threads)
    {
        const long budget = 768 << 10; // per core: most of a 1 MB L2 (Zen 4 and Zen 5)
        long widest = 1;
        foreach (var l in model.Layers)
        {
            long bytes = l.In.Views.Sum(v => v.ImageBytes) + l.Out.Views.Sum(v => v.ImageBytes);
            if (l.In.NeedFloat) bytes += 4L * l.In.Shape.Elements;
            if (l.Out.NeedFloat) bytes += 4L * l.Out.Shape.Elements;
            if (l.Residual is { } r) bytes += 4L * r.Shape.Elements;
            widest = Math.Max(widest, bytes);
        }
        return (int)Math.Clamp(budget * threads / widest, 1, int.MaxValue);
    }

    /// <summary>Switches bit-width: an index change; nothing is read or allocated.</summary>
    public void SetBits(int bits)
    {
        int s = Array.IndexOf(model.Spec.BitsList, bits);
        if (s < 0) throw new ArgumentException($"bits {bits} is not in the model's bits_list [{string.Join(", ", model.Spec.BitsList)}]");
        slot = s;
        if (lanes != null) foreach (var l in lanes) l.slot = s;
    }

    /// <summary>Runs a batch: images are N x C x H x W floats (as the model's forward takes them), logits N x classes.</summary>
    public void Run(ReadOnlySpan<float> images, Span<float> logits) => Run(images, logits, null);

    /// <summary>Profiling (benchmarks only): Run, adding each layer's elapsed ticks to ticks[layer].</summary>
    internal void RunTimed(ReadOnlySpan<float> images, Span<float> logits, long[] ticks) => Run(images, logits, ticks);

    void Run(ReadOnlySpan<float> images, Span<float> logits, long[]? ticks)
    {
        int per = model.InputsPerImage;
        if (images.Length == 0 || images.Length % per != 0) throw new ArgumentException($"input has {images.Length} floats, not a multiple of {per} (C x H x W)");
        int n = images.Length / per;
        if (n > MaxBatch) throw new ArgumentException($"batch {n} exceeds the session's max batch {MaxBatch}");
        if (logits.Length < n * model.OutputsPerImage) throw new ArgumentException($"logits span holds {logits.Length} floats, needs {n * model.OutputsPerImage}");
        batch = n;
        long start = model.Options.Clock();
        bool burst = start - lastEnd < BurstTicks;
        RanAlone = team.Size > 1 && ticks is null && n * model.MacsPerImage < model.Options.ColdAloneMacs && team.Parked;
        RanByImages = !RanAlone && lanes != null && ticks is null && !SkipEpilogue && n >= team.Size;
        if (RanByImages)
        {
            RunImages(images, logits, n);
            lastEnd = model.Options.Clock();
            return;
        }
        int classes = model.OutputsPerImage;
        for (imageBase = 0; imageBase < n; imageBase += imagesPerPass)
        {
            int m = Math.Min(imagesPerPass, n - imageBase);
            bufferBase = keepTensors ? imageBase : 0;
            ClearBorders(0, m);
            ConvertInput(images, m);
            for (int i = 0; i < works.Length; i++)
            {
                var l = works[i].Layer;
                long t0 = ticks is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
                ClearBorders(i + 1, m);
                team.Run(m * l.ItemsPerImage, works[i], !RanAlone && m * l.MacsPerImage >= model.Options.ParallelThresholdMacs);
                if (ticks is not null) ticks[i] += System.Diagnostics.Stopwatch.GetTimestamp() - t0;
            }
            new ReadOnlySpan<float>(floats[model.Layers[^1].Out.Id] + (long)bufferBase * classes, m * classes).CopyTo(logits.Slice(imageBase * classes));
        }
        imageBase = bufferBase = 0;
        // runs back to back: the workers spin for the next one instead of being woken inside it
        if (RanAlone && burst) team.Wake();
        lastEnd = model.Options.Clock();
    }

    /// <summary>When the last Run ended, and how soon after it a run counts as the next of a burst.</summary>
    long lastEnd = long.MinValue / 2;
    static readonly long BurstTicks = System.Diagnostics.Stopwatch.Frequency / 1000;

    /// <summary>
    /// Whether the last Run went on the calling thread alone: a small run (fewer multiply-adds than
    /// <see cref="EngineOptions.ColdAloneMacs"/>) that found the workers parked. Woken for it, a worker on
    /// these virtual machines slowed the caller tenfold for the first hundred microseconds or so (a trace of one
    /// ResNet-20 batch-1 run after a 5 ms pause: the caller took 143 us for its half of the first layer, 15 us for a
    /// whole layer alone once the worker had blocked again), so such a run took 0.41-0.56 ms on two threads
    /// against 0.26-0.28 ms on one. A run that starts within a millisecond of the previous one's end wakes the
    /// workers when it is done, so that in a burst the next runs find them spinning and use them; sporadic runs
    /// leave them blocked (a woken worker would only spin).
    /// </summary>
    internal bool RanAlone { get; private set; }

    /// <summary>Whether the last Run went by whole images per worker (tests).</summary>
    internal bool RanByImages { get; private set; }

    /// <summary>
    /// A batch as chunks of whole images, each run by one worker from the first layer to the last on its own
    /// lane's buffers, chunks handed out as workers ask. Split layer by layer, ResNet-20 at batch 64 met about
    /// 140 barriers, and a layer's last items waited for the slowest worker: on two cores the engine ran 1.6x
    /// as fast as on one, ONNX Runtime 1.7x. By whole images (`--split` in the engine bench, one interleaved
    /// run): ResNet-20 batch 64 at 8 bits 9.7 -> 8.5 ms, MobileNet V2 batch 64 188 -> 148 ms. Chunks are at most
    /// a lane's L2 pass and small enough that every worker gets about two, so a worker the OS delays leaves its
    /// remaining chunks to the others.
    /// </summary>
    void RunImages(ReadOnlySpan<float> images, Span<float> logits, int n)
    {
        var w = imageWork!;
        int size = team.Size;
        w.Chunk = Math.Min(lanes![0].MaxBatch, Math.Max(1, (n + 2 * size - 1) / (2 * size)));
        w.Images = n;
        fixed (float* pi = images, pl = logits)
        {
            w.In = pi;
            w.Out = pl;
            try { team.Run((n + w.Chunk - 1) / w.Chunk, w, parallel: true); }
            finally { w.In = w.Out = null; }
        }
    }

    sealed class ImageWork(InferenceSession session) : IParallelWork
    {
        public float* In, Out;
        public int Chunk, Images;
        public void Execute(int item, int worker)
        {
            var m = session.model;
            int first = item * Chunk, count = Math.Min(Chunk, Images - first);
            session.lanes![worker].Run(new ReadOnlySpan<float>(In + (long)first * m.InputsPerImage, count * m.InputsPerImage),
                new Span<float>(Out + (long)first * m.OutputsPerImage, count * m.OutputsPerImage), null);
        }
    }

    void ClearBorders(int step, int images)
    {
        foreach (var v in buffersPlan.ClearBefore[step]) BufferPlan.ClearBorders(v, codes[v.Index] + bufferBase * v.ImageBytes, images);
    }

    /// <summary>Profiling only: dense and depthwise layers skip their epilogue (outputs are then meaningless).</summary>
    internal bool SkipEpilogue;

    public void Dispose()
    {
        team.Dispose();
        if (lanes != null) foreach (var l in lanes) l.Dispose();
    }

    internal ReadOnlySpan<float> FloatsOf(int tensor) => floats[tensor] != null
        ? new(Kept(floats[tensor]), bufferImages * model.Tensors[tensor].Shape.Elements)
        : throw new InvalidOperationException($"tensor {tensor} is not kept as floats");
    internal ReadOnlySpan<byte> CodesOf(int view) => new(Kept(codes[view]), (int)(bufferImages * model.Views[view].ImageBytes));

    /// <summary>Intermediate tensors are overwritten by later ones unless the options keep them.</summary>
    void* Kept(void* p) => keepTensors ? p : throw new InvalidOperationException("intermediate tensors are shared buffers; set EngineOptions.KeepTensors to read them");
    internal int CurrentBatch => batch;

    /// <summary>
    /// The activation codes the layer named <paramref name="layerName"/> read as its input in the last Run, as
    /// (N, C, H, W) bytes without padding: its producer's requantized output, for tests against other implementations.
    /// </summary>
    internal byte[] InputCodes(string layerName)
    {
        var l = model.Spec.Layers.FirstOrDefault(x => x.Name == layerName) ?? throw new ArgumentException($"no layer named '{layerName}'");
        if (l.InputQuant is null) throw new ArgumentException($"layer '{layerName}' reads an unquantized input");
        var t = model.Tensors[l.Input];
        var v = t.Views.First(x => CodeView.SameQuantizer(x.Quant, l.InputQuant));
        var (c, h, w) = (t.Shape.C, t.Shape.H, t.Shape.W);
        var result = new byte[batch * c * h * w];
        for (int n = 0; n < batch; n++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++)
                        result[((n * c + ch) * h + i) * w + j] = CodesOf(v.Index)[(int)(n * v.ImageBytes + ((i + v.PadH) * v.Wp + j + v.PadW) * v.Cp + ch)];
        return result;
    }

    /// <summary>The pass's images, NCHW floats, into the input tensor's buffers.</summary>
    void ConvertInput(ReadOnlySpan<float> images, int count)
    {
        var t = model.Tensors[0];
        var (c, h, w) = (t.Shape.C, t.Shape.H, t.Shape.W);
        var o = targets[0];
        if (o.Views.Length == 0) // only floats (a float head reads them): NCHW to NHWC, no per-pixel calls
        {
            fixed (float* src = images)
                for (int k = 0; k < count; k++)
                {
                    float* image = src + (long)(imageBase + k) * c * h * w, dst = o.Floats + o.At(bufferBase + k, 0, 0);
                    int p = simdEpilogue && c == 3 && Avx512F.IsSupported ? Rgb512.ToNhwc(image, dst, h * w) : 0;
                    for (; p < h * w; p++)
                        for (int ch = 0; ch < c; ch++) dst[p * c + ch] = image[(long)ch * h * w + p];
                }
            return;
        }
        var y = workers[0].Y;
        fixed (float* py = y)
            for (int k = 0; k < count; k++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++)
                    {
                        for (int ch = 0; ch < c; ch++) y[ch] = images[(((imageBase + k) * c + ch) * h + i) * w + j];
                        Emit(t, bufferBase + k, i, j, 0, c, py);
                    }
    }

    /// <summary>
    /// Three planes of floats to interleaved pixels, 16 pixels (three vectors out) at a time by two-source
    /// permutes. One element at a time, MobileNet V1's 224 x 224 x 3 input took about 0.2 ms at batch 1, as long
    /// as the float head that reads it, on the caller alone before any layer starts.
    /// </summary>
    static class Rgb512
    {
        // output float e of a block (0..47) is pixel e / 3, channel e % 3: first r and g, then b put in
        static readonly Vector512<int>[] RedGreen = new Vector512<int>[3], Blue = new Vector512<int>[3];

        static Rgb512()
        {
            Span<int> rg = stackalloc int[16], bl = stackalloc int[16];
            for (int v = 0; v < 3; v++)
            {
                for (int i = 0; i < 16; i++)
                {
                    int e = v * 16 + i, pixel = e / 3, ch = e % 3;
                    rg[i] = ch == 0 ? pixel : ch == 1 ? 16 + pixel : 0;
                    bl[i] = ch == 2 ? 16 + pixel : i;
                }
                RedGreen[v] = Vector512.Create<int>(rg);
                Blue[v] = Vector512.Create<int>(bl);
            }
        }

        /// <summary>Converts whole blocks of 16 pixels; returns the pixels done (the caller does the rest).</summary>
        public static int ToNhwc(float* src, float* dst, int pixels)
        {
            var (rg0, rg1, rg2, b0, b1, b2) = (RedGreen[0], RedGreen[1], RedGreen[2], Blue[0], Blue[1], Blue[2]);
            int p = 0;
            for (; p + 16 <= pixels; p += 16, dst += 48)
            {
                var r = Vector512.Load(src + p);
                var g = Vector512.Load(src + pixels + p);
                var b = Vector512.Load(src + 2L * pixels + p);
                Avx512F.PermuteVar16x32x2(Avx512F.PermuteVar16x32x2(r, rg0, g), b0, b).Store(dst);
                Avx512F.PermuteVar16x32x2(Avx512F.PermuteVar16x32x2(r, rg1, g), b1, b).Store(dst + 16);
                Avx512F.PermuteVar16x32x2(Avx512F.PermuteVar16x32x2(r, rg2, g), b2, b).Store(dst + 32);
            }
            return p;
        }
    }

    void Execute(PreparedLayer layer, int item, int worker)
    {
        switch (layer)
        {
            case DenseLayer d: Dense(d, item, workers[worker]); break;
            case DepthwiseLayer d: Depthwise(d, item, workers[worker]); break;
            case FloatConvLayer f: FloatConv(f, item, workers[worker]); break;
            case PoolLayer p: Pool(p, item, workers[worker]); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Dense(DenseLayer L, int item, Worker wk)
    {
        var spec = L.Spec;
        var s = L.Slots[slot];
        int g = item % L.Groups, row = item / L.Groups, outH = L.Out.Shape.H, oh = row % outH, n = row / outH;
        if (s.Path == KernelPath.Lut)
        {
            if (g == 0) DenseLut(L, s, oh, n, wk); // one item does the row's every group: its tables serve them all
            return;
        }
        int G = L.Group, ow = L.Out.Shape.W, co0 = g * G, count = Math.Min(G, spec.OutChannels - co0), tilePx = DenseKernels.TilePixels(s.Path, G);
        int strideW = spec.StrideW, padW = spec.PadW, outC = spec.OutChannels, steps = L.Steps, times = s.WindowSumTimes;
        var v = L.View;
        int cp = v.Cp, vPadW = v.PadW;
        long groupBytes = (long)g * steps * G * 4;
        var path = s.Path;
        bool skip = SkipEpilogue;
        var windows = L.Windows;
        byte* buf = codes[v.Index];
        fixed (int* actOff = L.ActOff, acc = wk.Acc, accHi = wk.AccHi, t2 = wk.T2, adds = wk.Sum, colCls = windows.Col, columns = wk.Columns)
        fixed (float* y = wk.Y, mHalf = s.MHalf, cstB = s.CstB)
        fixed (sbyte* packed = s.Packed, packedHi = s.PackedHi, ops = s.Operands)
        {
            byte* rowBase = buf + n * v.ImageBytes + (long)(oh * spec.StrideH - spec.PadH + v.PadH) * v.Wp * cp;
            float* cstRow = cstB + (long)windows.Row[oh] * windows.ColRanges.Count * outC + co0;
            var tile = new DenseTile { PixelStride = strideW * cp, ActOff = actOff, Steps = steps, Chunk = s.Chunk, Acc = acc, W = packed + groupBytes };
            var epi = new EpilogueTile
            {
                N = n, H = oh, C0 = co0, Count = count, Acc = acc, AccStride = G, Adds = times != 0 ? adds : null,
                MHalf = mHalf + co0, CstRow = cstRow, ColCls = colCls, CstStride = outC, Int = s.IntCodes, RowCls = windows.Row[oh],
            };
            // the whole row's accumulators first, then one epilogue call for the row: per tile, the call and
            // its setup had cost about as much as the arithmetic of a tile's 4 to 8 pixels
            int done = 0;
            while (done < ow)
            {
                int start = DenseKernels.TileStart(done, ow, tilePx, out int px);
                tile.In = rowBase + (long)(start * strideW - padW + vPadW) * cp;
                tile.Acc = acc + start * G; // an overlapping last tile rewrites its first pixels with the same sums
                if (path == KernelPath.Scalar)
                    DenseKernels.Scalar(tile, px, ops, steps * 4, co0, count, G);
                else
                {
                    tile.W = packed + groupBytes;
                    DenseKernels.Run(path, tile, px, G);
                    if (packedHi != null)
                    {
                        int* lo = tile.Acc;
                        tile.W = packedHi + groupBytes;
                        tile.Acc = accHi;
                        DenseKernels.Run(path, tile, px, G);
                        for (int i = 0; i < px * G; i++) lo[i] += accHi[i] << 4;
                    }
                }
                done = start + px;
            }
            if (skip) return;
            if (times != 0) RowWindowSums(rowBase + (long)(vPadW - padW) * cp, v.Wp * cp, cp, spec.KernelH, spec.KernelW, strideW, ow, times, columns, adds);
            RowOut(L, ref epi, ow, t2, y);
        }
    }

    /// <summary>The first <paramref name="pixels"/> pixels of a dense layer's output row: the fused epilogue, or per pixel.</summary>
    void RowOut(DenseLayer L, ref EpilogueTile epi, int pixels, int* t2, float* y)
    {
        if (epilogue512)
        {
            epi.X0 = 0;
            epi.Pixels = pixels;
            Epilogue512(L, epi);
            return;
        }
        for (int p = 0; p < pixels; p++)
        {
            Doubled(epi.Acc + p * epi.AccStride, epi.Adds != null ? epi.Adds[p] : 0, null, 0, t2, epi.Count);
            Finish(L, epi.N, epi.H, p, epi.C0, epi.Count, t2, epi.MHalf, epi.CstRow + epi.ColCls[p] * epi.CstStride, y);
        }
    }

    /// <summary>One output row of a dense layer by table lookup: the row's dot products (<see cref="LutKernels.Row"/>),
    /// then one epilogue call for the whole row and every channel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void DenseLut(DenseLayer L, DenseSlot s, int oh, int n, Worker wk)
    {
        var spec = L.Spec;
        int ow = L.Out.Shape.W, outC = spec.OutChannels, steps = L.Steps, times = s.LutTimes, planes = s.LutPlanes;
        int rowInts = LutKernels.PixelInts(outC); // the accumulators: [pixel][block][64]
        var v = L.View;
        int cp = v.Cp, pixelStride = spec.StrideW * cp;
        var windows = L.Windows;
        byte* buf = codes[v.Index];
        fixed (int* actOff = L.ActOff, acc = wk.Acc, t2 = wk.T2, adds = wk.Sum, colCls = windows.Col, columns = wk.Columns)
        fixed (float* y = wk.Y, mHalf = s.MHalf, cstB = s.CstB)
        fixed (byte* index = s.LutIndex, tables = wk.Tables)
        {
            byte* rowBase = buf + n * v.ImageBytes + (long)(oh * spec.StrideH - spec.PadH + v.PadH) * v.Wp * cp;
            float* cstRow = cstB + (long)windows.Row[oh] * windows.ColRanges.Count * outC;
            byte* row0 = rowBase + (long)(v.PadW - spec.PadW) * cp; // pixel 0's window
            LutKernels.Row(row0, pixelStride, ow, actOff, steps, tables, index, planes, s.LutByteSteps, s.LutWordChunks, outC, acc);
            if (SkipEpilogue) return;
            if (times != 0) RowWindowSums(row0, v.Wp * cp, cp, spec.KernelH, spec.KernelW, spec.StrideW, ow, times, columns, adds);
            // the whole row, every channel, in one epilogue call: per group of 32 channels, on a 14-pixel row the
            // call's setup had cost about as much as its 28 vectors of work
            var epi = new EpilogueTile
            {
                N = n, H = oh, Acc = acc, AccStride = rowInts, Adds = times != 0 ? adds : null, ColCls = colCls, CstStride = outC,
                Int = s.IntCodes, RowCls = windows.Row[oh], C0 = 0, Count = outC, MHalf = mHalf, CstRow = cstRow,
            };
            RowOut(L, ref epi, ow, t2, y);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Depthwise(DepthwiseLayer L, int item, Worker wk)
    {
        var spec = L.Spec;
        var s = L.Slots[slot];
        int oh = item % L.Out.Shape.H, n = item / L.Out.Shape.H, ow = L.Out.Shape.W, c = spec.OutChannels, taps = L.TapOff.Length;
        var v = L.View;
        byte* buf = codes[v.Index];
        fixed (int* tapOff = L.TapOff, acc = wk.T2, sum = wk.Sum, w32 = s.W32, colCls = L.Windows.Col)
        fixed (short* w16 = s.W16)
        fixed (sbyte* w8 = s.W8)
        fixed (float* y = wk.Y, mHalf = s.MHalf, cstB = s.CstB)
        {
            byte* rowBase = buf + n * v.ImageBytes + (long)(oh * spec.StrideH - spec.PadH + v.PadH) * v.Wp * v.Cp;
            int* winSum0 = s.WindowSumTimes == 0 ? null : sum; // window sums only where the weights have an offset
            var epi = new EpilogueTile
            {
                N = n, H = oh, Count = c, Acc = acc, AccStride = c, Sum = winSum0, SumStride = c, Times = s.WindowSumTimes,
                MHalf = mHalf, CstRow = cstB + (long)L.Windows.Row[oh] * L.Windows.ColRanges.Count * c, ColCls = colCls, CstStride = c,
                Int = s.IntCodes, RowCls = L.Windows.Row[oh],
            };
            // the fused epilogue once for the whole row (the sums of every strip kept): per strip of 8 pixels, at 2
            // bits the call and its setup had cost more than the 16 vectors of work it did
            bool rowEpilogue = epilogue512 && !SkipEpilogue;
            for (int x0 = 0; x0 < ow; x0 += DepthwiseStrip)
            {
                int strip = Math.Min(DepthwiseStrip, ow - x0);
                byte* origin = rowBase + (long)(x0 * spec.StrideW - spec.PadW + v.PadW) * v.Cp;
                int pixelStride = spec.StrideW * v.Cp;
                int* sa = rowEpilogue ? acc + x0 * c : acc, ss = rowEpilogue ? sum + x0 * c : sum, sw = winSum0 == null ? null : ss;
                if (s.Path == KernelPath.Scalar)
                    for (int k = 0; k < strip; k++) DepthwiseKernels.Scalar(origin + k * pixelStride, tapOff, taps, w8, c, sa + k * c, ss + k * c);
                else if (s.Path == KernelPath.Avx512Pair)
                {
                    if (s.Use16) DepthwiseKernels.Avx512Int16(origin, strip, pixelStride, tapOff, taps, w16, s.Stride16, c, sa, sw);
                    else DepthwiseKernels.Avx512Int32(origin, strip, pixelStride, tapOff, taps, w32, s.Stride32, c, sa, sw);
                }
                else if (s.Use16) DepthwiseKernels.Avx2Int16(origin, strip, pixelStride, tapOff, taps, w16, s.Stride16, c, sa, sw);
                else DepthwiseKernels.Avx2Int32(origin, strip, pixelStride, tapOff, taps, w32, s.Stride32, c, sa, sw);
                if (!SkipEpilogue && !epilogue512)
                    for (int k = 0; k < strip; k++)
                    {
                        int* a = acc + k * c;
                        Doubled(a, 0, winSum0 == null ? null : winSum0 + k * c, s.WindowSumTimes, a, c);
                        Finish(L, n, oh, x0 + k, 0, c, a, mHalf, cstB + L.Windows.Of(oh, x0 + k) * c, y);
                    }
            }
            if (!rowEpilogue) return;
            epi.X0 = 0;
            epi.Pixels = ow;
            Epilogue512(L, epi);
        }
    }

    /// <summary>T2 = 2 acc + add + times x sum (sum may be null): the doubled integer sum with its window term.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Doubled(int* acc, int add, int* sum, int times, int* t2, int count)
    {
        int c = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(add);
            var vt = Vector256.Create(times);
            for (; c + 8 <= count; c += 8)
            {
                var v = Vector256.ShiftLeft(Vector256.Load(acc + c), 1) + va; // a shift: "* 2" compiled to vpmulld
                if (sum != null) v += Vector256.Load(sum + c) * vt;
                v.Store(t2 + c);
            }
        }
        for (; c < count; c++) t2[c] = 2 * acc[c] + add + (sum == null ? 0 : times * sum[c]);
    }

    /// <summary>y = T2 x MHalf + CstB (+ residual) (ReLU), then written as floats and codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Finish(PreparedLayer L, int n, int h, int w, int c0, int count, int* t2, float* mHalf, float* cstB, float* y)
    {
        var o = L.Out.Shape;
        float* res = null;
        if (L.Residual is { } r)
            res = floats[r.Id] + (((long)n * o.H + h) * o.W + w) * o.C + c0;
        int c = 0;
        if (simdEpilogue)
            for (; c + 8 <= count; c += 8)
            {
                var v = Vector256.ConvertToSingle(Vector256.Load(t2 + c)) * Vector256.Load(mHalf + c) + Vector256.Load(cstB + c);
                if (res != null) v += Vector256.Load(res + c);
                if (L.Spec.Relu) v = Vector256.Max(v, Vector256<float>.Zero);
                v.Store(y + c);
            }
        for (; c < count; c++)
        {
            float v = (float)t2[c] * mHalf[c] + cstB[c];
            if (res != null) v += res[c];
            if (L.Spec.Relu && !(v > 0)) v = 0;
            y[c] = v;
        }
        Emit(L.Out, n, h, w, c0, count, y);
    }

    /// <summary>
    /// Doubled sum, affine, residual, ReLU and every consumer's quantizer over 16-lane vectors, writing straight
    /// into the output buffers, for a tile's pixels (<see cref="EpilogueTile"/>): one
    /// <see cref="EpiloguePass"/> per code view. One call per row (dense) or strip (depthwise), not per pixel:
    /// the call and its setup cost more than 16 channels of work.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Epilogue512(PreparedLayer L, in EpilogueTile e)
    {
        var o = targets[L.Out.Id];
        int full = e.Count & ~15;
        if (full > 0 && e.Pixels > 0)
        {
            long first = o.At(e.N, e.H, e.X0) + e.C0;
            var st = new EpilogueStreams
            {
                Acc = e.Acc, AccStride = e.AccStride, Sum = e.Sum, SumStride = e.SumStride, Times = e.Times, Adds = e.Adds,
                ColCls = e.ColCls == null ? null : e.ColCls + e.X0,
                MHalf = e.MHalf, CstRow = e.CstRow, CstStride = e.CstStride,
                Res = L.Residual is { } r ? targets[r.Id].Floats + first : null,
                Dst = o.Floats == null ? null : o.Floats + first, PixelFloats = o.PixelFloats,
                Pixels = e.Pixels, Full = full, Relu = L.Spec.Relu,
            };
            Passes(o, st, e.N, e.H, e.X0, e.C0, e.Int, e.RowCls);
        }
        if (full < e.Count) EpilogueTail(L, e, full);
    }

    /// <summary>One <see cref="EpiloguePass"/> per code view of the output from pixel (n, h, x), channel c0 on (one for
    /// the floats alone where there is none). The first also writes the floats; a second view (two consumers with
    /// different quantizers) is rare, and its quantizer inside the same loop had taken the first one's registers.</summary>
    void Passes(TensorTarget o, EpilogueStreams st, int n, int h, int x, int c0, IntThresholds?[]? intCodes, int rowCls)
    {
        var views = o.Views;
        for (int i = 0; i == 0 || i < views.Length; i++)
        {
            if (i < views.Length)
            {
                st.Codes = views[i].Pixel(n, h, x) + c0;
                st.PixelBytes = views[i].PixelBytes;
            }
            if (i > 0) st.Dst = null;
            st.Theta = null;
            if (intCodes != null && i < intCodes.Length && intCodes[i] is { } it && st.Dst == null && st.Res == null && st.FloatAcc == null)
            {
                st.Theta = it.Theta + (long)rowCls * it.ColClasses * it.ClassStride + c0;
                st.Flip = it.Flip + c0;
                st.ThetaStride = it.ClassStride;
                st.ThetaPlane = it.Channels;
            }
            // by reference: a copy of the 512-byte lanes here had cost two memcpy calls per epilogue call
            ref readonly RequantLanes lanes = ref i < views.Length ? ref views[i].Requant[slot].Lanes : ref NoLanes;
            EpiloguePass.Run(st, lanes);
        }
    }

    static readonly RequantLanes NoLanes;

    /// <summary>
    /// The channels after the last full vector (fewer than 16), as one vector through staging copies: lanes
    /// are independent, so this is the arithmetic of the vector loop. Apart from that loop: a call in it made
    /// the JIT reload the quantizer's constants for every pixel. Not per channel through the scalar quantizer:
    /// on MobileNet V2's 24-channel projections that took 0.9 of the layer's 0.95 ms.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    void EpilogueTail(PreparedLayer L, in EpilogueTile e, int from)
    {
        var o = targets[L.Out.Id];
        float* res = L.Residual is { } r ? targets[r.Id].Floats : null;
        int k = e.Count - from;
        int* ta = stackalloc int[16], ts = stackalloc int[16];
        float* tm = stackalloc float[16], tc = stackalloc float[16], tr = stackalloc float[16], ty = stackalloc float[16];
        byte* tb = stackalloc byte[16];
        Vector512<int>.Zero.Store(ta); Vector512<int>.Zero.Store(ts);
        Vector512<float>.Zero.Store(tm); Vector512<float>.Zero.Store(tc); Vector512<float>.Zero.Store(tr);
        static void Copy<T>(T* from, T* to, int count) where T : unmanaged => new ReadOnlySpan<T>(from, count).CopyTo(new Span<T>(to, count));
        Copy(e.MHalf + from, tm, k);
        var vtimes = Vector512.Create(e.Times);
        for (int p = 0; p < e.Pixels; p++)
        {
            int x = e.X0 + p, add = e.Adds == null ? 0 : e.Adds[p];
            long at = o.At(e.N, e.H, x) + e.C0 + from;
            Copy(e.Acc + p * e.AccStride + from, ta, k);
            if (e.Sum != null) Copy(e.Sum + p * e.SumStride + from, ts, k);
            Copy((e.ColCls == null ? e.CstRow : e.CstRow + e.ColCls[x] * e.CstStride) + from, tc, k);
            if (res != null) Copy(res + at, tr, k);
            var t2 = Vector512.ShiftLeft(Vector512.Load(ta), 1) + Vector512.Create(add) + Vector512.Load(ts) * vtimes;
            var v = Vector512.ConvertToSingle(t2) * Vector512.Load(tm) + Vector512.Load(tc);
            if (res != null) v += Vector512.Load(tr);
            if (L.Spec.Relu) v = Avx512F.Max(v, Vector512<float>.Zero);
            if (o.Floats != null) { v.Store(ty); Copy(ty, o.Floats + at, k); }
            foreach (var view in o.Views)
            {
                Avx512F.ConvertToVector128Byte(view.Requant[slot].Codes(v)).Store(tb);
                Copy(tb, view.Pixel(e.N, e.H, x) + e.C0 + from, k);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void FloatConv(FloatConvLayer L, int item, Worker wk)
    {
        if (L.Lanes == 16) { FloatConv512(L, item, wk); return; }
        var spec = L.Spec;
        var (wts, scale, shift) = L.Slots[slot];
        var i = L.In.Shape;
        var o = L.Out.Shape;
        int oh = item % o.H, n = item / o.H, kh = spec.KernelH, kw = spec.KernelW, cin = spec.InChannels;
        float* x = floats[L.In.Id];
        fixed (float* w = wts, sc = scale, sh = shift, y = wk.Y)
        {
            float* res = L.Residual is { } r ? floats[r.Id] : null;
            for (int ox = 0; ox < o.W; ox++)
            {
                for (int g = 0; g * 8 < spec.OutChannels; g++)
                {
                    var acc = Vector256<float>.Zero;
                    for (int ky = 0; ky < kh; ky++)
                    {
                        int iy = oh * spec.StrideH - spec.PadH + ky;
                        if ((uint)iy >= (uint)i.H) continue;
                        for (int kx = 0; kx < kw; kx++)
                        {
                            int ix = ox * spec.StrideW - spec.PadW + kx;
                            if ((uint)ix >= (uint)i.W) continue;
                            float* px = x + (((long)n * i.H + iy) * i.W + ix) * cin;
                            float* pw = w + ((long)(g * kh + ky) * kw + kx) * cin * 8;
                            for (int ci = 0; ci < cin; ci++) acc = Vector256.FusedMultiplyAdd(Vector256.Create(px[ci]), Vector256.Load(pw + ci * 8), acc);
                        }
                    }
                    int cnt = Math.Min(8, spec.OutChannels - g * 8);
                    if (cnt == 8)
                    {
                        var v = acc * Vector256.Load(sc + g * 8) + Vector256.Load(sh + g * 8);
                        if (res != null) v += Vector256.Load(res + (((long)n * o.H + oh) * o.W + ox) * o.C + g * 8);
                        if (spec.Relu) v = Vector256.Max(v, Vector256<float>.Zero);
                        v.Store(y + g * 8);
                        continue;
                    }
                    for (int j = 0; j < cnt; j++)
                    {
                        int c = g * 8 + j;
                        float v = acc.GetElement(j) * sc[c] + sh[c];
                        if (res != null) v += res[(((long)n * o.H + oh) * o.W + ox) * o.C + c];
                        if (spec.Relu && !(v > 0)) v = 0;
                        y[c] = v;
                    }
                }
                Emit(L.Out, n, oh, ox, 0, spec.OutChannels, y);
            }
        }
    }

    /// <summary>
    /// As <see cref="FloatConv"/> with 16 channels per vector: the same products and sums in the same order
    /// (taps by row, column, input channel; fused multiply-adds: half the instructions of a multiply and an
    /// add). A row's pixels run eight at a time from a table of tap offsets into a copy of the window's input
    /// rows with zero borders, sharing each weight load; per pixel the border pixels had cost as much as all
    /// the others (ResNet-20: 2 of 32 columns and the first and last rows).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void FloatConv512(FloatConvLayer L, int item, Worker wk)
    {
        var spec = L.Spec;
        var (wts, scale, shift) = L.Slots[slot];
        var i = L.In.Shape;
        var o = L.Out.Shape;
        int oh = item % o.H, n = item / o.H, kh = spec.KernelH, kw = spec.KernelW, cin = spec.InChannels, co = spec.OutChannels;
        int sw = spec.StrideW, pw0 = spec.PadW, taps = L.TapOffsets.Length, groups = (co + 15) / 16, ys = wk.Y4Stride;
        float* x = targets[L.In.Id].Floats;
        float* res = L.Residual is { } r ? targets[r.Id].Floats : null;
        var target = targets[L.Out.Id];
        int iy0 = oh * spec.StrideH - spec.PadH;
        fixed (float* w = wts, sc = scale, sh = shift, y = wk.Y, y4 = wk.Y4, tile = wk.Tile, rows = wk.Rows, headRow = wk.HeadRow)
        fixed (int* koff = L.PaddedTapOffsets)
        {
            int ox = 0;
            if (o.W >= FloatTilePixels)
            {
                // the window's input rows, copied with zero columns and zero rows where the window leaves the
                // image: every pixel then takes the 8-pixel tiles. A missing tap adds 0 x w, which leaves
                // the sum as it was, so this equals the per-pixel path that skips it (the 8-lane engine)
                int rowFloats = L.PaddedWidth * cin;
                for (int ky = 0; ky < kh; ky++)
                {
                    var dst = new Span<float>(rows + ky * rowFloats, rowFloats);
                    int iy = iy0 + ky;
                    dst.Clear();
                    if ((uint)iy < (uint)i.H)
                        new ReadOnlySpan<float>(x + ((long)n * i.H + iy) * i.W * cin, i.W * cin).CopyTo(dst.Slice(pw0 * cin));
                }
                long ps = (long)sw * cin;
                float* headRow1 = headRow + wk.HeadGroup;
                for (int g = 0; g < groups;)
                {
                    // whole groups' sums for the row, then one fused epilogue pass over each: per 8-pixel tile,
                    // the pass's call and set-up had cost more than its arithmetic
                    bool whole = co - g * 16 >= 16, pair = co - g * 16 >= 32;
                    for (int t = 0; t < o.W; t += FloatTilePixels)
                    {
                        int start = Math.Min(t, o.W - FloatTilePixels); // the last tile overlaps the one before
                        float* input = rows + (long)start * sw * cin, wg = w + (long)g * taps * 16;
                        if (pair)
                        {
                            FloatTile2(input, ps, koff, taps, wg, wg + taps * 16, headRow + start * 16, headRow1 + start * 16);
                            continue;
                        }
                        float* sums = whole ? headRow + start * 16 : tile;
                        FloatTile(input, ps, koff, 0, taps, wg, sums);
                        if (whole) continue;
                        long at = (((long)n * o.H + oh) * o.W + start) * o.C + g * 16;
                        for (int j = 0; j < FloatTilePixels; j++)
                            FloatHeadOut(Vector512.Load(tile + j * 16), g, co, sc, sh, res == null ? null : res + at + j * o.C, spec.Relu, y4 + j * ys);
                        Emit(L.Out, n, oh, start, FloatTilePixels, g * 16, co - g * 16, y4 + g * 16, ys);
                    }
                    for (int k = 0; whole && k < (pair ? 2 : 1); k++)
                    {
                        int gk = g + k;
                        long first = ((long)n * o.H + oh) * o.W * o.C + gk * 16;
                        var st = new EpilogueStreams
                        {
                            FloatAcc = k == 0 ? headRow : headRow1, AccStride = 16, MHalf = sc + gk * 16, CstRow = sh + gk * 16,
                            Res = res == null ? null : res + first, Dst = target.Floats == null ? null : target.Floats + first,
                            PixelFloats = o.C, Pixels = o.W, Full = 16, Relu = spec.Relu,
                        };
                        Passes(target, st, n, oh, 0, gk * 16, null, 0);
                    }
                    g += pair ? 2 : 1;
                }
                ox = o.W;
            }
            for (; ox < o.W; ox++) // rows narrower than a tile
            {
                long at1 = (((long)n * o.H + oh) * o.W + ox) * o.C;
                for (int g = 0; g < groups; g++)
                {
                    var acc = Vector512<float>.Zero;
                    for (int ky = 0; ky < kh; ky++)
                    {
                        int iy = iy0 + ky;
                        if ((uint)iy >= (uint)i.H) continue;
                        for (int kx = 0; kx < kw; kx++)
                        {
                            int ix = ox * sw - pw0 + kx;
                            if ((uint)ix >= (uint)i.W) continue;
                            float* px = x + (((long)n * i.H + iy) * i.W + ix) * cin;
                            float* pwk = w + ((long)(g * kh + ky) * kw + kx) * cin * 16;
                            for (int ci = 0; ci < cin; ci++) acc = Vector512.FusedMultiplyAdd(Vector512.Create(px[ci]), Vector512.Load(pwk + ci * 16), acc);
                        }
                    }
                    FloatHeadOut(acc, g, co, sc, sh, res == null ? null : res + at1 + g * 16, spec.Relu, y);
                }
                Emit(L.Out, n, oh, ox, 0, co, y);
            }
        }
    }

    const int FloatTilePixels = 8;
    /// <summary>Depthwise pixels per epilogue call.</summary>
    const int DepthwiseStrip = 8;

    /// <summary>
    /// One 16-channel group of the float head for 8 pixels (ps floats apart) over taps [k0, k1): eight
    /// independent sums hide the adds' latency (four left the loop waiting on them), and a method of its own
    /// keeps its pointers in registers (inside the layer's loop they were reloaded from the stack every tap).
    /// Fused multiply-adds, as every float path of the engine does, so that all of them agree bit for bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void FloatTile(float* p0, long ps, int* koff, int k0, int k1, float* w, float* sums)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int k = k0; k < k1; k++)
        {
            var wv = Vector512.Load(w + k * 16);
            float* p = p0 + koff[k];
            a0 = Vector512.FusedMultiplyAdd(Vector512.Create(p[0]), wv, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Create(p[ps]), wv, a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Create(p[2 * ps]), wv, a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Create(p[3 * ps]), wv, a3);
            a4 = Vector512.FusedMultiplyAdd(Vector512.Create(p[4 * ps]), wv, a4);
            a5 = Vector512.FusedMultiplyAdd(Vector512.Create(p[5 * ps]), wv, a5);
            a6 = Vector512.FusedMultiplyAdd(Vector512.Create(p[6 * ps]), wv, a6);
            a7 = Vector512.FusedMultiplyAdd(Vector512.Create(p[7 * ps]), wv, a7);
        }
        a0.Store(sums); a1.Store(sums + 16); a2.Store(sums + 32); a3.Store(sums + 48);
        a4.Store(sums + 64); a5.Store(sums + 80); a6.Store(sums + 96); a7.Store(sums + 112);
    }

    /// <summary>
    /// <see cref="FloatTile"/> for two 16-channel groups at once (weights w0, w1; sums s0, s1): each broadcast
    /// input serves two fused multiply-adds, so the loads no longer outnumber them. The same products in the same
    /// order per output as FloatTile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void FloatTile2(float* p0, long ps, int* koff, int taps, float* w0, float* w1, float* s0, float* s1)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (int k = 0; k < taps; k++)
        {
            var wa = Vector512.Load(w0 + k * 16);
            var wb = Vector512.Load(w1 + k * 16);
            float* p = p0 + koff[k];
            var x = Vector512.Create(p[0]); a0 = Vector512.FusedMultiplyAdd(x, wa, a0); b0 = Vector512.FusedMultiplyAdd(x, wb, b0);
            x = Vector512.Create(p[ps]); a1 = Vector512.FusedMultiplyAdd(x, wa, a1); b1 = Vector512.FusedMultiplyAdd(x, wb, b1);
            x = Vector512.Create(p[2 * ps]); a2 = Vector512.FusedMultiplyAdd(x, wa, a2); b2 = Vector512.FusedMultiplyAdd(x, wb, b2);
            x = Vector512.Create(p[3 * ps]); a3 = Vector512.FusedMultiplyAdd(x, wa, a3); b3 = Vector512.FusedMultiplyAdd(x, wb, b3);
            x = Vector512.Create(p[4 * ps]); a4 = Vector512.FusedMultiplyAdd(x, wa, a4); b4 = Vector512.FusedMultiplyAdd(x, wb, b4);
            x = Vector512.Create(p[5 * ps]); a5 = Vector512.FusedMultiplyAdd(x, wa, a5); b5 = Vector512.FusedMultiplyAdd(x, wb, b5);
            x = Vector512.Create(p[6 * ps]); a6 = Vector512.FusedMultiplyAdd(x, wa, a6); b6 = Vector512.FusedMultiplyAdd(x, wb, b6);
            x = Vector512.Create(p[7 * ps]); a7 = Vector512.FusedMultiplyAdd(x, wa, a7); b7 = Vector512.FusedMultiplyAdd(x, wb, b7);
        }
        a0.Store(s0); a1.Store(s0 + 16); a2.Store(s0 + 32); a3.Store(s0 + 48);
        a4.Store(s0 + 64); a5.Store(s0 + 80); a6.Store(s0 + 96); a7.Store(s0 + 112);
        b0.Store(s1); b1.Store(s1 + 16); b2.Store(s1 + 32); b3.Store(s1 + 48);
        b4.Store(s1 + 64); b5.Store(s1 + 80); b6.Store(s1 + 96); b7.Store(s1 + 112);
    }

    /// <summary>Group g's sums: y[g * 16 + j] = acc[j] x scale + shift (+ residual) (ReLU), for the channels that exist.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void FloatHeadOut(Vector512<float> acc, int g, int co, float* sc, float* sh, float* res, bool relu, float* y)
    {
        if (co - g * 16 >= 16)
        {
            var v = acc * Vector512.Load(sc + g * 16) + Vector512.Load(sh + g * 16);
            if (res != null) v += Vector512.Load(res);
            if (relu) v = Vector512.Max(v, Vector512<float>.Zero);
            v.Store(y + g * 16);
            return;
        }
        for (int j = 0; g * 16 + j < co; j++)
        {
            int c = g * 16 + j;
            float v = acc.GetElement(j) * sc[c] + sh[c];
            if (res != null) v += res[j];
            if (relu && !(v > 0)) v = 0;
            y[c] = v;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Pool(PoolLayer L, int n, Worker wk)
    {
        var i = L.In.Shape;
        int hw = i.H * i.W, channels = i.C;
        float* x = floats[L.In.Id] + (long)n * hw * channels;
        fixed (float* y = wk.Y)
        {
            // eight channels at a time, each summed over the pixels in order as the scalar loop below does
            int c = 0;
            if (simdEpilogue)
                for (; c + 8 <= channels; c += 8)
                {
                    var s = Vector256<float>.Zero;
                    for (int p = 0; p < hw; p++) s += Vector256.Load(x + (long)p * channels + c);
                    (s / Vector256.Create((float)hw)).Store(y + c);
                }
            for (; c < channels; c++)
            {
                float s = 0;
                for (int p = 0; p < hw; p++) s += x[(long)p * channels + c];
                y[c] = s / hw;
            }
            Emit(L.Out, n, 0, 0, 0, channels, y);
        }
    }

    /// <summary>
    /// adds[x] = times x the sum of the input codes in output pixel x's window, for a whole output row: each
    /// input column's sum over the window's rows once, then a sliding sum of KernelW columns. Summed per output
    /// pixel instead, every input pixel was read KernelW times over (no difference in time was measurable: the
    /// epilogue pass costs far more). Sums of absolute differences from zero stay in vector lanes across the
    /// rows and are added up once a column.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RowWindowSums(byte* origin, int rowBytes, int cp, int kh, int kw, int strideW, int ow, int times, int* columns, int* adds)
    {
        int width = (ow - 1) * strideW + kw;
        for (int j = 0; j < width; j++)
        {
            byte* column = origin + (long)j * cp;
            var wide = Vector256<ulong>.Zero;
            var narrow = Vector128<ulong>.Zero;
            int s = 0;
            for (int r = 0; r < kh; r++)
            {
                byte* p = column + (long)r * rowBytes;
                int c = 0;
                if (Avx2.IsSupported)
                    for (; c + 32 <= cp; c += 32) wide += Avx2.SumAbsoluteDifferences(Vector256.Load(p + c), Vector256<byte>.Zero).AsUInt64();
                if (Sse2.IsSupported)
                    for (; c + 16 <= cp; c += 16) narrow += Sse2.SumAbsoluteDifferences(Vector128.Load(p + c), Vector128<byte>.Zero).AsUInt64();
                for (; c < cp; c++) s += p[c];
            }
            columns[j] = s + (int)(Vector256.Sum(wide) + Vector128.Sum(narrow));
        }
        for (int x = 0; x < ow; x++)
        {
            int s = 0;
            for (int k = 0; k < kw; k++) s += columns[x * strideW + k];
            adds[x] = times * s;
        }
    }

    /// <summary>Writes one pixel's channels [c0, c0 + count) of a tensor: floats where kept, codes for each quantizer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Emit(TensorPlan t, int n, int h, int w, int c0, int count, float* y) => Emit(t, n, h, w, 1, c0, count, y, 0);

    /// <summary>Writes pixels [w, w + pixels) of a row, channels [c0, c0 + count), from y (yStride floats per
    /// pixel): floats where kept, codes for each quantizer. Several pixels a call, with the quantizer's
    /// constants loaded once: the float head's 16 channels a pixel were less work than a call's setup.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Emit(TensorPlan t, int n, int h, int w, int pixels, int c0, int count, float* y, int yStride)
    {
        var o = targets[t.Id];
        if (o.Floats != null)
            for (int p = 0; p < pixels; p++)
            {
                float* src = y + p * yStride, dst = o.Floats + o.At(n, h, w + p) + c0;
                int i = 0;
                if (epilogue512) for (; i + 16 <= count; i += 16) Vector512.Load(src + i).Store(dst + i); // a call to memmove cost more
                for (; i < count; i++) dst[i] = src[i];
            }
        foreach (var v in o.Views)
        {
            byte* b = v.Pixel(n, h, w) + c0;
            var rq = v.Requant[slot];
            var q = rq.Lanes;
            for (int p = 0; p < pixels; p++, b += v.PixelBytes)
            {
                float* yp = y + p * yStride;
                if (epilogue512)
                {
                    int i = 0;
                    for (; i + 16 <= count; i += 16) Avx512F.ConvertToVector128Byte(q.Codes(Vector512.Load(yp + i))).Store(b + i);
                    for (; i < count; i++) b[i] = (byte)rq.Code(yp[i]);
                }
                else
                {
                    var a = v.Quant;
                    Quantize(yp, count, a.Alpha[slot], a.Bits[slot], a.Scheme, a.DoubleSided, b);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Quantize(float* y, int count, float alpha, int bits, QuantScheme scheme, bool doubleSided, byte* dst)
    {
        int i = 0;
        if (simdEpilogue)
        {
            float a = MathF.Abs(alpha);
            var va = Vector256.Create(a);
            var top = Vector256.Create((float)((1 << bits) - 1));
            var levels = Vector256.Create((float)(1 << bits));
            var lo = doubleSided ? -va : Vector256<float>.Zero;
            bool narrow = Avx512F.VL.IsSupported;
            for (; i + 8 <= count; i += 8)
            {
                var c = Vector256.Min(Vector256.Max(Vector256.Load(y + i), lo), va);
                var u = doubleSided ? (c / va + Vector256<float>.One) * Vector256.Create(0.5f) : c / va;
                var f = scheme == QuantScheme.Original ? Vector256.Round(top * u) : Vector256.Min(Vector256.Floor(levels * u), top);
                var k = Vector256.ConvertToInt32(f);
                if (narrow) *(long*)(dst + i) = Avx512F.VL.ConvertToVector128Byte(k).AsInt64().ToScalar();
                else for (int j = 0; j < 8; j++) dst[i + j] = (byte)k.GetElement(j);
            }
        }
        for (; i < count; i++) dst[i] = (byte)QuantMath.ActivationCode(y[i], alpha, bits, scheme, doubleSided);
    }
}

/// <summary>
/// A code view's buffer as plain numbers for the per-pixel epilogue. The plan objects' property chains
/// (Shape, Cp, Wp, ImageBytes) were not inlined into the large kernel methods and cost about a tenth of a
/// ResNet-20 run; these are read once per session.
/// </summary>
internal readonly unsafe struct ViewTarget(CodeView v, byte* buffer)
{
    readonly byte* origin = buffer + ((long)v.PadH * v.Wp + v.PadW) * v.Cp;
    readonly long imageBytes = v.ImageBytes;
    readonly int rowBytes = v.Wp * v.Cp;
    /// <summary>Bytes between neighbouring pixels of a row.</summary>
    public readonly int PixelBytes = v.Cp;
    public readonly Requantizer[] Requant = v.Requant;
    public readonly ActivationSpec Quant = v.Quant;

    /// <summary>Channel 0 of pixel (h, w) of image n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Pixel(int n, int h, int w) => origin + n * imageBytes + (long)h * rowBytes + (long)w * PixelBytes;
}

/// <summary>A tensor's float buffer (null where it is kept only as codes) and its code views, for this session.</summary>
internal sealed unsafe class TensorTarget(TensorPlan t, float* floats, ViewTarget[] views)
{
    public readonly float* Floats = floats;
    public readonly ViewTarget[] Views = views;
    readonly int h = t.Shape.H, w = t.Shape.W, c = t.Shape.C;
    /// <summary>Floats between neighbouring pixels of a row.</summary>
    public int PixelFloats => c;

    /// <summary>Offset of pixel (h, w) of image n in the NHWC float buffer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long At(int n, int y, int x) => (((long)n * h + y) * w + x) * c;
}

/// <summary>
/// One epilogue call: Pixels pixels from column X0 of row H of image N, channels
/// [C0, C0 + Count). Acc: AccStride ints per pixel; Adds: an int per pixel, or null; Sum x Times: a window
/// term per channel (SumStride ints per pixel), or null; CstRow + ColCls[x] x CstStride: the pixel's constants (CstRow itself where
/// ColCls is null).
/// </summary>
internal unsafe struct EpilogueTile
{
    public int N, H, X0, Pixels, C0, Count, AccStride, SumStride, Times, CstStride;
    public int* Acc, Adds, Sum, ColCls;
    public float* MHalf, CstRow;
    /// <summary>Per output view, codes from the integer sums (or null), at the row's class RowCls.</summary>
    public IntThresholds?[]? Int;
    public int RowCls;
}

/// <summary>A compile-time switch: generic code over <see cref="Yes"/> or <see cref="No"/> is compiled once
/// for each, with the branches on it removed.</summary>
internal interface IFlag { static abstract bool On { get; } }
internal struct Yes : IFlag { public static bool On => true; }
internal struct No : IFlag { public static bool On => false; }
