using System.Diagnostics;
using AdaBits.IO;

namespace AdaBits.Tests.Faults;

/// <summary>The run folder lock: one run per folder, a second refused with one line, a dead holder's lock taken over.</summary>
[Collection("Console")]
public class RunLockTests() : TempFolderTests("adabits-lock-tests-")
{
    string LockFile => Path.Combine(dir, RunLock.FileName);

    [Fact]
    public void A_held_lock_refuses_a_second_taker_and_is_released_on_dispose()
    {
        var notices = new List<string>();
        using (var first = RunLock.Acquire(dir, notices.Add))
        {
            Assert.Equal($"pid {Environment.ProcessId} host {Environment.MachineName}\n", File.ReadAllText(LockFile));
            var e = Assert.Throws<RunLockedException>(() => RunLock.Acquire(dir, notices.Add));
            Assert.Equal($"run folder {dir} is in use by pid {Environment.ProcessId} on host {Environment.MachineName} (lock {LockFile}); wait for that run to end or give another log_dir", e.Message);
        }
        Assert.False(File.Exists(LockFile));
        Assert.Empty(notices);
        using var again = RunLock.Acquire(dir, notices.Add);
        Assert.True(File.Exists(LockFile));
    }

    [Fact]
    public void A_lock_of_a_dead_process_on_this_host_is_taken_over_with_a_notice()
    {
        using var gone = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        gone.WaitForExit();
        File.WriteAllText(LockFile, $"pid {gone.Id} host {Environment.MachineName}\n");
        var notices = new List<string>();
        using (RunLock.Acquire(dir, notices.Add))
            Assert.StartsWith($"pid {Environment.ProcessId} ", File.ReadAllText(LockFile));
        Assert.Equal($"{LockFile}: taking over the stale lock of pid {gone.Id} on {Environment.MachineName} (that process is gone)", Assert.Single(notices));
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void A_lock_of_another_host_is_refused_since_its_process_cannot_be_checked()
    {
        File.WriteAllText(LockFile, "pid 1 host some-other-machine\n");
        Assert.Contains("in use by pid 1 on host some-other-machine", Assert.Throws<RunLockedException>(() => RunLock.Acquire(dir, _ => { })).Message);
        Assert.Equal("pid 1 host some-other-machine\n", File.ReadAllText(LockFile));
    }

    [Fact]
    public void A_second_train_on_a_folder_in_use_exits_with_one_line_and_leaves_the_first_runs_files()
    {
        string cfgPath = RunFolder.WriteConfig(dir, "busy");
        string run = RunFolder.Load(cfgPath).RunDir;
        Directory.CreateDirectory(run);
        using var first = RunLock.Acquire(run, _ => { });
        File.WriteAllText(Path.Combine(run, "train.log"), "the first run's log\n");
        var (code, _, err) = CliRunner.Run("train", "app:" + cfgPath);
        Assert.Equal(1, code);
        Assert.Equal($"adabits: error: run folder {run} is in use by pid {Environment.ProcessId} on host {Environment.MachineName} (lock {Path.Combine(run, RunLock.FileName)}); wait for that run to end or give another log_dir",
            Assert.Single(err.Trim().Split('\n')));
        Assert.Equal(["run.lock", "train.log"], Directory.GetFiles(run).Select(f => Path.GetFileName(f)!).Order().ToArray());
        Assert.Equal("the first run's log\n", File.ReadAllText(Path.Combine(run, "train.log")));
    }
}
