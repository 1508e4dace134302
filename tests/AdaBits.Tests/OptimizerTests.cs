using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Tests;

public class OptimizerTests
{
    static Parameter P(params float[] v) => new(tensor(v));

    static void SetGrad(Parameter p, params float[] g)
    {
        using var _ = enable_grad();
        using var loss = (p * tensor(g)).sum();
        p.grad?.zero_();
        loss.backward();
    }

    [Fact]
    public void Sgd_nesterov_with_weight_decay_matches_pytorch_formulas_over_two_steps()
    {
        var p = P(1f, -2f);
        double lr = 0.1, mu = 0.9, wd = 0.01;
        using var opt = new Sgd([p], lr, mu, nesterov: true, _ => wd);
        double[] x = [1, -2], buf = [0, 0];
        float[][] grads = [[0.5f, 1f], [-0.25f, 2f]];
        for (int step = 0; step < 2; step++)
        {
            SetGrad(p, grads[step]);
            opt.Step();
            for (int i = 0; i < 2; i++)
            {
                double d = grads[step][i] + wd * x[i];
                buf[i] = step == 0 ? d : mu * buf[i] + d;
                x[i] -= lr * (d + mu * buf[i]);
            }
            var got = Ref.D(p);
            Assert.Equal(x[0], got[0], 6);
            Assert.Equal(x[1], got[1], 6);
        }
    }

    [Fact]
    public void Sgd_without_nesterov_steps_along_the_buffer_and_skips_parameters_without_gradient()
    {
        var p = P(1f);
        var untouched = P(3f);
        using var opt = new Sgd([p, untouched], 0.5, 0.5, nesterov: false, _ => 0);
        SetGrad(p, 2f);
        opt.Step();
        SetGrad(p, 2f);
        opt.Step();
        // buf1 = 2, x = 1 - 0.5*2 = 0; buf2 = 0.5*2 + 2 = 3, x = 0 - 1.5 = -1.5
        Assert.Equal(-1.5, Ref.D(p)[0], 6);
        Assert.Equal(3.0, Ref.D(untouched)[0], 6);
    }

    [Fact]
    public void RmsProp_matches_pytorch_formula()
    {
        var p = P(1f);
        double lr = 0.01, a = 0.9, eps = 1e-3, mu = 0.5;
        using var opt = new RmsProp([p], lr, a, eps, mu, 0);
        double x = 1, v = 0, buf = 0;
        foreach (float g in new[] { 0.5f, -1f })
        {
            SetGrad(p, g);
            opt.Step();
            v = a * v + (1 - a) * g * g;
            buf = mu * buf + g / (Math.Sqrt(v) + eps);
            x -= lr * buf;
            Assert.Equal(x, Ref.D(p)[0], 6);
        }
    }

    [Fact]
    public void Weight_decay_groups_follow_the_reference()
    {
        var opts = new QuantOptions { BitsList = [4, 2], SwitchAlpha = true };
        using var model = new QResNetCifar(opts, 20);
        var named = model.named_parameters().ToList();
        using var opt = new Sgd(named.Select(p => p.parameter), 0.1, 0.9, true, p => Optimizer.ReferenceWeightDecay(p, 4e-5));
        var decay = named.Select((p, i) => (p.name, wd: opt.WeightDecayPerParameter[i])).ToDictionary(p => p.name, p => p.wd);
        Assert.Equal(4e-5, decay["head.0.weight"]);                  // 4-D, 3 input channels
        Assert.Equal(4e-5, decay["stage_0_layer_0.body.0.weight"]);
        Assert.Equal(4e-5, decay["classifier.0.weight"]);            // 2-D
        Assert.Equal(0, decay["classifier.0.bias"]);
        Assert.Equal(0, decay["head.0.alpha"]);
        Assert.Equal(0, decay["head.1.bn.0.weight"]);
        Assert.Equal(0, decay["stage_0_layer_0.body.1.bn.1.bias"]);
        using var depthwise = zeros(8, 1, 3, 3);
        Assert.Equal(0, Optimizer.ReferenceWeightDecay(depthwise, 4e-5));
    }

    [Fact]
    public void Optimizer_state_round_trips_through_its_state_dict()
    {
        var p = P(1f, 2f);
        using var a = new Sgd([p], 0.1, 0.9, true, _ => 0);
        SetGrad(p, 1f, -1f);
        a.Step();
        var q = P(1f, 2f);
        using var b = new Sgd([q], 0.1, 0.9, true, _ => 0);
        b.LoadStateDict(a.StateDict(), "test");
        SetGrad(p, 0.5f, 0.5f);
        SetGrad(q, 0.5f, 0.5f);
        using (no_grad()) q.copy_(p);
        a.Step();
        b.Step();
        Assert.Equal(Ref.D(p), Ref.D(q));
    }
}
