using System.Diagnostics;

namespace AdaBits.Inference;

/// <summary>A layer's work split into items; Execute runs one item on the given worker (0 = the caller).</summary>
internal interface IParallelWork
{
    void Execute(int item, int worker);
}

/// <summary>
/// The engine's own worker threads (one session owns one team); the caller takes part in every layer, and
/// each worker takes items from a contiguous range of its own, then from the others' (<see cref="Drain"/>).
/// <para>Waking a blocked thread took about 40 us on these virtual machines, more than a whole small layer,
/// while the gap between two layers of one run is a few microseconds; so between layers a worker spins for
/// <see cref="SpinMicros"/> before it blocks, and after a run the team is blocked again within that time.</para>
/// <para>A worker joins a layer only while the layer is open, and the caller closes it once every item is
/// taken, then waits only for the workers that joined. A worker that the OS has not scheduled in time (the
/// cores busy with other threads) therefore costs nothing: the caller runs the items itself instead of
/// waiting for it.</para>
/// </summary>
internal sealed class WorkerTeam : IDisposable
{
    /// <summary>How long a waiting thread spins before it blocks.</summary>
    public const int SpinMicros = 100;

    const long Closed = 1L << 31, ActiveMask = Closed - 1;

    readonly Thread[] threads;
    readonly ManualResetEventSlim[] wake;
    readonly int[] parked;
    readonly ManualResetEventSlim done = new(false, spinCount: 0);
    readonly long spinTicks = Stopwatch.Frequency * SpinMicros / 1_000_000;
    IParallelWork? work;
    /// <summary>The first exception a worker's item threw in the current layer (rethrown by the caller).</summary>
    Exception? failure;
    /// <summary>Per worker its range of the layer's items: the next item at cursor[w x Pad], the end at end[w]
    /// (each cursor on a cache line of its own).</summary>
    readonly int[] cursor, end;
    const int Pad = 16;
    int callerParked;
    /// <summary>Layer number (high 32 bits), the closed flag, and the count of workers inside the layer.</summary>
    long state;
    volatile bool stopping;

    public int Size => threads.Length + 1;

    /// <summary>Every worker has stopped spinning and blocked (the team was idle for longer than <see cref="SpinMicros"/>),
    /// and none was woken by <see cref="Wake"/> since.</summary>
    public bool Parked
    {
        get
        {
            if (clock() - wokenAt < spinTicks) return false;
            for (int i = 0; i < threads.Length; i++)
                if (Volatile.Read(ref parked[i]) == 0) return false;
            return threads.Length > 0;
        }
    }

    long wokenAt = long.MinValue / 2;

    /// <summary>Wakes the parked workers without work: they spin for <see cref="SpinMicros"/>, then block again.</summary>
    public void Wake()
    {
        wokenAt = clock();
        // a new layer number with nothing in it: a worker that sees it finds the layer closed and spins
        long layer = (Volatile.Read(ref state) >> 32) + 1;
        Interlocked.Exchange(ref state, (layer << 32) | Closed);
        WakeParked();
    }

    void WakeParked()
    {
        for (int i = 0; i < threads.Length; i++)
            if (Volatile.Read(ref parked[i]) != 0) wake[i].Set();
    }

    /// <summary>Tells <see cref="Parked"/> how long ago <see cref="Wake"/> was; the spinning itself keeps the real clock.</summary>
    readonly Func<long> clock;

    public WorkerTeam(int size, Func<long>? clock = null)
    {
        this.clock = clock ?? Stopwatch.GetTimestamp;
        int helpers = Math.Max(0, size - 1);
        threads = new Thread[helpers];
        wake = new ManualResetEventSlim[helpers];
        parked = new int[helpers];
        state = Closed;
        cursor = new int[(helpers + 1) * Pad];
        end = new int[helpers + 1];
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
        for (int k = 0; k <= threads.Length; k++)
        {
            cursor[k * Pad] = (int)((long)items * k / Size);
            end[k] = (int)((long)items * (k + 1) / Size);
        }
        failure = null;
        long layer = (Volatile.Read(ref state) >> 32) + 1;
        Interlocked.Exchange(ref state, layer << 32); // open, nobody inside; a full fence after the fields above
        WakeParked();
        // whatever happens here, the layer is closed and the workers inside it finish before Run returns:
        // they write into buffers the caller owns
        try { Drain(0); }
        finally { CloseAndWait(); }
        if (failure is { } f) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(f);
    }

