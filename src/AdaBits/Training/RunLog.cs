namespace AdaBits.Training;

/// <summary>
/// Where a run's lines go: the console and, once the run folder exists, train.log. Progress lines are
/// redrawn in place on a terminal and printed as plain lines otherwise.
/// </summary>
internal sealed class RunLog : IDisposable
{
    readonly TextWriter console;
    readonly bool interactive;
    StreamWriter? file;
    /// <summary>A second file for a while: a two-stage run's stage-1 train.log.</summary>
    StreamWriter? also;
    bool progressShown;
    readonly System.Diagnostics.Stopwatch sinceDrawn = System.Diagnostics.Stopwatch.StartNew();
    static readonly TimeSpan RedrawEvery = TimeSpan.FromMilliseconds(250);
    // Loader threads report skipped images through Line while the training thread prints progress.
    readonly Lock gate = new();

    readonly int? width;

    /// <param name="width">the terminal's width for live lines (default: the console window's)</param>
    public RunLog(TextWriter? console = null, bool? interactive = null, int? width = null)
    {
        this.width = width;
        this.console = console ?? Console.Out;
        this.interactive = interactive ?? (console is null && !Console.IsOutputRedirected);
    }

    public void AttachFile(string path)
    {
        file?.Dispose();
        file = new StreamWriter(path, append: true) { AutoFlush = true };
    }

    /// <summary>Until disposed, every line also goes to <paramref name="path"/> (appended).</summary>
    public IDisposable AlsoTo(string path)
    {
        var writer = new StreamWriter(path, append: true) { AutoFlush = true };
        lock (gate)
        {
            also?.Dispose();
            also = writer;
        }
        return new Detach(this, writer);
    }

    sealed class Detach(RunLog log, StreamWriter writer) : IDisposable
    {
        public void Dispose()
        {
            lock (log.gate)
            {
                if (log.also == writer) log.also = null;
                writer.Dispose();
            }
        }
    }

    void ToFiles(string text)
    {
        file?.WriteLine(text);
        also?.WriteLine(text);
    }

    public void Line(string text)
    {
        lock (gate)
        {
            EndProgress();
            console.WriteLine(text);
            ToFiles(text);
        }
    }

    /// <summary>On a terminal, whether the live progress line is due for a redraw (a few times a second).</summary>
    public bool LiveUpdateDue => interactive && sinceDrawn.Elapsed >= RedrawEvery;

    /// <summary>
    /// Training progress. On a terminal: one live line per epoch, a bar redrawn in place (the next
    /// <see cref="Line"/> keeps it); otherwise the plain line, as every <paramref name="logged"/> step
    /// (log_interval) does in train.log.
    /// </summary>
    public void Progress(TrainProgress progress, bool logged)
    {
        lock (gate)
        {
            if (logged) ToFiles(progress.Plain());
            if (!interactive)
            {
                if (logged) console.WriteLine(progress.Plain());
                return;
            }
            int width = SafeWidth() - 1;
            console.Write("\r" + progress.Live(width).PadRight(width));
            console.Flush();
            progressShown = true;
            sinceDrawn.Restart();
        }
    }

    /// <summary>A line for train.log only (the console has shown it already).</summary>
    public void FileLine(string text)
    {
        lock (gate) ToFiles(text);
    }

    /// <summary>A progress line: overwritten by the next one on a terminal; kept in train.log either way.</summary>
    public void Progress(string text)
    {
        lock (gate) WriteProgress(text);
    }

    void WriteProgress(string text)
    {
        ToFiles(text);
        if (!interactive)
        {
            console.WriteLine(text);
            return;
        }
        int width = SafeWidth() - 1;
        console.Write("\r" + (text.Length >= width ? text[..width] : text.PadRight(width)));
        progressShown = true;
    }

    void EndProgress()
    {
        if (!progressShown) return;
        console.WriteLine();
        progressShown = false;
    }

    int SafeWidth()
    {
        if (width is int w) return w;
        try { return Math.Max(40, Console.WindowWidth); }
        catch (IOException) { return 120; }
    }

    public void Dispose()
    {
        EndProgress();
        file?.Dispose();
        also?.Dispose();
    }
}
