using System.Text;
using AdaBits.Modules;

namespace AdaBits.Training;

/// <summary>Where training stands within an epoch: written as a plain line (logs, pipes) or a live bar (terminals).</summary>
internal sealed record TrainProgress(int Epoch, int Epochs, int Step, int Steps, IReadOnlyList<(Bits Bits, double Loss)> Losses,
    double Lr, double ImagesPerSecond, double EtaSeconds, long Skipped = 0)
{
    string LossText => string.Join(" ", Losses.Select(l => $"{l.Bits}:{l.Loss:F4}"));
    string SkippedText => Skipped > 0 ? $" skipped {Skipped}" : "";

    /// <summary>`epoch 1/3 step 100/938 loss 8:0.4123 4:0.5012 lr 0.04996 655 img/s ETA 2:31`.</summary>
    public string Plain() =>
        $"epoch {Epoch}/{Epochs} step {Step}/{Steps} loss {LossText} lr {Lr:G4}{SkippedText} {ImagesPerSecond:F0} img/s ETA {RunOutputs.Duration(EtaSeconds)}";

    /// <summary>`epoch 1/3 [#######.............] step 100/938 loss 8:0.4123 4:0.5012 655 img/s ETA 2:31`, at most width characters.</summary>
    public string Live(int width)
    {
        const int barWidth = 20;
        int filled = Steps > 0 ? (int)Math.Round((double)barWidth * Math.Clamp(Step, 0, Steps) / Steps) : 0;
        var line = new StringBuilder()
            .Append($"epoch {Epoch}/{Epochs} [").Append('#', filled).Append('.', barWidth - filled).Append(']')
            .Append($" step {Step}/{Steps} loss {LossText}{SkippedText} {ImagesPerSecond:F0} img/s ETA {RunOutputs.Duration(EtaSeconds)}")
            .ToString();
        return line.Length > width ? line[..width] : line;
    }
}
