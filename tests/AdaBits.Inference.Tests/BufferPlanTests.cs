using AdaBits.Inference;
using Xunit;

public class BufferPlanTests
{
    /// <summary>Steps at which a tensor is live: written at its step (0: the input conversion, i + 1: layer i),
    /// read up to its last reader (the logits up to the copy after the last layer).</summary>
    static Dictionary<int, (int From, int To)> Lifetimes(InferenceModel m)
    {
        var life = new Dictionary<int, (int From, int To)> { [0] = (0, 0) };
        for (int i = 0; i < m.Layers.Length; i++)
        {
            var l = m.Layers[i];
            life[l.Out.Id] = (i + 1, i + 1);
            foreach (var r in new[] { l.In, l.Residual }.OfType<TensorPlan>())
                life[r.Id] = (life[r.Id].From, i + 1);
        }
        var last = m.Layers[^1].Out.Id;
        life[last] = (life[last].From, m.Layers.Length + 1);
        return life;
    }

    [Theory]
    [InlineData("q_mnist_cnn")]
    [InlineData("resnet20")]
    [InlineData("mobilenet_v1")]
    [InlineData("mobilenet_v2")]
    public void Tensors_live_at_the_same_time_never_share_a_buffer_and_dead_ones_do(string name)
    {
        var m = new InferenceModel(RandomModels.Build(name, [8, 4]), new EngineOptions { Threads = 1 });
        var plan = new BufferPlan(m, images: 2, share: true);
        var life = Lifetimes(m);
        // every (tensor, buffer, bytes) the plan hands out
        var uses = new List<(int Id, int Buffer, long Bytes)>();
        foreach (var t in m.Tensors.Where(t => t is not null))
        {
            foreach (var v in t.Views) uses.Add((t.Id, plan.CodeBuffer[v.Index], 2 * v.ImageBytes));
            if (t.NeedFloat) uses.Add((t.Id, plan.FloatBuffer[t.Id], 8L * t.Shape.Elements));
        }
        for (int i = 0; i < uses.Count; i++)
        {
            var a = uses[i];
            Assert.True(plan.Sizes[a.Buffer] >= a.Bytes, $"{name}: tensor {a.Id} needs {a.Bytes} bytes, buffer {a.Buffer} has {plan.Sizes[a.Buffer]}");
            for (int j = i + 1; j < uses.Count; j++)
            {
                var b = uses[j];
                if (b.Buffer != a.Buffer) continue;
                var (x, y) = (life[a.Id], life[b.Id]);
                Assert.True(a.Id != b.Id && (x.To < y.From || y.To < x.From),
                    $"{name}: tensors {a.Id} (steps {x.From}-{x.To}) and {b.Id} (steps {y.From}-{y.To}) share buffer {a.Buffer}");
            }
        }
        Assert.True(plan.Sizes.Count < uses.Count / 2, $"{name}: {plan.Sizes.Count} buffers for {uses.Count} tensors and views");
        var alone = new BufferPlan(m, images: 2, share: false);
        Assert.Equal(uses.Count, alone.Sizes.Count);
    }

    /// <summary>Shared buffers (padding re-zeroed where another tensor wrote over it, passes of uneven size)
    /// give the logits of one buffer per tensor, bit for bit, at every bit-width.</summary>
    [Theory]
    [InlineData("resnet20", 5, 2)]
    [InlineData("mobilenet_v1", 3, 2)]
    [InlineData("mobilenet_v2", 3, 2)]
    public void Shared_buffers_give_the_logits_of_kept_tensors(string name, int batch, int imagesPerPass)
    {
        int[] bits = [8, 5, 2];
        var spec = RandomModels.Build(name, bits, seed: 5);
        var kept = new InferenceModel(spec, new EngineOptions { Threads = 2, KeepTensors = true, ImagesPerPass = imagesPerPass });
        var shared = new InferenceModel(spec, new EngineOptions { Threads = 2, ImagesPerPass = imagesPerPass });
        var plan = new BufferPlan(shared, imagesPerPass, share: true);
        Assert.Contains(plan.ClearBefore, c => c.Count > 0); // the padded views are re-zeroed somewhere
        using var ks = kept.CreateSession(batch);
        using var ss = shared.CreateSession(batch);
        var rng = new Random(2);
        var images = new float[batch * kept.InputsPerImage];
        for (int i = 0; i < images.Length; i++) images[i] = (float)rng.NextDouble();
        foreach (int b in bits)
        {
            ks.SetBits(b);
            ss.SetBits(b);
            var lk = new float[batch * kept.OutputsPerImage];
            var ls = new float[batch * kept.OutputsPerImage];
            ks.Run(images, lk);
            ss.Run(images, ls);
            ss.Run(images, ls); // a second run over buffers the first left dirty
            Assert.Equal(lk, ls);
        }
        Assert.Throws<InvalidOperationException>(() => ss.CodesOf(0).Length);
    }
}
