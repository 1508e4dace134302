using AdaBits.Checkpoints;
using AdaBits.IO;
using AdaBits.Training;

namespace AdaBits.Tests.Faults;

/// <summary>Writes that fail at every step of temp-file, flush, rename leave the previous file as it was and give one line.</summary>
public class WriterFaultTests() : TempFolderTests("adabits-writer-tests-")
{
    static AtomicWriter FailingAt(WriteStage at, Func<string, bool>? which = null) => new((stage, tmp) =>
    {
        if (stage != at || !(which?.Invoke(tmp) ?? true)) return;
        // a write that ran out of space leaves half a temporary file behind it
        if (stage == WriteStage.Write) File.WriteAllBytes(tmp, File.ReadAllBytes(tmp).AsSpan(0, (int)new FileInfo(tmp).Length / 2).ToArray());
        throw new IOException("No space left on device");
    });

    [Theory]
    [InlineData(nameof(WriteStage.Write))]
    [InlineData(nameof(WriteStage.Flush))]
    [InlineData(nameof(WriteStage.Rename))]
    public void A_failed_write_keeps_the_previous_file_and_no_temporary_one(string stageName)
    {
        // by name: a public test method cannot take the library's internal enum
        var stage = Enum.Parse<WriteStage>(stageName);
        string path = Path.Combine(dir, "results.json");
        File.WriteAllText(path, "old");
        var e = Assert.Throws<IOException>(() => FailingAt(stage).WriteAllText(path, "new content"));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(dir));
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith(path + ": cannot write it (No space left on device)", e.Message);

        // metrics.jsonl: an append that fails leaves the lines that were there
        string metrics = Path.Combine(dir, "metrics.jsonl");
        File.WriteAllLines(metrics, ["{\"epoch\":1}"]);
        Assert.Throws<IOException>(() => FailingAt(stage).AppendLines(metrics, ["{\"epoch\":2}"]));
        Assert.Equal(["{\"epoch\":1}"], File.ReadAllLines(metrics));
        AtomicWriter.Default.AppendLines(metrics, ["{\"epoch\":2}"]);
        Assert.Equal(["{\"epoch\":1}", "{\"epoch\":2}"], File.ReadAllLines(metrics));
    }

    [Fact]
    public void A_file_that_cannot_be_written_at_all_is_one_line_naming_it()
    {
        string blocked = Path.Combine(dir, "file");
        File.WriteAllText(blocked, "");
        var e = Assert.Throws<IOException>(() => AtomicWriter.Default.WriteAllText(Path.Combine(blocked, "sub", "x.json"), "{}"));
        Assert.Contains(Path.Combine(blocked, "sub", "x.json"), e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData(nameof(WriteStage.Write))]
    [InlineData(nameof(WriteStage.Flush))]
    [InlineData(nameof(WriteStage.Rename))]
    public void Checkpoint_writes_failing_in_epoch_two_leave_epoch_ones_files_and_the_run_resumes(string stageName)
    {
        var stage = Enum.Parse<WriteStage>(stageName);
        var cfg = RunFolder.Load(RunFolder.WriteConfig(dir, "disk" + stage, epochs: 2, trainLimit: 256, valLimit: 128));
        RunFolder.Train(cfg with { NumEpochs = 1 });
        string latest = Path.Combine(cfg.RunDir, Trainer.LatestCheckpoint);
        string best = Path.Combine(cfg.RunDir, Trainer.BestModel);
        var before = new[] { latest, best, Path.Combine(cfg.RunDir, RunOutputs.MetricsFile) }.ToDictionary(f => f, File.ReadAllBytes);
        File.Delete(Path.Combine(cfg.RunDir, RunOutputs.ResultsFile));

        // every .pt write of epoch 2 fails at this stage
        var e = Assert.Throws<IOException>(() => RunFolder.Train(cfg, writer: FailingAt(stage, tmp => tmp.Contains(".pt.tmp"))));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(".pt: cannot write it (No space left on device)", e.Message);
        Assert.Equal(before[latest], File.ReadAllBytes(latest));
        Assert.Equal(before[best], File.ReadAllBytes(best));
        Assert.Empty(Directory.GetFiles(cfg.RunDir, "*.tmp*"));
        Assert.Equal(1, Convert.ToInt32(CheckpointFile.Load(latest)["last_epoch"]));

        var done = RunFolder.Train(cfg);
        Assert.Equal(8, File.ReadAllLines(Path.Combine(done.RunDir, RunOutputs.MetricsFile)).Length);   // 2 epochs x (train, val) x 2 bit-widths, once each
    }
}
