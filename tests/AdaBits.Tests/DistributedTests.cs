using AdaBits.Data;
using AdaBits.Distributed;
using AdaBits.Training;
using TorchSharp;
using DataLoader = AdaBits.Data.DataLoader;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>The parts of data-parallel training that one process can check: launcher detection, shards, gradient buckets.</summary>
public class DistributedTests
{
    static Func<string, string?> Env(params (string, string)[] vars) => k => vars.FirstOrDefault(v => v.Item1 == k).Item2;

    [Fact]
    public void LauncherIsReadFromTheEnvironment()
    {
        Assert.Equal(Launcher.None, Launcher.Detect(Env()));
        Assert.False(Launcher.Detect(Env()).NeedsMpi);
        var m = Launcher.Detect(Env(("OMPI_COMM_WORLD_SIZE", "4"), ("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_LOCAL_SIZE", "2")));
        Assert.Equal(new Launcher("mpirun", 4, 3, 2), m);
        Assert.True(m.NeedsMpi);
        // mpirun -np 1: a world of one, MPI not started
        Assert.False(Launcher.Detect(Env(("OMPI_COMM_WORLD_SIZE", "1"), ("OMPI_COMM_WORLD_RANK", "0"))).NeedsMpi);
        var s = Launcher.Detect(Env(("PMIX_RANK", "5"), ("SLURM_NTASKS", "6"), ("SLURM_NTASKS_PER_NODE", "2(x3)")));
        Assert.Equal(new Launcher("pmix", 6, 5, 2), s);
        Assert.True(s.NeedsMpi);
    }

    [Fact]
    public void ThisProcessIsAWorldOfOneWithoutMpi()
    {
        var w = World.Process;
        Assert.Equal((0, 1, true, false), (w.Rank, w.Size, w.IsRoot, w.IsDistributed));
        Assert.False(MpiNative.Loaded);
        using var t = tensor(new float[] { 1, 2, 3 });
        w.AllReduceSum(t);   // a no-op, and no MPI loaded for it
        Assert.Equal(new float[] { 1, 2, 3 }, t.data<float>().ToArray());
        Assert.False(MpiNative.Loaded);
    }

    [Fact]
    public void ShardsAreDistributedSamplersSplit()
    {
        int[] order = [9, 4, 7, 0, 2, 8, 1, 6, 3, 5];
        // 10 over 3: padded to 12 by repeating the head (9, 4), then every third entry from the rank
        Assert.Equal(new[] { 9, 0, 1, 5 }, new DistributedShard(0, 3, true).Select(order));
        Assert.Equal(new[] { 4, 2, 6, 9 }, new DistributedShard(1, 3, true).Select(order));
        Assert.Equal(new[] { 7, 8, 3, 4 }, new DistributedShard(2, 3, true).Select(order));
        // validation: the real samples only, so the ranks' union is the set, each once
        Assert.Equal(new[] { 9, 0, 1, 5 }, new DistributedShard(0, 3, false).Select(order));
        Assert.Equal(new[] { 4, 2, 6 }, new DistributedShard(1, 3, false).Select(order));
        Assert.Equal(new[] { 7, 8, 3 }, new DistributedShard(2, 3, false).Select(order));
        Assert.Equal(new[] { 4, 3, 3 }, Enumerable.Range(0, 3).Select(r => new DistributedShard(r, 3, false).Count(10)));
        // a set smaller than the padding: PyTorch repeats it whole, (5, 6) -> 5, 6, 5, 6, 5 over 5 ranks
        Assert.Equal(new[] { 5, 6, 5, 6, 5 }, Enumerable.Range(0, 5).Select(r => new DistributedShard(r, 5, true).Select([5, 6]).Single()));
        Assert.Throws<ArgumentException>(() => new DistributedShard(3, 3, true).Validate());
    }

