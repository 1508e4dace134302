using AdaBits.Inference;

namespace AdaBits.Inference.Tests;

/// <summary>2-bit codes counted from integer thresholds on the sums against the float epilogue they replace.</summary>
public class IntThresholdsTests
{
    [Theory]
    [MemberData(nameof(KernelPathTests.Schemes), MemberType = typeof(KernelPathTests))]
    public void Thresholds_give_the_float_epilogue_code_for_every_sum(QuantScheme w, QuantScheme a)
    {
        var model = new InferenceModel(TestNets.Small(w, a, [4, 2], mixedSigns: true), new EngineOptions { Threads = 1 });
        var rng = new Random(5);
        int built = 0, decreasing = 0, constant = 0;
        foreach (var layer in model.Layers.Where(l => l is DenseLayer or DepthwiseLayer))
        {
            var windows = layer is DenseLayer d ? d.Windows : ((DepthwiseLayer)layer).Windows;
            var slots = layer is DenseLayer dl ? dl.Slots.Cast<AffineSlot>().ToArray() : ((DepthwiseLayer)layer).Slots;
            for (int s = 0; s < slots.Length; s++)
            {
                var slot = slots[s];
                if (layer.Residual is not null || model.Spec.BitsList[s] != 2) { Assert.All(slot.IntCodes, Assert.Null); continue; }
                Assert.Equal(layer.Out.Views.Count, slot.IntCodes.Length);
                for (int v = 0; v < slot.IntCodes.Length; v++)
                {
                    var it = slot.IntCodes[v]!;
                    var q = layer.Out.Views[v].Requant[s];
                    built++;
                    int c = layer.Spec.OutChannels;
                    for (int ch = 0; ch < c; ch++)
                    {
                        float m = slot.MHalf[ch];
                        if (m < 0) decreasing++;
                        if (m == 0) constant++;
                        for (int k = 0; k < windows.Count; k++)
                        {
                            float cst = slot.CstB[k * c + ch];
                            // every code boundary and its neighbours, then sums anywhere in a plausible range
                            var sums = new List<int>();
                            for (int j = 0; j < IntThresholds.Count; j++)
                            {
                                int at = it.ThetaAt(k, j, ch);
                                if (at == int.MinValue || at == int.MaxValue) continue;
                                int t2 = at ^ (m < 0 ? -1 : 0);
                                for (int dlt = -2; dlt <= 2; dlt++) sums.Add(t2 + dlt);
                            }
                            for (int i = 0; i < 40; i++) sums.Add(rng.Next(-200_000, 200_000));
                            foreach (int t2 in sums)
                                Assert.True(IntThresholds.CodeOf(t2, m, cst, layer.Spec.Relu, q) == it.Code(t2, k, ch),
                                    $"{layer.Spec.Name} channel {ch} class {k} sum {t2}: float {IntThresholds.CodeOf(t2, m, cst, layer.Spec.Relu, q)}, thresholds {it.Code(t2, k, ch)}");
                        }
                    }
                }
            }
        }
        Assert.True(built >= 4 && decreasing > 0 && constant > 0, $"built {built}, decreasing {decreasing}, constant {constant}");
    }

    [Theory]
    [MemberData(nameof(KernelPathTests.Schemes), MemberType = typeof(KernelPathTests))]
    public void Scales_of_either_sign_give_the_scalar_path_codes(QuantScheme w, QuantScheme a)
    {
        int[] bits = [4, 3, 2];
        var spec = TestNets.Small(w, a, bits, mixedSigns: true);
        const int batch = 3;
        var images = TestNets.Images(batch, 3, 13, 11);
        var reference = new InferenceModel(spec, new EngineOptions { Paths = KernelPath.Scalar, Threads = 1, KeepTensors = true });
        var model = new InferenceModel(spec, new EngineOptions { Threads = 2, ParallelThresholdMacs = 0, ColdAloneMacs = 0, KeepTensors = true });
        KernelPathTests.AssertSameAsReference(reference, model, bits, images, batch, "default paths, mixed signs");
    }
}
