using AdaBits.Checkpoints;
using AdaBits.Data;
using AdaBits.IO;
using AdaBits.Training;
using static TorchSharp.torch;

namespace AdaBits.Tests.Faults;

/// <summary>
/// Graceful stop inside an epoch and step-level resume: a run stopped after step k (as SIGTERM stops it) and
/// resumed ends with the metrics.jsonl and results.json of an uninterrupted run, byte for byte but for the
/// wall-time "seconds" fields.
/// </summary>
public class ResumeTests() : TempFolderTests("adabits-resume-tests-")
{
    (string Metrics, string Results) Uninterrupted()
    {
        var r = RunFolder.Train(RunFolder.Load(RunFolder.WriteConfig(dir, "full")));
        return RunFolder.Outputs(r.RunDir);
    }

    [Fact]
    public void Runs_stopped_after_step_k_and_resumed_equal_an_uninterrupted_run()
    {
        var expected = Uninterrupted();
        Assert.Equal(8, expected.Metrics.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        // step 3 (early in epoch 1), 10 (epoch 1's last step, before its validation), 13 (inside epoch 2),
        // and 4 then 16: a run stopped twice
        foreach (long[] stops in new[] { new long[] { 3 }, [10], [13], [4, 16] })
        {
            string name = "stop" + string.Join("_", stops);
            var cfg = RunFolder.Load(RunFolder.WriteConfig(dir, name));
            foreach (long k in stops)
            {
                var e = Assert.Throws<TrainingStopped>(() => RunFolder.Train(cfg, t => t.StopAfterSteps = k));
                Assert.Equal(StopSignal.SigTermExit, e.ExitCode);
                Assert.Contains($"step {(k - 1) % 10 + 1}/10", e.Message);
                var ckpt = CheckpointFile.Load(Path.Combine(cfg.RunDir, Trainer.LatestCheckpoint));
                Assert.Equal(k, Convert.ToInt64(ckpt["step"]));
                Assert.Contains($"\"Batch\":{(k - 1) % 10 + 1}", (string)ckpt["epoch_position"]!);
                Assert.False(File.Exists(Path.Combine(cfg.RunDir, RunLock.FileName)), "the lock is released on a stop");
            }
            var r = RunFolder.Train(cfg);
            var got = RunFolder.Outputs(r.RunDir);
            Assert.Equal(expected.Metrics, got.Metrics);
            Assert.Equal(expected.Results, got.Results);
        }
    }

    [Fact]
    public void Checkpoint_interval_steps_writes_inside_epochs_and_a_run_killed_after_one_resumes_exactly()
    {
        var expected = Uninterrupted();
        var cfg = RunFolder.Load(RunFolder.WriteConfig(dir, "interval", "checkpoint_interval_steps: 3"));
        Assert.Equal(3, cfg.CheckpointIntervalSteps);
        // steps 3, 6, 9 | epoch end | 12, 15, 18 | epoch end: a write that fails at the third one stands for
        // the process dying just after step 9; the step-6 checkpoint is on disk
        int latestWrites = 0;
        var dies = new AtomicWriter((stage, tmp) =>
        {
            if (stage == WriteStage.Write && tmp.Contains(Trainer.LatestCheckpoint) && ++latestWrites == 3)
                throw new IOException("killed");
        });
        Assert.Throws<IOException>(() => RunFolder.Train(cfg, writer: dies));
        var ckpt = CheckpointFile.Load(Path.Combine(cfg.RunDir, Trainer.LatestCheckpoint));
        Assert.Equal(6L, Convert.ToInt64(ckpt["step"]));
        var r = RunFolder.Train(cfg);
        var got = RunFolder.Outputs(r.RunDir);
        Assert.Equal(expected.Metrics, got.Metrics);
        Assert.Equal(expected.Results, got.Results);

        int writes = 0;
        var counting = new AtomicWriter((stage, tmp) => { if (stage == WriteStage.Rename && tmp.Contains(Trainer.LatestCheckpoint)) writes++; });
        RunFolder.Train(RunFolder.Load(RunFolder.WriteConfig(dir, "count", "checkpoint_interval_steps: 3")), writer: counting);
        Assert.Equal(8, writes);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void Loader_started_at_batch_b_delivers_the_epochs_batches_from_b(int workers)
    {
        var rng = new Random(3);
        var pix = new byte[37 * 36];
        rng.NextBytes(pix);
        var ds = new ImageDataset(pix, Enumerable.Range(0, 37).Select(i => i % 5).ToArray(), 1, 6, 6);
        var spec = new TransformSpec(2, true, false, [0f], [1f]);
        using var loader = new DataLoader(ds, 8, shuffle: true, dropLast: false, spec, workers, seed: 11);
        var all = DataTests.Collect(loader, 2);
        for (int first = 0; first <= loader.BatchesPerEpoch; first++)
        {
            var tail = new List<(float[] X, long[] Y)>();
            foreach (var (x, y) in loader.Epoch(2, firstBatch: first))
                using (x)
                using (y)
                    tail.Add((x.data<float>().ToArray(), y.data<long>().ToArray()));
            Assert.Equal(all.Count - first, tail.Count);
            for (int i = 0; i < tail.Count; i++)
            {
                Assert.Equal(all[first + i].X, tail[i].X);
                Assert.Equal(all[first + i].Y, tail[i].Y);
            }
        }
    }

    [Fact]
    public void Meter_sums_survive_a_save_and_restore()
    {
        var a = new EpochMeter([1, 5]);
        using var logits = tensor(new float[] { 0.1f, 0.9f, 0.2f, 0.7f, 0.2f, 0.1f }).reshape(2, 3);
        using var target = tensor(new long[] { 1, 2 });
        a.Add(logits, target, 0.3);
        var position = EpochPosition.Of(1, 1, 2, 0.5, new Dictionary<AdaBits.Modules.Bits, EpochMeter> { [new(4)] = a });
        var back = EpochPosition.FromJson(position.ToJson(), "test");
        var b = new EpochMeter([1, 5]);
        back.RestoreMeters(new Dictionary<AdaBits.Modules.Bits, EpochMeter> { [new(4)] = b });
        a.Add(logits, target, 0.1 + 0.2);
        b.Add(logits, target, 0.1 + 0.2);
        Assert.Equal(a.Result().Loss, b.Result().Loss);
        Assert.Equal(0.5, b.Result().TopError[1]);   // row 0 right (1), row 1 wrong (0 picked over 2)
        Assert.Equal(a.Result().TopError, b.Result().TopError);
        Assert.Throws<InvalidDataException>(() => back.RestoreMeters(new Dictionary<AdaBits.Modules.Bits, EpochMeter> { [new(8)] = new EpochMeter([1, 5]) }));
    }

    [Fact]
    public void A_second_signal_exits_at_once_with_the_first_signals_code()
    {
        var lines = new List<string>();
        var exits = new List<int>();
        using var stop = new StopSignal(lines.Add, exits.Add);
        Assert.False(stop.Requested);
        stop.Receive("SIGTERM", StopSignal.SigTermExit);
        Assert.True(stop.Requested);
        Assert.Equal(143, stop.ExitCode);
        Assert.Empty(exits);
        stop.Receive("SIGINT", StopSignal.SigIntExit);
        Assert.Equal([143], exits);
        Assert.Equal(2, lines.Count);
    }
}