    [Fact]
    public void RanksBatchesTogetherAreOneProcessBatch()
    {
        var rng = new Random(3);
        var pix = new byte[23 * 4];
        rng.NextBytes(pix);
        var data = new ImageDataset(pix, Enumerable.Range(0, 23).Select(i => i % 7).ToArray(), 1, 2, 2);
        var plain = new TransformSpec(0, false, false, [0f], [1f]);
        const int ranks = 3, b = 2;
        using var one = new DataLoader(data, ranks * b, shuffle: true, dropLast: false, plain, workers: 0, seed: 5);
        var loaders = Enumerable.Range(0, ranks).Select(r =>
            new DataLoader(data, b, shuffle: true, dropLast: false, plain, workers: 0, seed: 5, shard: new DistributedShard(r, ranks, true))).ToList();
        // 23 over 3 ranks: 8 each (one padded duplicate), 4 steps of 2 on every rank
        Assert.All(loaders, l => Assert.Equal((8, 4), (l.Count, l.BatchesPerEpoch)));
        for (int epoch = 0; epoch < 2; epoch++)
        {
            var full = one.Order(epoch);
            Assert.NotEqual(Enumerable.Range(0, 23), full);
            var mine = loaders.Select(l => l.Order(epoch)).ToList();
            for (int k = 0; k < 4; k++)
            {
                var union = mine.SelectMany(m => m.Skip(k * b).Take(b)).Order();
                var expected = Enumerable.Range(k * ranks * b, ranks * b).Select(p => full[p % 23]).Order();
                Assert.Equal(expected, union);
            }
            // the batches delivered are those samples (labels are index mod 7)
            var labels = DataTests.Collect(loaders[1], epoch).SelectMany(x => x.Y).ToArray();
            Assert.Equal(mine[1].Select(i => (long)(i % 7)), labels);
        }
        foreach (var l in loaders) l.Dispose();
    }

    [Fact]
    public void GradientsBecomeViewsOfBucketsAndTrainAlike()
    {
        manual_seed(1);
        var used = nn.Sequential(nn.Linear(10, 20), nn.Linear(20, 5));
        var unused = nn.Linear(3, 3);
        manual_seed(1);
        var plain = nn.Sequential(nn.Linear(10, 20), nn.Linear(20, 5));
        var ps = used.parameters().Concat(unused.parameters()).ToArray();
        using var x = randn(7, 10);
        using var buckets = new GradientBuckets(World.One, ps, capBytes: 1000);
        using var opt = new Sgd(ps, 0.1, 0.9, true, p => Optimizer.ReferenceWeightDecay(p, 1e-3));
        using var optPlain = new Sgd(plain.parameters(), 0.1, 0.9, true, p => Optimizer.ReferenceWeightDecay(p, 1e-3));
        for (int step = 0; step < 3; step++)
        {
            opt.ZeroGrad();
            optPlain.ZeroGrad();
            // two backward passes per step, as the joint step over two bit-widths: they accumulate into the views
            for (int pass = 0; pass < 2; pass++)
            {
                used.call(x.mul(pass + 1)).square().sum().backward();
                plain.call(x.mul(pass + 1)).square().sum().backward();
            }
            buckets.AllReduceAverage();
            Assert.True(buckets.GradientsAreViews());
            opt.Step();
            optPlain.Step();
        }
        // by hand: w1 200 + b1 20 floats (880 bytes) fill the first bucket under 1000; w2 100 + b2 5 the second
        Assert.Equal(new long[] { 220, 105 }, buckets.Buckets.Select(t => t.numel()));
        Assert.All(unused.parameters(), p => Assert.Null(p.grad));
        foreach (var (a, c) in used.parameters().Zip(plain.parameters()))
            Assert.Equal(Ref.F(c), Ref.F(a));
        // the bucket holds the gradient itself: writing it shows through .grad
        buckets.Buckets[1].fill_(2f);
        Assert.All(Ref.F(used.parameters().Last().grad!), v => Assert.Equal(2f, v));
        // a gradient replaced behind the buckets' back (set to none, then a fresh one) is moved back in
        foreach (var p in used.parameters()) p.grad = null;
        used.call(x).sum().backward();
        Assert.False(buckets.GradientsAreViews());
        buckets.AllReduceAverage();
        Assert.True(buckets.GradientsAreViews());
    }
}
