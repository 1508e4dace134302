using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using AdaBits.Data;
using AdaBits.Distributed;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Cli.Commands;

/// <summary>
/// `mpirun -np N adabits mpi-check allreduce|equivalence|abort --out DIR`: checks of the MPI set-up and of
/// data-parallel training that need several processes. Each rank writes what it saw to DIR/rank{r}.json (the
/// tests read those files); the exit code is non-zero when a check failed on any rank.
/// </summary>
internal sealed class MpiCheckCommand : CliCommand
{
    const string Help = """
        under mpirun: checks of the MPI set-up and of data-parallel training

        usage: mpirun -np N adabits mpi-check allreduce|equivalence|abort [--out DIR] [--batch 4] [--steps 5]

        Checks of the MPI set-up, run under an MPI launcher (mpirun, srun --mpi=pmix):
          allreduce    integer-valued float32, float64 and int64 vectors summed over the ranks; the sums
                       are compared with their closed form (exact in floating point).
          equivalence  trains a small AdaBits MNIST CNN (BN in eval mode, two bit-widths jointly, SGD with
                       Nesterov momentum) for --steps steps on N ranks with --batch images each, and on this
                       rank alone on the same global batches of N x batch (the shards of a set one image short
                       of steps x N x batch, so the last step holds a padded duplicate); prints, per step, the
                       largest difference between the two and whether all ranks hold bitwise-equal weights.
          abort        rank 1 fails while rank 0 waits in a barrier: the job must end at once, non-zero.
        --out DIR: each rank writes rank{r}.json there.
        """;

    public override int Order => 200;

    public override Command Build()
    {
        var check = new Argument<string>("check") { Description = "allreduce, equivalence or abort" };
        check.AcceptOnlyFromAmong("allreduce", "equivalence", "abort");
        var output = CliOptions.Text("--out", "DIR", "Each rank writes rank{r}.json there");
        var batch = CliOptions.Int("--batch", "Images per rank and step (equivalence)", 4, 1, 1024);
        var steps = CliOptions.Int("--steps", "Steps (equivalence)", 5, 1, 1000);
        var command = new Command("mpi-check", Help) { output, batch, steps };
        command.Arguments.Add(check);
        command.SetAction(r => Run(r.GetValue(check)!, r.GetValue(output), r.GetValue(batch), r.GetValue(steps)));
        return command;
    }

