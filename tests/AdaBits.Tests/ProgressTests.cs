using System.Diagnostics;
using System.Text.RegularExpressions;
using AdaBits.Modules;
using AdaBits.Training;

namespace AdaBits.Tests;

/// <summary>Training progress: plain lines when not a terminal, one live line per epoch on one (also under tmux).</summary>
public class ProgressTests() : TempFolderTests("adabits-progress-tests-")
{
    static TrainProgress At(int step, int epoch = 1) =>
        new(epoch, 2, step, 10, [(new Bits(8), 2.5 - step * 0.1), (new Bits(4), 2.75)], 0.05, 640, 90 - step);

    [Fact]
    public void Plain_output_prints_the_logged_steps_as_lines_and_train_log_gets_the_same()
    {
        var console = new StringWriter();
        string logFile = Path.Combine(dir, "train.log");
        using (var log = new RunLog(console, interactive: false))
        {
            log.AttachFile(logFile);
            for (int s = 1; s <= 10; s++) log.Progress(At(s), logged: s % 5 == 0);
        }
        string expected5 = "epoch 1/2 step 5/10 loss 8:2.0000 4:2.7500 lr 0.05 640 img/s ETA 1:25";
        string expected10 = "epoch 1/2 step 10/10 loss 8:1.5000 4:2.7500 lr 0.05 640 img/s ETA 1:20";
        Assert.Equal([expected5, expected10], console.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')));
        Assert.Equal([expected5, expected10], File.ReadAllLines(logFile));
        Assert.DoesNotContain("\r", console.ToString().Replace(Environment.NewLine, "\n"));
    }

    [Fact]
    public void A_terminal_gets_one_line_per_epoch_redrawn_in_place()
    {
        var console = new StringWriter();
        using (var log = new RunLog(console, interactive: true, width: 200))
        {
            for (int s = 1; s <= 10; s++) log.Progress(At(s), logged: s == 10);
            log.Line("epoch 1 done");
            for (int s = 1; s <= 10; s++) log.Progress(At(s, epoch: 2), logged: s == 10);
        }
        string text = console.ToString();
        // every update starts with a carriage return: the terminal overwrites the line
        Assert.Equal(20, text.Count(c => c == '\r'));
        // what stays on screen: the last draw of each epoch, then the line printed after it
        var screen = text.Split('\n').Select(l => l[(l.LastIndexOf('\r') + 1)..].TrimEnd()).Where(l => l.Length > 0).ToList();
        Assert.Equal(3, screen.Count);
        Assert.Equal("epoch 1/2 [####################] step 10/10 loss 8:1.5000 4:2.7500 640 img/s ETA 1:20", screen[0]);
        Assert.Equal("epoch 1 done", screen[1]);
        Assert.StartsWith("epoch 2/2 [####################] step 10/10", screen[2]);
        // half way: half the bar
        Assert.Contains("epoch 1/2 [##########..........] step 5/10 loss 8:2.0000 4:2.7500 640 img/s ETA 1:25", text);
    }

    [Fact]
    public void Live_line_is_cut_to_the_terminal_width()
    {
        Assert.Equal(40, At(3).Live(40).Length);
        Assert.StartsWith("epoch 1/2 [######..............] st", At(3).Live(40));
    }

    /// <summary>The real thing: `adabits train` in a tmux pane (a terminal), two epochs, the pane captured.</summary>
    [Fact]
    public void Under_tmux_each_epoch_leaves_one_progress_line_with_bar_losses_speed_and_eta()
    {
        Assert.True(File.Exists("/usr/bin/tmux") || File.Exists("/usr/local/bin/tmux"), "tmux is needed for this test (apt-get install tmux; .ci/run installs it)");
        string root = Mnist.RepoRoot();
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release";
        string cli = Path.Combine(root, "src", "AdaBits.Cli", "bin", configuration, "net10.0", "AdaBits.Cli.dll");
        Assert.True(File.Exists(cli), cli);
        string done = Path.Combine(dir, "done");
        string command = $"dotnet '{cli}' train app:'{Path.Combine(root, "apps", "mnist", "adabits.yml")}' dataset_dir='{Mnist.Dir}' " +
                         $"num_epochs=2 train_limit=1280 val_limit=128 log_interval=5 log_dir='{Path.Combine(dir, "runs")}' profiling=False; echo $? > '{done}'; sleep 120";
        string socket = "adabits-test-" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            Tmux(socket, "new-session", "-d", "-x", "220", "-y", "60", command);
            var clock = Stopwatch.StartNew();
            while (!File.Exists(done) && clock.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(200);
            Assert.True(File.Exists(done), "the training in tmux did not finish in 3 minutes");
            Thread.Sleep(300);
            string pane = Tmux(socket, "capture-pane", "-p", "-J", "-S", "-200");
            Assert.Equal("0", File.ReadAllText(done).Trim());
            var lines = pane.Split('\n').Select(l => l.TrimEnd()).ToList();
            Assert.StartsWith("run folder: ", lines.First(l => l.Length > 0));
            var bar = new Regex(@"^epoch (\d)/2 \[[#.]{20}\] step (\d+)/20 loss 8:\d+\.\d{4} 6:\d+\.\d{4} 5:\d+\.\d{4} 4:\d+\.\d{4} \d+ img/s ETA \d+:\d\d$");
            var progress = lines.Where(l => bar.IsMatch(l)).ToList();
            Assert.True(progress.Count == 2, "expected one progress line per epoch in the pane:\n" + pane);
            Assert.StartsWith("epoch 1/2 [####################] step 20/20", progress[0]);
            Assert.StartsWith("epoch 2/2 [####################] step 20/20", progress[1]);
            // no plain progress lines on a terminal (log_interval=5 would have printed eight)
            Assert.DoesNotContain(lines, l => l.StartsWith("epoch 1/2 step ", StringComparison.Ordinal));
        }
        finally
        {
            try { Tmux(socket, "kill-server"); } catch (InvalidOperationException) { }
        }
    }

    static string Tmux(string socket, params string[] args)
    {
        var psi = new ProcessStartInfo("tmux") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-L");
        psi.ArgumentList.Add(socket);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["TERM"] = "xterm-256color";
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"tmux {string.Join(' ', args)}: {error}");
        return output;
    }
}
