namespace AdaBits.Cli.Bench;

/// <summary>
/// Threads that spin on arithmetic while switched on and sleep on a gate while off: the competing load of
/// `bench adaptive`. Each checks the switch every few microseconds, so the load comes and goes at once.
/// </summary>
internal sealed class BackgroundLoad : IDisposable
{
    readonly Thread[] threads;
    readonly ManualResetEventSlim gate = new(false);
    volatile bool on, stop;

    public BackgroundLoad(int count)
    {
        threads = Enumerable.Range(0, count).Select(i => new Thread(Spin) { IsBackground = true, Name = $"adabits-load-{i}" }).ToArray();
        foreach (var t in threads) t.Start();
    }

    public int Threads => threads.Length;

    public bool On
    {
        get => on;
        set
        {
            on = value;
            if (value) gate.Set(); else gate.Reset();
        }
    }

    void Spin()
    {
        double x = 1;
        while (!stop)
        {
            if (!on) { gate.Wait(50); continue; }
            for (int i = 0; i < 20_000; i++) x = x * 1.0000001 + 1e-9;   // a few microseconds between checks
        }
        GC.KeepAlive(x);
    }

    public void Dispose()
    {
        stop = true;
        gate.Set();
        foreach (var t in threads) t.Join();
        gate.Dispose();
    }
}
