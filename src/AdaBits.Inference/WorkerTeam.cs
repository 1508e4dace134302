using System.Diagnostics;

namespace AdaBits.Inference;

/// <summary>A layer's work split into items; Execute runs one item on the given worker (0 = the caller).</summary>
internal interface IParallelWork
{
    void Execute(int item, int worker);
}

/// <summary>
/// The engine's own worker threads (one session owns one team); the caller takes part in every layer and
/// items are handed out with one atomic counter. Between layers a worker spins for a short while
/// (<see cref="SpinMicros"/>) and only then blocks on its event: waking a blocked thread took about 40 us
/// on these virtual machines, more than a whole small layer, while the gap between two layers of one run
/// is a few microseconds. After a run the workers block again within that time, so an idle team does not
/// compete for the cores.
/// </summary>
internal sealed class WorkerTeam : IDisposable
{
    /// <summary>How long a waiting thread spins before it blocks.</summary>
    public const int SpinMicros = 200;

    readonly Thread[] threads;
    readonly ManualResetEventSlim[] wake;
    readonly int[] parked;
    readonly ManualResetEventSlim done = new(false, spinCount: 0);
    readonly long spinTicks = Stopwatch.Frequency * SpinMicros / 1_000_000;
    IParallelWork? work;
    int count, next, remaining, generation, callerParked;
    volatile bool stopping;

    public int Size => threads.Length + 1;

    public WorkerTeam(int size)
    {
        int helpers = Math.Max(0, size - 1);
        threads = new Thread[helpers];
        wake = new ManualResetEventSlim[helpers];
        parked = new int[helpers];
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
        // every helper takes part (a helper that finds no item left just reports back)
        remaining = threads.Length;
        Interlocked.Increment(ref generation); // full fence: the fields above are visible to whoever sees it
        for (int i = 0; i < threads.Length; i++)
            if (Volatile.Read(ref parked[i]) != 0) wake[i].Set();
        Drain(0);
        WaitUntil(ref remaining, 0, true, ref callerParked, done);
        work = null;
    }

    void Drain(int worker)
    {
        var w = work!;
        int i;
        while ((i = Interlocked.Increment(ref next) - 1) < count) w.Execute(i, worker);
    }

    /// <summary>
    /// Spins until the condition holds or the spin time is over, then blocks on the event. The waker changes
    /// the state, then sets the event if the flag says the waiter is parked; the waiter raises the flag, then
    /// checks the state once more (both with full fences), so one of them always sees the other.
    /// </summary>
    /// <remarks>Ready means state == value (equal) or state != value (!equal), or the team is stopping.</remarks>
    void WaitUntil(ref int state, int value, bool equal, ref int flag, ManualResetEventSlim e)
    {
        long until = Stopwatch.GetTimestamp() + spinTicks;
        while ((Volatile.Read(ref state) == value) != equal && !stopping)
        {
            if (Stopwatch.GetTimestamp() < until) { Thread.SpinWait(4); continue; }
            e.Reset();
            Interlocked.Exchange(ref flag, 1);
            if ((Volatile.Read(ref state) == value) != equal && !stopping) e.Wait();
            Volatile.Write(ref flag, 0);
        }
    }

    void Loop(int id)
    {
        int seen = 0;
        while (true)
        {
            WaitUntil(ref generation, seen, false, ref parked[id], wake[id]);
            if (stopping) return;
            seen = Volatile.Read(ref generation);
            Drain(id + 1);
            if (Interlocked.Decrement(ref remaining) == 0 && Volatile.Read(ref callerParked) != 0) done.Set();
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
