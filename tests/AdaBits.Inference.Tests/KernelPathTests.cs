using AdaBits.Inference;

namespace AdaBits.Inference.Tests;

/// <summary>Every SIMD path this CPU has, forced, against the scalar reference: integer sums are exact, so
/// every code of every tensor and every logit must be bit-identical.</summary>
public class KernelPathTests
{
    public static TheoryData<QuantScheme, QuantScheme> Schemes()
    {
        var d = new TheoryData<QuantScheme, QuantScheme>();
        foreach (var w in Enum.GetValues<QuantScheme>())
            foreach (var a in Enum.GetValues<QuantScheme>())
                d.Add(w, a);
        return d;
    }

    static readonly int[] Bits = [8, 7, 6, 5, 4, 3, 2];

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Forced_paths_equal_the_scalar_reference(QuantScheme w, QuantScheme a)
    {
        var spec = TestNets.Small(w, a, Bits);
        const int batch = 3;
        var images = TestNets.Images(batch, 3, 13, 11);
        var reference = new InferenceModel(spec, new EngineOptions { Paths = KernelPath.Scalar, Threads = 1, KeepTensors = true });
        var paths = new[] { KernelPath.Avx2, KernelPath.AvxVnni, KernelPath.Avx512Pair, KernelPath.Avx512Acc16 }
            .Where(p => KernelChoice.Supported().HasFlag(p)).ToArray();
        Assert.NotEmpty(paths);
        foreach (var path in paths)
        {
            var model = new InferenceModel(spec, new EngineOptions { Paths = path, Threads = 2, ParallelThresholdMacs = 0, ColdAloneMacs = 0, KeepTensors = true });
            Assert.All(model.Layers.OfType<DenseLayer>().SelectMany(l => l.Slots), s => Assert.Equal(path, s.Path));
            AssertSameAsReference(reference, model, Bits, images, batch, $"{path}");
        }
    }

    /// <summary>
    /// The table-lookup path, forced wherever it is exact (the 16-bit path not allowed), equals the scalar
    /// reference bit for bit: 1 to 3 weight planes, activations of 2 to 6 bits (at 6 bits the bytes take one
    /// step at a time), channel counts off the 32-channel groups and over one 64-channel block, rows narrower than
    /// a tile, residuals.
    /// </summary>
    [Theory]
    [MemberData(nameof(Schemes))]
    public void Table_lookup_equals_the_scalar_reference(QuantScheme w, QuantScheme a)
    {
        if (!KernelChoice.Supported().HasFlag(KernelPath.Lut)) return; // needs AVX-512 BW (Zen 4 and 5 have it)
        const int batch = 3;
        var images = TestNets.Images(batch, 3, 13, 11);
        // the last: 100 channels, one full block of 64 and a partial one, whose row accumulators interleave per pixel
        foreach (var (wb, ab, width) in new (int[], int[], int)[] { ([3, 2, 1], [3, 2, 2], 40), ([3, 2, 2], [6, 6, 4], 40), ([8, 2], [8, 5], 40), ([8, 2], [8, 2], 100) })
        {
            var spec = TestNets.Small(w, a, wb, actBits: ab, width: width);
            var reference = new InferenceModel(spec, new EngineOptions { Paths = KernelPath.Scalar, Threads = 1, KeepTensors = true });
            var model = new InferenceModel(spec, new EngineOptions { Paths = KernelPath.Lut | KernelPath.AvxVnni | KernelPath.Avx2, TuneAtLoad = false, Threads = 2, ParallelThresholdMacs = 0, ColdAloneMacs = 0, KeepTensors = true });
            Assert.Contains(model.Layers.OfType<DenseLayer>(), l => l.Slots.Any(s => s.Path == KernelPath.Lut) && l.Spec.OutChannels >= width);
            AssertSameAsReference(reference, model, wb, images, batch, $"lut, weight bits [{string.Join(", ", wb)}], activation bits [{string.Join(", ", ab)}]");
        }
        int[] bits = [8, 3, 2];
        var resnet = RandomModels.Build("resnet20", bits, seed: 3, weightScheme: w, actScheme: a);
        var resnetImages = TestNets.Images(2, 3, 32, 32);
        AssertSameAsReference(new InferenceModel(resnet, new EngineOptions { Paths = KernelPath.Scalar, Threads = 1, KeepTensors = true }),
            new InferenceModel(resnet, new EngineOptions { Paths = KernelPath.Lut | KernelPath.AvxVnni, TuneAtLoad = false, Threads = 2, ParallelThresholdMacs = 0, ColdAloneMacs = 0, ImagesPerPass = 1 }),
            bits, resnetImages, 2, "lut, resnet20");
    }

