using AdaBits.Modules;
using AdaBits.Training;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>Distillation across bit-widths: the loss against hand-derived values, its gradient against finite differences, the step's plan.</summary>
public class DistillationTests
{
    static Tensor Logits(double[,] v) => tensor(v, dtype: ScalarType.Float64);

    [Fact]
    public void Kl_at_temperature_t_equals_the_hand_computation()
    {
        // Row 0: s/T = [0.5, 1, 1.5], t/T = [1.5, 1, 0.5]: the teacher's distribution is the student's reversed,
        // the middle terms vanish and log(p_hi / p_lo) = 1.5 - 0.5 = 1, so KL = p_hi - p_lo.
        using var s0 = Logits(new double[,] { { 1, 2, 3 } });
        using var t0 = Logits(new double[,] { { 3, 2, 1 } });
        double z = Math.Exp(0.5) + Math.Exp(1) + Math.Exp(1.5);
        double expected0 = (Math.Exp(1.5) - Math.Exp(0.5)) / z;
        using (var kl = Distillation.Kl(s0, t0, 2.0))
            Assert.Equal(expected0, kl.item<double>(), 12);

        // Two rows, batch mean: 0.19419603689641232 (computed with math.exp / math.log in Python, double precision)
        using var s = Logits(new double[,] { { 1, 2, 3 }, { 0.5, -1, 0 } });
        using var t = Logits(new double[,] { { 3, 2, 1 }, { 1, 0, -1 } });
        using (var kl = Distillation.Kl(s, t, 2.0))
            Assert.Equal(0.19419603689641232, kl.item<double>(), 12);
        // the same outputs: zero; T = 1 differs from T = 2
        using (var same = Distillation.Kl(s, s, 3.0)) Assert.Equal(0.0, same.item<double>(), 12);
        using (var one = Distillation.Kl(s, t, 1.0)) Assert.NotEqual(0.19419603689641232, one.item<double>(), 6);
    }

    [Fact]
    public void Student_loss_mixes_ce_and_t_squared_kl_by_the_weight()
    {
        using var s = Logits(new double[,] { { 1, 2, 3 }, { 0.5, -1, 0 } });
        using var t = Logits(new double[,] { { 3, 2, 1 }, { 1, 0, -1 } });
        using var y = tensor(new long[] { 2, 0 });
        using var ce = nn.functional.cross_entropy(s, y);
        double c = ce.item<double>();
        const double kl = 0.19419603689641232;
        foreach (double w in new[] { 0.0, 0.3, 1.0 })
        {
            var (loss, k) = Distillation.StudentLoss(ce, s, t, w, 2.0);
            using (loss)
            using (k)
            {
                Assert.Equal((1 - w) * c + w * 4 * kl, loss.item<double>(), 12);
                Assert.Equal(kl, k.item<double>(), 12);
            }
        }
    }

    [Fact]
    public void The_gradient_matches_finite_differences_and_the_teacher_gets_none()
    {
        const double w = 0.6, T = 3.0;
        double[,] sv = { { 0.2, -1.3, 2.1, 0.4 }, { 1.5, 0.1, -0.7, 0.0 }, { -0.3, 0.8, 0.3, -2.0 } };
        double[,] tv = { { 1.0, 0.5, -0.5, 2.0 }, { -1.0, 2.5, 0.0, 0.3 }, { 0.6, 0.6, -1.2, 1.1 } };
        using var y = tensor(new long[] { 2, 0, 3 });
        double Loss(double[,] v)
        {
            using var scope = NewDisposeScope();
            var st = Logits(v);
            var (loss, _) = Distillation.StudentLoss(nn.functional.cross_entropy(st, y), st, Logits(tv), w, T);
            return loss.item<double>();
        }
        using var student = Logits(sv).requires_grad_(true);
        using var teacher = Logits(tv).requires_grad_(true);
        var (total, kl) = Distillation.StudentLoss(nn.functional.cross_entropy(student, y), student, teacher, w, T);
        total.backward();
        var grad = student.grad!.data<double>().ToArray();
        Assert.Null(teacher.grad);   // detached: the teacher learns from its own CE only

        const double h = 1e-6;
        double dot = 0, gn = 0, fn = 0;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
            {
                var plus = (double[,])sv.Clone();
                var minus = (double[,])sv.Clone();
                plus[i, j] += h;
                minus[i, j] -= h;
                double fd = (Loss(plus) - Loss(minus)) / (2 * h);
                Assert.Equal(fd, grad[i * 4 + j], 7);
                dot += fd * grad[i * 4 + j];
                gn += grad[i * 4 + j] * grad[i * 4 + j];
                fn += fd * fd;
            }
        Assert.True(dot / Math.Sqrt(gn * fn) > 0.999999, "the gradient points along the finite differences");

        // the soft term's gradient alone is w T (softmax(s/T) - softmax(t/T)) / N (the T^2 of the Hinton form cancels one 1/T)
        using var s2 = Logits(sv).requires_grad_(true);
        using var k2 = Distillation.Kl(s2, Logits(tv), T);
        (k2 * (w * T * T)).backward();
        using var ps = nn.functional.softmax(Logits(sv) / T, 1);
        using var pt = nn.functional.softmax(Logits(tv) / T, 1);
        using var expected = (ps - pt) * (w * T / 3);
        Assert.True(s2.grad!.allclose(expected, rtol: 1e-10, atol: 1e-12));
        total.Dispose();
        kl.Dispose();
    }

    [Fact]
    public void Plan_orders_high_to_low_and_names_each_teacher()
    {
        static DistillStep S(Bits b, Bits? teacher = null) => new(b, teacher);
        Bits[] list = [8, 6, 5, 4];
        Assert.Equal(list.Select(b => S(b)), Distillation.Plan(list, "none"));
        Assert.Equal(new[] { S(8), S(6, 8), S(5, 8), S(4, 8) }, Distillation.Plan(list, "highest"));
        Assert.Equal(new[] { S(8), S(6, 8), S(5, 6), S(4, 5) }, Distillation.Plan(list, "recursive"));
        Bits[] withFp = [4, 32, 8];   // an ascending or mixed list runs high to low so that teachers come first
        Assert.Equal(new[] { S(32), S(8, 32), S(4, 32) }, Distillation.Plan(withFp, "fp"));
        Assert.Equal(new[] { S(32), S(8, 32), S(4, 8) }, Distillation.Plan(withFp, "recursive"));
        Bits b88 = new(8, 8), b48 = new(4, 8), b44 = new(4, 4);
        Assert.Equal(new[] { S(b88), S(b48, b88), S(b44, b48) }, Distillation.Plan([b44, b88, b48], "recursive"));
        Assert.Throws<ArgumentException>(() => Distillation.Plan(list, "fp"));
    }
}
