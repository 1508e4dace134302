using AdaBits.Training;

namespace AdaBits.Tests;

/// <summary>Each scheduler's factor at chosen steps, against the formulas of reference §5.9 worked by hand.</summary>
public class SchedulerTests
{
    const int E = 10, NB = 7; // T = 70 steps

    static LrSchedule S(string name, int warmup = 0, int batch = 128, int[]? milestones = null, double? expGamma = null, int period = 1, bool restart = false) =>
        new(name, E, NB, warmup, batch, milestones, 0.1, expGamma, period, restart);

    [Fact]
    public void Multistep_counts_milestones_reached_by_the_epoch_from_epoch_zero()
    {
        var s = S("multistep", milestones: [3, 6]);
        Assert.False(s.PerIteration);
        Assert.Equal(1.0, s.Factor(0, 0), 12);
        Assert.Equal(1.0, s.Factor(20, 2), 12);
        Assert.Equal(0.1, s.Factor(21, 3), 12);
        Assert.Equal(0.01, s.Factor(69, 9), 12);
    }

    [Fact]
    public void Multistep_iter_warms_up_linearly_from_256_over_batch_size()
    {
        var s = S("multistep_iter", warmup: 2, batch: 512, milestones: [5]);
        Assert.True(s.PerIteration);
        Assert.Equal(0.5, s.Factor(0, 0), 12);                // r = 256/512
        Assert.Equal(0.5 + 0.5 * 7 / 14.0, s.Factor(7, 1), 12); // r + (1-r) i/W, W = 14
        Assert.Equal(1.0, s.Factor(14, 2), 12);
        Assert.Equal(1.0, s.Factor(34, 4), 12);               // floor(34/7) = 4 < 5
        Assert.Equal(0.1, s.Factor(35, 5), 12);               // bisect_right([5], 5) = 1
    }

    [Fact]
    public void Exp_decaying_steps_by_period()
    {
        var s = S("exp_decaying", expGamma: 0.5, period: 3);
        Assert.Equal(1.0, s.Factor(0, 2), 12);
        Assert.Equal(0.5, s.Factor(0, 3), 12);
        Assert.Equal(0.125, s.Factor(0, 9), 12);
    }

    [Fact]
    public void Exp_decaying_iter_follows_exp_minus_8_fraction()
    {
        var s = S("exp_decaying_iter", warmup: 1, batch: 1024);
        Assert.Equal(0.25, s.Factor(0, 0), 12);
        Assert.Equal(1.0, s.Factor(7, 1), 12);
        Assert.Equal(Math.Exp(-8.0 * 31 / 63), s.Factor(38, 5), 12);
        Assert.Equal(Math.Exp(-8.0 * 62 / 63), s.Factor(69, 9), 12); // the last step is reached
    }

    [Fact]
    public void Linear_decaying_is_one_straight_line_over_the_steps()
    {
        var s = S("linear_decaying");
        Assert.True(s.PerIteration);
        Assert.Equal(1.0, s.Factor(0, 0), 12);
        Assert.Equal(1 - 35 / 70.0, s.Factor(35, 5), 12);
        Assert.Equal(1 / 70.0, s.Factor(69, 9), 12);
    }

    [Fact]
    public void Cos_annealing_per_epoch_with_warmup()
    {
        var s = S("cos_annealing", warmup: 2, batch: 512);
        Assert.False(s.PerIteration);
        Assert.Equal(0.5, s.Factor(0, 0), 12);
        Assert.Equal(0.75, s.Factor(7, 1), 12);
        Assert.Equal(1.0, s.Factor(14, 2), 12);
        Assert.Equal((1 + Math.Cos(Math.PI * 4 / 8)) / 2, s.Factor(0, 6), 12);
    }

    [Fact]
    public void Cos_annealing_iter_reaches_the_end_of_the_cosine()
    {
        var s = S("cos_annealing_iter");
        Assert.Equal(1.0, s.Factor(0, 0), 12);
        Assert.Equal(0.5, s.Factor(35, 5), 12);
        Assert.Equal((1 + Math.Cos(Math.PI * 69 / 70)) / 2, s.Factor(69, 9), 12);
    }

    [Fact]
    public void Warm_restart_restarts_after_ten_epochs_then_doubles()
    {
        var s = new LrSchedule("cos_annealing_iter", 40, 2, 0, 128, warmRestart: true); // periods 20 and 40 steps, then clipped
        Assert.Equal(1.0, s.Factor(0, 0), 12);
        Assert.Equal(0.5, s.Factor(10, 5), 12);
        Assert.Equal(1.0, s.Factor(20, 10), 12);   // restart
        Assert.Equal(0.5, s.Factor(40, 20), 12);   // middle of the 40-step period
        Assert.Equal(1.0, s.Factor(60, 30), 12);   // third period, clipped to the 20 steps left
        Assert.Equal(0.5, s.Factor(70, 35), 12);
    }

    [Fact]
    public void Steps_outside_the_run_and_bad_settings_are_errors()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => S("cos_annealing_iter").Factor(70, 9));
        Assert.Throws<ArgumentOutOfRangeException>(() => S("multistep").Factor(0, 10));
        var e = Assert.Throws<ArgumentException>(() => S("cosine"));
        Assert.Contains("cosine", e.Message);
        Assert.Throws<ArgumentException>(() => S("exp_decaying"));
        Assert.Throws<ArgumentException>(() => new LrSchedule("cos_annealing_iter", 5, 7, 5, 512));
    }
}
