using System.Runtime.InteropServices;

namespace AdaBits.Training;

/// <summary>The run was asked to stop (a signal, or a test's hook) and wrote a checkpoint first; ExitCode is 128 + the signal.</summary>
internal sealed class TrainingStopped(string message, int exitCode) : OperationCanceledException(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>
/// Graceful stop on SIGINT and SIGTERM (what Slurm and container runtimes send before a kill): the first signal
/// is only recorded, so the trainer finishes its step, writes a checkpoint with the position inside the epoch
/// and exits with 130 (SIGINT) or 143 (SIGTERM); a second signal exits at once with that code.
/// </summary>
internal sealed partial class StopSignal : IDisposable
{
    public const int SigIntExit = 130, SigTermExit = 143;

    readonly List<PosixSignalRegistration> registrations = [];
    readonly Action<string> log;
    readonly Action<int> exitNow;
    int exitCode;
    string signal = "";

    /// <summary>Tests: a stop source whose second signal calls `exitNow` instead of ending the process.</summary>
    internal StopSignal(Action<string> log, Action<int> exitNow)
    {
        this.log = log;
        this.exitNow = exitNow;
    }

    /// <summary>Handles SIGINT and SIGTERM for this process until disposed.</summary>
    public static StopSignal Register(Action<string> log)
    {
        var stop = new StopSignal(log, ExitNow);
        foreach (var (sig, name, code) in new[] { (PosixSignal.SIGINT, "SIGINT", SigIntExit), (PosixSignal.SIGTERM, "SIGTERM", SigTermExit) })
            stop.registrations.Add(PosixSignalRegistration.Create(sig, context =>
            {
                context.Cancel = true;   // the default would end the process before the checkpoint
                stop.Receive(name, code);
            }));
        return stop;
    }

    /// <summary>
    /// Ends the process now. Not Environment.Exit: it runs the C library's exit handlers and libtorch's static
    /// destructors while the training thread is still inside libtorch, which crashed (exit 139) when tried.
    /// </summary>
    static void ExitNow(int code)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) ExitProcess(code);
        Environment.Exit(code);
    }

    [LibraryImport("libc", EntryPoint = "_exit")]
    private static partial void ExitProcess(int status);

    public bool Requested => Volatile.Read(ref exitCode) != 0;

    /// <summary>The exit code the stop asks for (0 while none).</summary>
    public int ExitCode => Volatile.Read(ref exitCode);

    /// <summary>The signal received first ("SIGTERM").</summary>
    public string Signal => Volatile.Read(ref signal);

    internal void Receive(string name, int code)
    {
        if (Interlocked.CompareExchange(ref exitCode, code, 0) != 0)
        {
            log($"{name} again: exiting now, without a checkpoint of the current step");
            exitNow(ExitCode);
            return;
        }
        Volatile.Write(ref signal, name);
        log($"{name}: finishing the current step and writing a checkpoint, then exiting ({name} again exits at once)");
    }

    public void Dispose()
    {
        foreach (var r in registrations) r.Dispose();
        registrations.Clear();
    }
}