    static int Run(string name, string? outDir, int batch, int steps)
    {
        var world = World.Process;
        Dictionary<string, object> report = name switch
        {
            "allreduce" => AllReduce(world),
            "equivalence" => Equivalence(world, batch, steps),
            _ => Abort(world),
        };
        report["rank"] = world.Rank;
        report["size"] = world.Size;
        report["local_size"] = world.LocalSize;
        if (outDir is not null)
        {
            Directory.CreateDirectory(outDir);
            AdaBits.IO.AtomicFile.WriteAllText(Path.Combine(outDir, $"rank{world.Rank}.json"), JsonSerializer.Serialize(report, new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        }
        bool ok = report["ok"] is true;
        // every rank learns whether any failed, so all exit alike
        long[] failed = [ok ? 0 : 1];
        world.AllReduceSum(failed.AsSpan());
        if (world.IsRoot) Console.WriteLine($"mpi-check {name}: {world.Size} ranks, {(failed[0] == 0 ? "ok" : $"FAILED on {failed[0]} rank(s)")}");
        return failed[0] == 0 ? 0 : 1;
    }

    /// <summary>Rank r contributes (r + 1) * (i mod 1000): the sum is S (i mod 1000) with S = N(N+1)/2, an exact integer.</summary>
    static Dictionary<string, object> AllReduce(World world)
    {
        const int n = 5003;
        long s = (long)world.Size * (world.Size + 1) / 2;
        using var f = arange(n, ScalarType.Int64).remainder(1000).mul(world.Rank + 1).to(ScalarType.Float32);
        world.AllReduceSum(f);
        var fv = f.data<float>().ToArray();
        var dv = Enumerable.Range(0, n).Select(i => (world.Rank + 1) * (i % 1000) + 0.5 * (world.Rank + 1)).ToArray();
        world.AllReduceSum(dv.AsSpan());
        var lv = Enumerable.Range(0, n).Select(i => (long)(world.Rank + 1) * (i % 1000) * 1_000_000_007L).ToArray();
        world.AllReduceSum(lv.AsSpan());
        int wrong = 0;
        for (int i = 0; i < n; i++)
        {
            if (fv[i] != s * (i % 1000)) wrong++;
            if (dv[i] != s * (i % 1000) + 0.5 * s) wrong++;
            if (lv[i] != s * (i % 1000) * 1_000_000_007L) wrong++;
        }
        return new() { ["ok"] = wrong == 0, ["wrong"] = wrong, ["float_sum"] = fv.Sum(v => (double)v), ["float_first"] = fv.Take(4).ToArray() };
    }

    static Dictionary<string, object> Abort(World world)
    {
        if (world.Size < 2) throw new InvalidOperationException("mpi-check abort needs at least 2 ranks");
        if (world.Rank == 1) throw new InvalidOperationException("a failure made on purpose (mpi-check abort)");
        world.Barrier();   // never completes: rank 1 aborts the job
        return new() { ["ok"] = false };
    }

    static Dictionary<string, object> Equivalence(World world, int b, int steps)
    {
        int N = world.Size, global = N * b;
        int total = steps * global - (N > 1 ? 1 : 0);
        var options = new QuantOptions { BitsList = [new Bits(32), new Bits(16)], SwitchAlpha = true };
        manual_seed(7);
        using var images = rand(total, 1, 28, 28).mul(255).round();
        using var labels = randint(0, 10, [total]);
        var shard = new DistributedShard(world.Rank, N, Pad: true);
        var order = SampleRandom.Permutation(total, 11, 0);
        var mine = shard.Select(order);
        // the padded order of one process: the union of the ranks' k-th batches is its k-th batch of N x b
        var padded = Enumerable.Range(0, shard.Count(total) * N).Select(p => order[p % total]).ToArray();

        manual_seed(100 + world.Rank);   // different on each rank: the broadcast has to make them equal
        using var model = new QMnistCnn(options);
        manual_seed(100);
        using var single = new QMnistCnn(options);
        DataParallel.BroadcastModel(world, model);
        // BN in eval mode, with running statistics of the data (the same on both: same data, same start), so the
        // normalisation does not depend on which batch a rank sees and training stays in a sane range
        foreach (var m in new[] { model, single }) WarmBatchNorm(m, images, options.BitsList);
        var pm = model.parameters().ToArray();
        var ps = single.parameters().ToArray();
        using var opt = new Sgd(pm, 0.05, 0.9, true, p => Optimizer.ReferenceWeightDecay(p, 1e-4));
        using var optSingle = new Sgd(ps, 0.05, 0.9, true, p => Optimizer.ReferenceWeightDecay(p, 1e-4));
        using var buckets = new GradientBuckets(world, pm, capBytes: 16 << 10);   // small: several buckets

        using var initial = cat(ps.Select(p => p.detach().flatten()).ToArray());
        var stepsOut = new List<Dictionary<string, object>>();
        bool ok = true;
        for (int s = 0; s < steps; s++)
        {
            using var scope = NewDisposeScope();
            Step(model, opt, images, labels, mine.Skip(s * b).Take(b).ToArray(), options.BitsList, buckets);
            Step(single, optSingle, images, labels, padded.Skip(s * global).Take(global).ToArray(), options.BitsList, null);
            using var _ = no_grad();
            var flat = cat(pm.Select(p => p.detach().flatten()).ToArray());
            var flatSingle = cat(ps.Select(p => p.detach().flatten()).ToArray());
            var root = flat.clone();
            world.Broadcast(root);
            long[] differ = [flat.bytes.SequenceEqual(root.bytes) ? 0 : 1];
            world.AllReduceSum(differ.AsSpan());
            double diff = (flat - flatSingle).abs().max().item<float>();
            double scale = flatSingle.abs().max().item<float>();
            bool views = buckets.GradientsAreViews();
            double moved = (flatSingle - initial).abs().max().item<float>();
            ok &= differ[0] == 0 && views && diff <= 1e-5 * Math.Max(1, scale);
            stepsOut.Add(new() { ["step"] = s + 1, ["max_diff"] = diff, ["max_abs"] = scale, ["moved"] = moved, ["ranks_identical"] = differ[0] == 0, ["grads_are_views"] = views });
            if (world.IsRoot)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {s + 1}: max |data-parallel - one process| = {diff:E2} (weights up to {scale:F3}), ranks bitwise identical: {differ[0] == 0}, grads are bucket views: {views}"));
        }
        return new() { ["ok"] = ok, ["buckets"] = buckets.Count, ["local_samples"] = mine.Length, ["steps"] = stepsOut };
    }

    static void WarmBatchNorm(QMnistCnn model, Tensor images, IReadOnlyList<Bits> bitsList)
    {
        using var _ = no_grad();
        model.train();
        foreach (var bits in bitsList)
        {
            model.SetBits(bits);
            for (int pass = 0; pass < 30; pass++)
                using (NewDisposeScope()) model.call(images);
        }
        model.eval();
    }

    static void Step(QMnistCnn model, Optimizer opt, Tensor images, Tensor labels, int[] idx, IReadOnlyList<Bits> bitsList, GradientBuckets? buckets)
    {
        using var index = tensor(idx.Select(i => (long)i).ToArray());
        var x = images.index_select(0, index);
        var y = labels.index_select(0, index);
        opt.ZeroGrad();
        foreach (var bits in bitsList)
        {
            using var inner = NewDisposeScope();
            model.SetBits(bits);
            nn.functional.cross_entropy(model.call(x), y).backward();
        }
        buckets?.AllReduceAverage();
        opt.Step();
    }
}
