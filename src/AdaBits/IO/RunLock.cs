using System.Diagnostics;
using System.Text;

namespace AdaBits.IO;

/// <summary>A run folder is in use by another live run (the message names its pid and host).</summary>
internal sealed class RunLockedException(string message) : IOException(message);

/// <summary>
/// The lock of a run folder: the file run.lock, made with create-new (atomic on a local file system) and
/// holding the owner's pid and host, so a second run on the same folder stops at once instead of writing the
/// same checkpoints. A lock whose process is gone (same host, pid not running: a run that was killed) is taken
/// over with a notice; a lock of another host cannot be checked and is refused. Disposing releases it.
/// </summary>
internal sealed class RunLock : IDisposable
{
    public const string FileName = "run.lock";

    readonly string path;
    readonly string content;
    bool released;

    RunLock(string path, string content) => (this.path, this.content) = (path, content);

    /// <summary>Takes the lock of `runDir` (which must exist) or throws <see cref="RunLockedException"/>.</summary>
    public static RunLock Acquire(string runDir, Action<string> notice)
    {
        string path = Path.Combine(runDir, FileName);
        string host = Environment.MachineName;
        string content = $"pid {Environment.ProcessId} host {host}\n";
        for (int attempt = 0; attempt < 20; attempt++)
        {
            if (TryCreate(path, content)) return new RunLock(path, content);
            string? held = ReadHolder(path);
            if (held is null) continue;   // released meanwhile
            var (pid, holderHost) = Parse(held);
            if (pid is null)
            {
                // Empty or foreign: a lock being written right now, or left by a crash during its few bytes' write.
                if (DateTime.UtcNow - File.GetLastWriteTimeUtc(path) < TimeSpan.FromSeconds(5)) { Thread.Sleep(100); continue; }
            }
            else if (holderHost != host || Alive(pid.Value))
                throw new RunLockedException($"run folder {runDir} is in use by pid {pid} on host {holderHost} (lock {path}); wait for that run to end or give another log_dir");
            if (TakeOver(path, held))
                notice($"{path}: taking over the stale lock of {(pid is null ? "an unreadable holder" : $"pid {pid} on {holderHost}")} (that process is gone)");
        }
        throw new RunLockedException($"run folder {runDir}: its lock {path} keeps changing hands; is another run starting there?");
    }

    static bool TryCreate(string path, string content)
    {
        try
        {
            using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
            f.Write(Encoding.UTF8.GetBytes(content));
            f.Flush(flushToDisk: true);
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            return false;
        }
    }

    static string? ReadHolder(string path)
    {
        try { return File.ReadAllText(path); }
        catch (FileNotFoundException) { return null; }
    }

    static (int? Pid, string Host) Parse(string text)
    {
        var parts = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return parts.Length == 4 && parts[0] == "pid" && int.TryParse(parts[1], out int pid) && parts[2] == "host"
            ? (pid, parts[3]) : (null, "");
    }

    /// <summary>
    /// Moves the stale lock aside (one of several runs racing for it wins the rename); a run that finds it has
    /// moved a lock other than the stale one it read (a racer's fresh lock) puts it back.
    /// </summary>
    static bool TakeOver(string path, string stale)
    {
        string aside = path + $".stale{Environment.ProcessId}";
        try { File.Move(path, aside, overwrite: true); }
        catch (FileNotFoundException) { return false; }
        bool same = File.ReadAllText(aside) == stale;
        if (same) File.Delete(aside);
        else
        {
            try { File.Move(aside, path, overwrite: false); }
            catch (IOException) { File.Delete(aside); }
        }
        return same;
    }

    static bool Alive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        if (OperatingSystem.IsLinux())
        {
            // A zombie has ended but keeps its /proc entry until reaped, and in a container whose init never reaps
            // (an mpirun rank orphaned by its launcher) that is forever: its state letter says it is gone.
            try
            {
                string stat = File.ReadAllText($"/proc/{pid}/stat");
                return stat[(stat.LastIndexOf(')') + 2)..] is not ['Z' or 'X', ..];
            }
            catch (IOException) { return false; }
        }
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    public void Dispose()
    {
        if (released) return;
        released = true;
        try
        {
            if (ReadHolder(path) == content) File.Delete(path);
        }
        catch (IOException) { }
    }
}
