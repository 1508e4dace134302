using AdaBits.Inference;

namespace AdaBits.Inference.Tests;

/// <summary>Whole images per worker (each on its own buffers) against each layer split over the workers.</summary>
public class ImageParallelTests
{
    public static TheoryData<string, int> Cases() => new() { { "small", 2 }, { "small", 3 }, { "resnet20", 2 } };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Whole_images_per_worker_equal_every_layer_split_over_the_workers(string net, int threads)
    {
        int[] bits = [8, 6, 5, 4];
        var spec = net == "small" ? TestNets.Small(QuantScheme.Centered, QuantScheme.Modified, bits) : RandomModels.Build(net, bits);
        var byImages = new InferenceModel(spec, new EngineOptions { Threads = threads, ParallelThresholdMacs = 0, ColdAloneMacs = 0 });
        var split = new InferenceModel(spec, new EngineOptions { Threads = threads, ParallelThresholdMacs = 0, ColdAloneMacs = 0, ImageParallel = false });
        const int maxBatch = 7;
        var images = TestNets.Images(maxBatch, spec.InputChannels, spec.InputHeight, spec.InputWidth);
        using var a = byImages.CreateSession(maxBatch);
        using var b = split.CreateSession(maxBatch);
        int classes = byImages.OutputsPerImage;
        // 7 images: uneven chunks; 3: fewer than the session holds; 1: fewer than the workers, so split
        foreach (int n in new[] { 7, 3, 1 })
            foreach (int bw in bits)
            {
                var la = new float[n * classes];
                var lb = new float[n * classes];
                a.SetBits(bw); b.SetBits(bw);
                a.Run(images.AsSpan(0, n * byImages.InputsPerImage), la);
                b.Run(images.AsSpan(0, n * byImages.InputsPerImage), lb);
                Assert.Equal(n >= threads, a.RanByImages);
                Assert.False(b.RanByImages);
                Assert.Equal(lb, la);
                Assert.Contains(la, v => v != 0);
            }
    }
}