    /// <summary>MobileNet V1 at 2 bits, its wide layers on the lookup path: the per-pixel epilogue and 8-lane
    /// float head of the baseline engine give the logits of the fused epilogue and 16-lane head.</summary>
    [Fact]
    public void Table_lookup_with_the_per_pixel_epilogue_equals_the_fused_one()
    {
        if (!KernelChoice.Supported().HasFlag(KernelPath.Lut)) return;
        var spec = RandomModels.Build("mobilenet_v1", [8, 2], seed: 4);
        var fused = new InferenceModel(spec, new EngineOptions { Threads = 2, TuneAtLoad = false });
        var perPixel = new InferenceModel(spec, new EngineOptions { Threads = 2, Baseline = true, TuneAtLoad = false });
        Assert.Contains(perPixel.Layers.OfType<DenseLayer>(), l => l.Slots[1].Path == KernelPath.Lut);
        var images = TestNets.Images(1, 3, 224, 224);
        Assert.Equal(TestNets.Run(fused, 2, images, 1), TestNets.Run(perPixel, 2, images, 1));
    }

    /// <summary>Without tuning the lookup takes the wide layers at 2 bits and nothing at 8.</summary>
    [Fact]
    public void Table_lookup_is_chosen_for_wide_layers_at_two_bits()
    {
        if (!KernelChoice.Supported().HasFlag(KernelPath.Lut)) return;
        var model = new InferenceModel(RandomModels.Build("mobilenet_v1", [8, 2]), new EngineOptions { TuneAtLoad = false });
        var dense = model.Layers.OfType<DenseLayer>().ToArray();
        Assert.DoesNotContain(dense, l => l.Slots[0].Path == KernelPath.Lut);
        Assert.Contains(dense, l => l.Slots[1].Path == KernelPath.Lut && l.Spec.OutChannels >= 128);
        Assert.DoesNotContain(dense, l => l.Slots[1].Path == KernelPath.Lut && l.Spec.OutChannels < 128);
    }

    /// <summary>Logits, and where the model keeps its tensors the codes of every tensor, equal the reference's
    /// bit for bit at every bit-width.</summary>
    internal static void AssertSameAsReference(InferenceModel reference, InferenceModel model, int[] bits, float[] images, int batch, string what)
    {
        using var rs = reference.CreateSession(batch);
        using var ms = model.CreateSession(batch);
        foreach (int b in bits)
        {
            rs.SetBits(b);
            ms.SetBits(b);
            var lr = new float[batch * reference.OutputsPerImage];
            var lm = new float[batch * model.OutputsPerImage];
            rs.Run(images, lr);
            ms.Run(images, lm);
            Assert.Equal(lr, lm);
            for (int v = 0; model.Options.KeepTensors && v < model.Views.Count; v++)
                Assert.True(rs.CodesOf(v).SequenceEqual(ms.CodesOf(v)), $"{what} at {b} bits: codes of view {v} differ");
        }
    }

