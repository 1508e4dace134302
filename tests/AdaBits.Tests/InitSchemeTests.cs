using AdaBits.Config;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>The <c>init</c> key: reference (§4.5 exactly) and sat_scale (the classifier's latent weights at SAT's target scale).</summary>
public class InitSchemeTests
{
    static readonly QuantOptions Joint = new() { BitsList = [8, 6, 5, 4] };

    static Dictionary<string, Tensor> State(nn.Module m) =>
        m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    static double Std(Tensor t) => t.detach().std().item<float>();

    [Fact]
    public void Reference_IsTheReferenceResetParameters()
    {
        torch.manual_seed(7);
        using var a = new QResNetCifar(Joint, 20, init: InitScheme.Reference);
        torch.manual_seed(7);
        using var b = new QResNetCifar(Joint, 20, resetParameters: false);
        Initialization.ResetParameters(b);
        var sa = State(a);
        var sb = State(b);
        Assert.Equal(sb.Keys, sa.Keys);
        foreach (var (key, value) in sb) Assert.True(value.eq(sa[key]).all().item<bool>(), key);
        Assert.InRange(Std(sa["classifier.0.weight"]), 0.0085, 0.0115); // N(0, 0.01), 640 draws
    }

    [Fact]
    public void SatScale_ChangesOnlyTheClassifierWeight_ToStdOneOverSqrtOutFeatures()
    {
        torch.manual_seed(11);
        using var reference = new QResNetCifar(Joint, 20, numClasses: 10, inChannels: 1, init: InitScheme.Reference);
        torch.manual_seed(11);
        using var sat = new QResNetCifar(Joint, 20, numClasses: 10, inChannels: 1, init: InitScheme.SatScale);
        var r = State(reference);
        var s = State(sat);
        Assert.Equal(r.Keys, s.Keys);
        foreach (var (key, value) in r)
            if (key != "classifier.0.weight") Assert.True(value.eq(s[key]).all().item<bool>(), key);
        var w = s["classifier.0.weight"];
        Assert.Equal(1 / Math.Sqrt(10), Initialization.SatScaleStd((QLinear)sat.named_modules().Single(m => m.name == "classifier.0").module), 12);
        Assert.InRange(Std(w), 0.85 / Math.Sqrt(10), 1.15 / Math.Sqrt(10)); // 640 draws: the standard error is 3 %
        Assert.InRange(w.mean().item<float>(), -0.05, 0.05);
        Assert.True(s["classifier.0.bias"].eq(0).all().item<bool>());
    }

    [Fact]
    public void SatScale_OnMobileNetV2_FollowsTheClassCount()
    {
        torch.manual_seed(3);
        using var m = new QMobileNetV2(Joint, numClasses: 100, inChannels: 3, widthMult: 0.25, init: InitScheme.SatScale);
        var w = State(m)["classifier.0.weight"];
        Assert.InRange(Std(w), 0.98 * 0.1, 1.02 * 0.1); // 1/sqrt(100), 32,000 draws
    }

    [Fact]
    public void Default_IsSatScale_AndTheFactoryPassesTheKey()
    {
        Assert.Equal(InitScheme.SatScale, InitSchemes.Default);
        foreach (var (scheme, std) in new[] { (InitScheme.Reference, 0.01), (InitScheme.SatScale, 1 / Math.Sqrt(10)) })
        {
            var config = new TrainConfig { Model = "models.q_resnet_cifar", Depth = 20, Quant = new() { BitsList = [8, 4] }, Init = scheme };
            torch.manual_seed(5);
            using var model = ModelFactory.Create(config, 1, 10);
            Assert.InRange(Std(State(model)["classifier.0.weight"]), 0.85 * std, 1.15 * std);
        }
    }

    static TrainConfig Load(params string[] overrides) => ConfigLoader.FromYamlText("""
        batch_size: 64
        dataset: MNIST
        log_dir: ./results
        model: models.q_resnet_cifar
        depth: 20
        optimizer: sgd
        lr: 0.05
        lr_scheduler: cos_annealing_iter
        num_epochs: 1
        bits_list: [8, 4]
        """, "apps/x.yml", overrides, _ => { });

    [Fact]
    public void Config_ReadsInit_DefaultsToSatScale_AndWritesItBack()
    {
        Assert.Equal(InitScheme.SatScale, Load().Init);
        var reference = Load("init=reference");
        Assert.Equal(InitScheme.Reference, reference.Init);
        Assert.Contains("init: reference", reference.ToYaml());
        Assert.Equal(reference, ConfigLoader.FromYamlText(reference.ToYaml(), "apps/y.yml", [], _ => { }));
    }

    [Theory]
    [InlineData("init=he", "key 'init' must be one of reference, sat_scale, got 'he'")]
    [InlineData("init=3", "key 'init' expects a string, got 3")]
    public void Config_RejectsBadInit(string overrideArg, string message)
    {
        var e = Assert.Throws<ConfigException>(() => Load(overrideArg));
        Assert.Contains(message, e.Message);
    }
}
