using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace AdaBits.Tests.Faults;

/// <summary>
/// `adabits train` as a child process, as a user and a batch system run it: SIGTERM in the middle of an epoch,
/// then the same command again, ends with the outputs of an uninterrupted run; resident memory stays flat.
/// </summary>
public partial class ChildRunTests(Xunit.Abstractions.ITestOutputHelper console) : TempFolderTests("adabits-child-tests-")
{
    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int sig);

    const int SigTerm = 15;

    static Process Start(IEnumerable<string> args, Action<Process, string> onLine, (string Name, string Value)[]? env)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var psi = new ProcessStartInfo(dotnet)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Mnist.RepoRoot(),
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "AdaBits.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in env ?? []) psi.Environment[name] = value;
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is { } line) onLine(p, line); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is { } line) onLine(p, "stderr: " + line); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    static (int Code, string Output) Run(IEnumerable<string> args, Action<Process, string>? onLine = null, int timeoutSeconds = 300,
        (string Name, string Value)[]? env = null)
    {
        var output = new System.Text.StringBuilder();
        using var p = Start(args, (proc, line) =>
        {
            lock (output) output.AppendLine(line);
            onLine?.Invoke(proc, line);
        }, env);
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"adabits {string.Join(" ", args)} did not end in {timeoutSeconds} s:\n{output}");
        }
        p.WaitForExit();   // the output readers have drained
        lock (output) return (p.ExitCode, output.ToString());
    }

    [Fact]
    public void Sigterm_in_an_epoch_then_the_same_command_again_equals_an_uninterrupted_run()
    {
        // 2 epochs of 40 steps
        var expected = RunFolder.Outputs(RunFolder.Train(RunFolder.Load(RunFolder.WriteConfig(dir, "full", trainLimit: 2560, valLimit: 256))).RunDir);
        string cfg = RunFolder.WriteConfig(dir, "term", trainLimit: 2560, valLimit: 256);
        string[] command = ["train", "app:" + cfg];

        var signalled = Stopwatch.StartNew();
        int sent = 0;
        var (code, output) = Run(command, (p, line) =>
        {
            if (line.StartsWith("epoch 1/2 step 12/40", StringComparison.Ordinal) && Interlocked.Exchange(ref sent, 1) == 0)
            {
                signalled.Restart();
                Assert.Equal(0, kill(p.Id, SigTerm));
            }
        });
        double stopSeconds = signalled.Elapsed.TotalSeconds;
        Assert.True(code == 143, $"exit code {code}:\n{output}");
        Assert.Contains("SIGTERM: finishing the current step and writing a checkpoint", output);
        var stopped = StoppedAt().Match(output);
        Assert.True(stopped.Success, output);
        Assert.InRange(int.Parse(stopped.Groups[1].Value), 12, 39);   // inside epoch 1, not at its end
        Assert.True(stopSeconds < 10, $"{stopSeconds:F1} s from SIGTERM to exit");
        string run = RunFolder.Load(cfg).RunDir;
        Assert.False(File.Exists(Path.Combine(run, AdaBits.IO.RunLock.FileName)));
        Assert.False(File.Exists(Path.Combine(run, "metrics.jsonl")));

        var (again, output2) = Run(command);
        Assert.True(again == 0, output2);
        Assert.Contains($"and {stopped.Groups[1].Value} of 40 steps of epoch 1", output2);
        var got = RunFolder.Outputs(run);
        Assert.Equal(expected.Metrics, got.Metrics);
        Assert.Equal(expected.Results, got.Results);
    }

    [Fact]
    public void A_second_sigterm_exits_at_once_and_the_next_run_takes_over_the_stale_lock()
    {
        // one epoch of 10 steps, then a long validation (10,000 images) during which both signals come
        string cfg = RunFolder.WriteConfig(dir, "twice", epochs: 1, trainLimit: 640, valLimit: 10000);
        var second = new Stopwatch();
        int sent = 0;
        var (code, output) = Run(["train", "app:" + cfg], (p, line) =>
        {
            if (!line.StartsWith("epoch 1/1 step 10/10", StringComparison.Ordinal) || Interlocked.Exchange(ref sent, 1) != 0) return;
            Assert.Equal(0, kill(p.Id, SigTerm));
            Thread.Sleep(300);
            second.Start();
            Assert.Equal(0, kill(p.Id, SigTerm));
        });
        Assert.True(code == 143, $"exit code {code}:\n{output}");
        Assert.True(second.Elapsed.TotalSeconds < 3, $"{second.Elapsed.TotalSeconds:F1} s from the second SIGTERM to exit");
        Assert.Contains("SIGTERM again: exiting now", output);
        string run = RunFolder.Load(cfg).RunDir;
        string lockFile = Path.Combine(run, AdaBits.IO.RunLock.FileName);
        Assert.True(File.Exists(lockFile), "a process that exits at once leaves its lock");
        var notices = new List<string>();
        using (AdaBits.IO.RunLock.Acquire(run, notices.Add)) { }
        Assert.Contains("taking over the stale lock", Assert.Single(notices));
    }

    [GeneratedRegex(@"stopped by SIGTERM at epoch 1, step (\d+)/40: ")]
    private static partial Regex StoppedAt();

    [Fact]
    public void Resident_memory_after_epoch_five_is_within_ten_percent_of_after_epoch_one()
    {
        string cfg = RunFolder.WriteConfig(dir, "memory", epochs: 6, trainLimit: 3200, valLimit: 512);
        var rss = new Dictionary<int, long>();
        // .NET sizes its first generation from the L3 cache: on a host with 260 MB of L3 (an Intel Xeon VM) the
        // managed garbage of a few epochs (about 70 MB) stayed uncollected and RSS grew 21% before levelling off
        // at epoch 8; a fixed 16 MB budget (hex) keeps this a test of what is retained, not of the host's cache.
        var (code, output) = Run(["train", "app:" + cfg], (p, line) =>
        {
            // "after epoch k": when epoch k+1's first step is done, so epoch k's validation and checkpoints are in
            var m = FirstStep().Match(line);
            if (m.Success) lock (rss) rss[int.Parse(m.Groups[1].Value) - 1] = ResidentKb(p.Id);
        }, env: [("DOTNET_GCgen0size", "1000000")]);
        Assert.True(code == 0, output);
        Assert.Equal(5, rss.Count);
        string figures = $"resident memory after each epoch (KiB): {string.Join(", ", rss.OrderBy(p => p.Key).Select(p => $"{p.Key}: {p.Value}"))}";
        console.WriteLine(figures);
        Assert.True(rss[5] <= rss[1] * 1.10, figures);
    }

    [GeneratedRegex(@"^epoch ([2-6])/6 step 1/50 ")]
    private static partial Regex FirstStep();

    static long ResidentKb(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        throw new InvalidOperationException($"no VmRSS for pid {pid}");
    }
}