    /// <summary>ResNet-20 shapes: 16-channel layers take 16-channel tiles; the fused 512-bit epilogue and the
    /// threshold quantizer run at every bit-width; the baseline engine (the benchmark's "before") agrees too.</summary>
    [Theory]
    [MemberData(nameof(Schemes))]
    public void Narrow_tiles_and_the_fused_epilogue_equal_the_scalar_reference(QuantScheme w, QuantScheme a)
    {
        int[] bits = [8, 6, 5, 4, 3, 2];
        var spec = RandomModels.Build("resnet20", bits, seed: 3, weightScheme: w, actScheme: a);
        const int batch = 2;
        var images = TestNets.Images(batch, 3, 32, 32);
        var reference = new InferenceModel(spec, new EngineOptions { Paths = KernelPath.Scalar, Threads = 1, KeepTensors = true });
        Assert.Contains(reference.Layers.OfType<DenseLayer>(), l => l.Group == DenseKernels.NarrowGroup);
        var options = new[] { KernelPath.Avx2, KernelPath.AvxVnni, KernelPath.Avx512Pair, KernelPath.Avx512Acc16 }
            .Where(p => KernelChoice.Supported().HasFlag(p)).Select(p => new EngineOptions { Paths = p, Threads = 2, ParallelThresholdMacs = 0, ColdAloneMacs = 0, KeepTensors = true })
            .Append(new EngineOptions { Baseline = true, KeepTensors = true }).Append(new EngineOptions()).Append(new EngineOptions { TuneAtLoad = false })
            .Append(new EngineOptions { ImagesPerPass = 1, ParallelThresholdMacs = 0, ColdAloneMacs = 0, KeepTensors = true })
            .Append(new EngineOptions { ImagesPerPass = 1, ParallelThresholdMacs = 0, ColdAloneMacs = 0 }).ToArray();
        foreach (var o in options)
            AssertSameAsReference(reference, new InferenceModel(spec, o), bits, images, batch,
                $"{o.Paths} (baseline {o.Baseline}, tuned {o.TuneAtLoad}, images per pass {o.ImagesPerPass}, kept {o.KeepTensors})");
    }

    [Fact]
    public void Tuning_at_load_picks_one_of_the_allowed_simd_paths_per_layer_and_bits()
    {
        var allowed = KernelChoice.DenseCandidates(KernelPath.All);
        if (allowed.Length < 2) return; // nothing to choose between on this CPU
        var model = new InferenceModel(RandomModels.Build("q_mnist_cnn", [8, 4, 2]), new EngineOptions { TuneAtLoad = true });
        foreach (var s in model.Layers.OfType<DenseLayer>().SelectMany(l => l.Slots)) Assert.Contains(s.Path, allowed.Append(KernelPath.Lut));
        var forced = new InferenceModel(RandomModels.Build("q_mnist_cnn", [8, 4, 2]), new EngineOptions { TuneAtLoad = true, Paths = KernelPath.Avx2 | KernelPath.Scalar });
        Assert.All(forced.Layers.OfType<DenseLayer>().SelectMany(l => l.Slots), s => Assert.Equal(KernelPath.Avx2, s.Path));
    }

    /// <summary>Tuning between the lookup and VNNI (the lookup timed with its tables, as the session runs it): each
    /// slot takes one of the two, the lookup only where it is exact, and the logits equal the scalar reference's.</summary>
    [Fact]
    public void Tuning_with_the_lookup_among_the_candidates_equals_the_scalar_reference()
    {
        var both = KernelPath.Lut | KernelPath.AvxVnni;
        if ((KernelChoice.Supported() & both) != both) return;
        int[] bits = [8, 3, 2];
        var spec = TestNets.Small(QuantScheme.Modified, QuantScheme.Modified, bits, actBits: [8, 3, 2], width: 100);
        var images = TestNets.Images(3, 3, 13, 11);
        var reference = new InferenceModel(spec, new EngineOptions { Paths = KernelPath.Scalar, Threads = 1, KeepTensors = true });
        var tuned = new InferenceModel(spec, new EngineOptions { Paths = both, TuneAtLoad = true, Threads = 2, ParallelThresholdMacs = 0, ColdAloneMacs = 0, KeepTensors = true });
        var slots = tuned.Layers.OfType<DenseLayer>().SelectMany(l => l.Slots).ToArray();
        Assert.All(slots, s => Assert.Contains(s.Path, new[] { KernelPath.Lut, KernelPath.AvxVnni }));
        Assert.All(tuned.Layers.OfType<DenseLayer>(), l => Assert.NotEqual(KernelPath.Lut, l.Slots[0].Path)); // 8-bit weights have 8 planes
        AssertSameAsReference(reference, tuned, bits, images, 3, "tuned between lookup and VNNI");
    }

