namespace AdaBits.IO;

/// <summary>The steps of a temp-file-then-rename write, where a fault can strike.</summary>
internal enum WriteStage
{
    /// <summary>The content has been written to the temporary file (a fault here stands for a write that ran out of space).</summary>
    Write,
    /// <summary>Before the temporary file is flushed to the disk.</summary>
    Flush,
    /// <summary>Before the temporary file is renamed over the target.</summary>
    Rename,
}

/// <summary>
/// The one writer of a run's files (checkpoints, metrics, results, report, plots): the content goes to a
/// temporary file beside the target, is flushed to the disk and renamed over the target, so a crash, a full
/// disk or a failed write leaves the previous file as it was and no half-written file under the final name.
/// An I/O failure becomes one <see cref="IOException"/> line naming the file. Tests build a writer with a
/// fault, called at every <see cref="WriteStage"/> with the temporary path, to make any step fail.
/// </summary>
internal sealed class AtomicWriter
{
    /// <summary>The writer without faults that everything uses unless given another.</summary>
    public static AtomicWriter Default { get; } = new();

    readonly Action<WriteStage, string>? fault;

    public AtomicWriter() { }

    /// <summary>Tests: <paramref name="fault"/> runs at each stage and may throw (or damage the temporary file).</summary>
    internal AtomicWriter(Action<WriteStage, string> fault) => this.fault = fault;

    /// <summary>Writes `path` through `writeTo`, which writes the complete content to the path it is given.</summary>
    public void Write(string path, Action<string> writeTo)
    {
        string full = Path.GetFullPath(path);
        string tmp = full + $".tmp{Environment.ProcessId}";
        try
        {
            string? dir = Path.GetDirectoryName(full);
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            writeTo(tmp);
            fault?.Invoke(WriteStage.Write, tmp);
            fault?.Invoke(WriteStage.Flush, tmp);
            // Without the flush a power cut after the rename can leave an empty file under the final name.
            using (var stream = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite)) stream.Flush(flushToDisk: true);
            fault?.Invoke(WriteStage.Rename, tmp);
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{full}: cannot write it ({e.Message.ReplaceLineEndings(" ").TrimEnd('.', ' ')}); the previous file, if any, is unchanged", e);
        }
        finally
        {
            try { if (File.Exists(tmp)) File.Delete(tmp); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    public void WriteAllText(string path, string text) => Write(path, tmp => File.WriteAllText(tmp, text));

    public void WriteAllBytes(string path, byte[] bytes) => Write(path, tmp => File.WriteAllBytes(tmp, bytes));

    /// <summary>
    /// Appends lines by rewriting the whole file through a temporary one: an append cut short would leave a
    /// half line that the next run would have to repair. Meant for small files (metrics.jsonl).
    /// </summary>
    public void AppendLines(string path, IEnumerable<string> lines)
    {
        var all = File.Exists(path) ? File.ReadAllLines(path).Where(l => l.Length > 0).ToList() : [];
        all.AddRange(lines);
        Write(path, tmp => File.WriteAllLines(tmp, all));
    }
}

/// <summary>Writes through <see cref="AtomicWriter.Default"/>.</summary>
internal static class AtomicFile
{
    public static void Write(string path, Action<string> writeTo) => AtomicWriter.Default.Write(path, writeTo);

    public static void WriteAllText(string path, string text) => AtomicWriter.Default.WriteAllText(path, text);
}
