using System.Text;

namespace AdaBits.Study;

/// <summary>
/// The console a sub-run's log writes to: only its validation lines and resume/stop notices come through, and on
/// a terminal its live progress line (what RunLog redraws with a leading carriage return).
/// </summary>
internal sealed class SubRunConsole(Action<string> forward, TextWriter? live, string prefix) : TextWriter
{
    bool liveShown;

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value) { }

    public override void Write(string? value)
    {
        if (live is null || value is null || !value.StartsWith('\r')) return;
        live.Write("\r" + prefix + value[1..]);
        live.Flush();
        liveShown = true;
    }

    /// <summary>RunLog ends its live line with an empty WriteLine before the next line.</summary>
    public override void WriteLine()
    {
        if (!liveShown) return;
        live!.WriteLine();
        liveShown = false;
    }

    public override void WriteLine(string? value)
    {
        if (value is null) return;
        if (value.Contains("\tval\t", StringComparison.Ordinal) || value.StartsWith("resumed from", StringComparison.Ordinal)
            || value.StartsWith("stopped by", StringComparison.Ordinal))
            forward(value.Replace('\t', ' '));
    }
}
