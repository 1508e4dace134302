namespace AdaBits.Inference;

/// <summary>A layer's work split into items; Execute runs one item on the given worker (0 = the caller).</summary>
internal interface IParallelWork
{
    void Execute(int item, int worker);
}

/// <summary>
/// The engine's own worker threads (one session owns one team). Workers block on an event between layers
/// instead of spinning, so a team never competes with other threads for the cores while it is idle; the
/// caller takes part in every layer. Items are handed out with one atomic counter.
/// </summary>
internal sealed class WorkerTeam : IDisposable
{
    readonly Thread[] threads;
    readonly ManualResetEventSlim[] wake;
    readonly ManualResetEventSlim done = new(false, spinCount: 0);
    IParallelWork? work;
    int count, next, remaining;
    volatile bool stopping;

    public int Size => threads.Length + 1;

    public WorkerTeam(int size)
    {
        int helpers = Math.Max(0, size - 1);
        threads = new Thread[helpers];
        wake = new ManualResetEventSlim[helpers];
        for (int i = 0; i < helpers; i++)
        {
            wake[i] = new ManualResetEventSlim(false, spinCount: 0);
            int id = i;
            threads[i] = new Thread(() => Loop(id)) { IsBackground = true, Name = $"adabits-engine-{id + 1}" };
            threads[i].Start();
        }
    }

    public void Run(int items, IParallelWork w, bool parallel)
    {
        if (!parallel || threads.Length == 0 || items < 2)
        {
            for (int i = 0; i < items; i++) w.Execute(i, 0);
            return;
        }
        work = w;
        count = items;
        next = 0;
        int helpers = Math.Min(threads.Length, items - 1);
        remaining = helpers;
        for (int i = 0; i < helpers; i++) wake[i].Set();
        Drain(0);
        done.Wait();
        done.Reset();
        work = null;
    }

    void Drain(int worker)
    {
        var w = work!;
        int i;
        while ((i = Interlocked.Increment(ref next) - 1) < count) w.Execute(i, worker);
    }

    void Loop(int id)
    {
        while (true)
        {
            wake[id].Wait();
            wake[id].Reset();
            if (stopping) return;
            Drain(id + 1);
            if (Interlocked.Decrement(ref remaining) == 0) done.Set();
        }
    }

    public void Dispose()
    {
        stopping = true;
        foreach (var e in wake) e.Set();
        foreach (var t in threads) t.Join();
        foreach (var e in wake) e.Dispose();
        done.Dispose();
    }
}
