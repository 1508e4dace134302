namespace AdaBits.Training;

/// <summary>
/// The learning-rate factor lambda of the reference's seven schedulers (§5.9), as a pure function of the
/// optimizer step and the epoch, so resuming sets the rate exactly. Fixed relative to the reference: all
/// num_epochs epochs run (epoch indices 0..E-1, step indices 0..E*nB-1, so schedules reach their end), and
/// linear_decaying / cos_annealing work (both crashed there).
/// </summary>
internal sealed class LrSchedule
{
    public static readonly string[] Names =
        ["multistep", "multistep_iter", "exp_decaying", "exp_decaying_iter", "linear_decaying", "cos_annealing", "cos_annealing_iter"];

    readonly string name;
    readonly int epochs, batchesPerEpoch, warmupEpochs;
    readonly double warmupStart;
    readonly int[] milestones;
    readonly double multistepGamma, expGamma;
    readonly int expPeriod;
    readonly bool warmRestart;

    /// <param name="batchSize">Sets the warmup's starting factor 256 / batch_size (warmup only runs when batch_size > 256).</param>
    public LrSchedule(string name, int epochs, int batchesPerEpoch, int warmupEpochs, int batchSize,
        IReadOnlyList<int>? milestones = null, double multistepGamma = 0.1, double? expGamma = null,
        int expPeriod = 1, bool warmRestart = false)
    {
        if (!Names.Contains(name))
            throw new ArgumentException($"lr_scheduler '{name}' is not one of {string.Join(", ", Names)}");
        if (epochs < 1) throw new ArgumentException($"num_epochs must be >= 1, got {epochs}");
        if (batchesPerEpoch < 1) throw new ArgumentException($"an epoch must have at least one batch, got {batchesPerEpoch}");
        if (name == "exp_decaying" && expGamma is null)
            throw new ArgumentException("lr_scheduler exp_decaying needs exp_decaying_lr_gamma");
        if (expPeriod < 1) throw new ArgumentException($"exp_decaying_period must be >= 1, got {expPeriod}");
        this.name = name;
        this.epochs = epochs;
        this.batchesPerEpoch = batchesPerEpoch;
        this.warmupEpochs = warmupEpochs;
        warmupStart = 256.0 / batchSize;
        this.milestones = (milestones ?? []).Order().ToArray();
        this.multistepGamma = multistepGamma;
        this.expGamma = expGamma ?? 1;
        this.expPeriod = expPeriod;
        this.warmRestart = warmRestart && name == "cos_annealing_iter";
        bool warms = PerIteration || name == "cos_annealing";
        if (warmupEpochs < 0 || warms && warmupEpochs >= epochs && warmupEpochs > 0)
            throw new ArgumentException($"warmup_epochs {warmupEpochs} leaves no epochs to decay over (num_epochs {epochs})");
    }

    /// <summary>Whether the factor changes every optimizer step (else once per epoch).</summary>
    public bool PerIteration => name.EndsWith("_iter", StringComparison.Ordinal) || name == "linear_decaying";

    public int TotalSteps => epochs * batchesPerEpoch;

    /// <summary>lambda for optimizer step `step` (0-based, counted over the whole run) taken during epoch `epoch` (0-based).</summary>
    public double Factor(long step, int epoch)
    {
        if (epoch < 0 || epoch >= epochs) throw new ArgumentOutOfRangeException(nameof(epoch), $"epoch {epoch} outside 0..{epochs - 1}");
        long t = TotalSteps, w = (long)warmupEpochs * batchesPerEpoch;
        switch (name)
        {
            case "multistep":
                return Math.Pow(multistepGamma, milestones.Count(m => m <= epoch));
            case "exp_decaying":
                return Math.Pow(expGamma, epoch / expPeriod);
            case "cos_annealing":
                if (epoch < warmupEpochs) return Warmup(epoch, warmupEpochs);
                return Cosine(epoch - warmupEpochs, epochs - warmupEpochs);
        }
        if (step < 0 || step >= t) throw new ArgumentOutOfRangeException(nameof(step), $"step {step} outside 0..{t - 1}");
        if (step < w) return Warmup(step, w);
        return name switch
        {
            "multistep_iter" => Math.Pow(multistepGamma, BisectRight(milestones, (int)(step / batchesPerEpoch))),
            "exp_decaying_iter" => Math.Exp(-8.0 * (step - w) / (t - w)),
            // The reference's intent: 1 - e/E per epoch plus a per-step decrement of 1/(E nB): one straight line.
            "linear_decaying" => 1.0 - (double)(step - w) / (t - w),
            "cos_annealing_iter" when warmRestart => WarmRestart(step - w, t - w),
            "cos_annealing_iter" => Cosine(step - w, t - w),
            _ => throw new InvalidOperationException(name),
        };
    }

    double Warmup(long i, long length) => warmupStart + (1 - warmupStart) * i / length;

    static double Cosine(long i, long length) => (1 + Math.Cos(Math.PI * i / length)) / 2;

    /// <summary>SGDR (test.py's warm_restart): first period 10 epochs, doubling, clipped to the steps left.</summary>
    double WarmRestart(long i, long remaining)
    {
        long start = 0, period = 10L * batchesPerEpoch;
        while (i >= start + period && start + period < remaining)
        {
            start += period;
            period *= 2;
        }
        return Cosine(i - start, Math.Min(period, remaining - start));
    }

    static int BisectRight(int[] sorted, int x)
    {
        int n = 0;
        while (n < sorted.Length && sorted[n] <= x) n++;
        return n;
    }
}