    /// <summary>A float head of 40 channels: two whole 16-channel groups at once, then the part of a third.</summary>
    [Fact]
    public void A_wide_float_head_equals_the_scalar_reference()
    {
        int[] bits = [8, 4, 2];
        var spec = TestNets.Small(QuantScheme.Centered, QuantScheme.Original, bits, headChannels: 40);
        const int batch = 3;
        var images = TestNets.Images(batch, 3, 13, 11);
        AssertSameAsReference(new InferenceModel(spec, new EngineOptions { Paths = KernelPath.Scalar, Threads = 1, KeepTensors = true }),
            new InferenceModel(spec, new EngineOptions { Threads = 2, ParallelThresholdMacs = 0, ColdAloneMacs = 0, KeepTensors = true }), bits, images, batch, "40-channel head");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Narrow_tiles_allocate_nothing_after_warm_up(bool imageParallel)
    {
        int[] bits = [8, 4, 2];
        // two workers, every layer split (or an image per worker) and two passes of one image: the team's
        // hand-offs allocate nothing either
        var model = new InferenceModel(RandomModels.Build("resnet20", bits),
            new EngineOptions { Threads = 2, ParallelThresholdMacs = 0, ColdAloneMacs = 0, ImagesPerPass = 1, ImageParallel = imageParallel });
        using var s = model.CreateSession(2);
        var images = TestNets.Images(2, 3, 32, 32);
        var logits = new float[20];
        foreach (int b in bits) { s.SetBits(b); s.Run(images, logits); }
        // The runtime itself allocated a few KiB on this thread in one CI run while methods were still tiering up;
        // an allocation of the engine's would show in every window, so the quietest of five is what is checked.
        long least = long.MaxValue;
        for (int window = 0; window < 5 && least != 0; window++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            foreach (int b in bits) { s.SetBits(b); s.Run(images, logits); }
            least = Math.Min(least, GC.GetTotalAllocatedBytes(precise: true) - before);
        }
        Assert.Equal(0, least);
    }

    [Fact]
    public void Nibble_split_and_16_bit_chunks_are_chosen_where_pairs_could_saturate()
    {
        var spec = TestNets.Small(QuantScheme.Modified, QuantScheme.Original, [8, 6, 4]);
        if (!KernelChoice.Supported().HasFlag(KernelPath.Avx512Acc16)) return;
        var pair = new InferenceModel(spec, new EngineOptions { Paths = KernelPath.Avx512Pair });
        var slots = pair.Layers.OfType<DenseLayer>().First(l => l.Spec.Name == "c1").Slots;
        Assert.NotNull(slots[0].PackedHi);       // 8 x 8 bits: 2 x 255 x 128 > 32767
        Assert.Null(slots[1].PackedHi);          // 6 bits: 2 x 63 x 32 = 4032
        var acc = new InferenceModel(spec, new EngineOptions { Paths = KernelPath.Avx512Acc16 });
        var a = acc.Layers.OfType<DenseLayer>().First(l => l.Spec.Name == "c1").Slots;
        Assert.Equal(32767 / 4032, a[1].Chunk);
        Assert.Equal(32767 / 240, a[2].Chunk);
        Assert.Equal(32767 / (2 * 255 * 15), a[0].Chunk);
    }

    [Fact]
    public void Default_choice_follows_the_cpu_and_bits()
    {
        var sup = KernelChoice.Supported();
        var at8 = KernelChoice.Dense(8, 8, KernelPath.All);
        var at4 = KernelChoice.Dense(4, 4, KernelPath.All);
        if (sup.HasFlag(KernelPath.Avx512Acc16)) Assert.Equal(KernelPath.Avx512Acc16, at4);
        if (sup.HasFlag(KernelPath.AvxVnni)) Assert.Equal(KernelPath.AvxVnni, at8);
        Assert.Equal(KernelPath.Scalar, KernelChoice.Dense(8, 8, KernelPath.Scalar));
        Assert.Throws<InvalidOperationException>(() => KernelChoice.Dense(8, 8, KernelPath.None));
    }
}