    void CloseAndWait()
    {
        Interlocked.Or(ref state, Closed);
        long until = Stopwatch.GetTimestamp() + spinTicks;
        while ((Volatile.Read(ref state) & ActiveMask) != 0)
        {
            if (Stopwatch.GetTimestamp() < until) { Thread.SpinWait(4); continue; }
            // raise the flag, then look again; a worker leaving looks at the flag after its decrement
            done.Reset();
            Interlocked.Exchange(ref callerParked, 1);
            if ((Volatile.Read(ref state) & ActiveMask) != 0) done.Wait();
            Volatile.Write(ref callerParked, 0);
        }
        work = null;
    }

    /// <summary>
    /// The worker's own contiguous range first, then what is left of the others'. Handed out one by one from a
    /// shared counter, neighbouring rows go to alternate cores, and the next layer reads about half its input
    /// from the other core's cache; with the same share of every layer (a layer's rows lie in the same
    /// proportion of the image as its input's rows), a core mostly reads what it wrote itself. On the 2-core
    /// host no difference was measurable (MobileNet V1 and ResNet-20 at batch 1, six alternating runs: within
    /// noise); it is the order that costs nothing where cores are many and far apart.
    /// </summary>
    void Drain(int worker)
    {
        var w = work!;
        int size = Size;
        for (int k = 0; k < size; k++)
        {
            int r = (worker + k) % size, last = end[r], i;
            while ((i = Interlocked.Increment(ref cursor[r * Pad]) - 1) < last) w.Execute(i, worker);
        }
    }

    void Loop(int id)
    {
        long seen = 0;
        while (true)
        {
            WaitForLayerAfter(seen, id);
            if (stopping) return;
            long s = Volatile.Read(ref state);
            seen = s >> 32;
            if (!TryJoin(s)) continue;
            // an exception escaping a worker thread would end the process; the caller rethrows it instead
            try { Drain(id + 1); }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
                for (int k = 0; k < Size; k++) Interlocked.Exchange(ref cursor[k * Pad], end[k]); // no further items of this layer are worth running
            }
            long after = Interlocked.Decrement(ref state);
            if ((after & ActiveMask) == 0 && Volatile.Read(ref callerParked) != 0) done.Set();
        }
    }

    /// <summary>Enters the open layer of state s; false where it is closed or already another.</summary>
    bool TryJoin(long s)
    {
        long layer = s >> 32;
        while ((s & Closed) == 0 && s >> 32 == layer)
        {
            long was = Interlocked.CompareExchange(ref state, s + 1, s);
            if (was == s) return true;
            s = was;
        }
        return false;
    }

    /// <summary>
    /// Spins until a layer after <paramref name="seen"/> starts, then blocks on the worker's event. The caller
    /// opens the layer, then sets the event if the worker is parked; the worker raises its flag, then looks at
    /// the layer once more (both with full fences), so one of them always sees the other.
    /// </summary>
    void WaitForLayerAfter(long seen, int id)
    {
        long until = Stopwatch.GetTimestamp() + spinTicks;
        while (Volatile.Read(ref state) >> 32 == seen && !stopping)
        {
            if (Stopwatch.GetTimestamp() < until) { Thread.SpinWait(4); continue; }
            wake[id].Reset();
            Interlocked.Exchange(ref parked[id], 1);
            if (Volatile.Read(ref state) >> 32 == seen && !stopping) wake[id].Wait();
            Volatile.Write(ref parked[id], 0);
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
