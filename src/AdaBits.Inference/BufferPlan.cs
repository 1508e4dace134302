namespace AdaBits.Inference;

/// <summary>
/// Which tensors share memory. A tensor's floats and code views are live from the layer that writes them to
/// the last layer that reads them; a buffer whose tensor is dead is given to the next tensor written. With
/// one buffer per tensor every layer wrote into memory that no cache held (MobileNet V1 at batch 1 has 5 MB
/// of activations), and writing the codes cost more than computing them; shared, a pass's tensors are the
/// same few hundred kilobytes, layer after layer and pass after pass, and stay in L2.
/// </summary>
internal sealed class BufferPlan
{
    /// <summary>Bytes of each shared buffer.</summary>
    public readonly List<long> Sizes = [];
    /// <summary>Per tensor id: its float buffer (-1: not kept as floats); per view index: its code buffer.</summary>
    public readonly int[] FloatBuffer, CodeBuffer;
    /// <summary>
    /// Per layer (index 0 is the input conversion, layer i is index i + 1): the views whose padding and
    /// channel-rounding bytes must be zeroed before it writes them, because their buffer also holds another
    /// tensor, before or after in the pass, whose values land there (the kernels read those bytes as code 0;
    /// only interiors are written).
    /// </summary>
    public readonly List<CodeView>[] ClearBefore;

    /// <param name="images">Images each buffer holds.</param>
    /// <param name="share">False: every tensor its own buffer (tests that read intermediate tensors after a run).</param>
    public BufferPlan(InferenceModel model, int images, bool share)
    {
        var tensors = model.Tensors;
        var layers = model.Layers;
        // step 0 writes tensor 0 (the input conversion); step i + 1 is layer i
        var written = new int[tensors.Length];
        var lastRead = new int[tensors.Length];
        for (int i = 0; i < layers.Length; i++)
        {
            written[layers[i].Out.Id] = i + 1;
            lastRead[layers[i].In.Id] = Math.Max(lastRead[layers[i].In.Id], i + 1);
            if (layers[i].Residual is { } r) lastRead[r.Id] = Math.Max(lastRead[r.Id], i + 1);
        }
        lastRead[layers[^1].Out.Id] = layers.Length + 1; // the logits are copied out after the last layer
        FloatBuffer = Enumerable.Repeat(-1, tensors.Length).ToArray();
        CodeBuffer = new int[model.Views.Count];
        ClearBefore = Enumerable.Range(0, layers.Length + 1).Select(_ => new List<CodeView>()).ToArray();
        var freeAfter = new List<int>(); // per buffer: the last step that reads what it holds
        var occupants = new List<int>(); // per buffer: how many tensors' floats or views it holds
        int Take(long bytes, int step, int until)
        {
            int best = -1;
            for (int b = 0; share && b < Sizes.Count; b++)
                if (freeAfter[b] < step && (best < 0 || Fit(b) < Fit(best))) best = b;
            // smallest buffer that holds it; else the largest free one, grown
            long Fit(int b) => Sizes[b] >= bytes ? Sizes[b] - bytes : long.MaxValue / 2 + (bytes - Sizes[b]);
            if (best < 0)
            {
                best = Sizes.Count;
                Sizes.Add(0);
                freeAfter.Add(0);
                occupants.Add(0);
            }
            Sizes[best] = Math.Max(Sizes[best], bytes);
            freeAfter[best] = until;
            occupants[best]++;
            return best;
        }
        foreach (var t in tensors.Where(t => t is not null).OrderBy(t => written[t.Id]))
        {
            int step = written[t.Id], until = Math.Max(step, lastRead[t.Id]);
            if (t.NeedFloat) FloatBuffer[t.Id] = Take(4L * images * t.Shape.Elements + 64, step, until);
            foreach (var v in t.Views) CodeBuffer[v.Index] = Take(images * v.ImageBytes + 64, step, until);
        }
        foreach (var t in tensors.Where(t => t is not null))
            foreach (var v in t.Views)
                if (occupants[CodeBuffer[v.Index]] > 1 && (v.PadH > 0 || v.PadW > 0 || v.Cp != v.Shape.C)) ClearBefore[written[t.Id]].Add(v);
    }

    /// <summary>Zeroes a view's padding rows and columns and its channels past C, for images [0, images).</summary>
    public static unsafe void ClearBorders(CodeView v, byte* buffer, int images)
    {
        int rowBytes = v.Wp * v.Cp, h = v.Shape.H, w = v.Shape.W, cp = v.Cp, c = v.Shape.C;
        for (int n = 0; n < images; n++)
        {
            byte* image = buffer + n * v.ImageBytes;
            new Span<byte>(image, v.PadH * rowBytes).Clear();
            new Span<byte>(image + (long)(v.PadH + h) * rowBytes, v.PadH * rowBytes).Clear();
            for (int y = 0; y < h; y++)
            {
                byte* row = image + (long)(v.PadH + y) * rowBytes;
                new Span<byte>(row, v.PadW * cp).Clear();
                new Span<byte>(row + (long)(v.PadW + w) * cp, v.PadW * cp).Clear();
                if (cp != c)
                    for (int x = 0; x < w; x++) new Span<byte>(row + (long)(v.PadW + x) * cp + c, cp - c).Clear();
            }
        }
    }
}
