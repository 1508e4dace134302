using AdaBits.Config;
using AdaBits.Profiling;
using AdaBits.Training;

namespace AdaBits.Tests;

/// <summary>Every shipped config under apps/ loads and builds its model.</summary>
public class AppsTests
{
    public static TheoryData<string> Configs()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(Mnist.RepoRoot(), "apps"), "*.yml", SearchOption.AllDirectories).Order())
            data.Add(Path.GetRelativePath(Mnist.RepoRoot(), f));
        return data;
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void Shipped_config_loads_and_builds_its_model(string relative)
    {
        var warnings = new List<string>();
        var config = ConfigLoader.Load(["app:" + Path.Combine(Mnist.RepoRoot(), relative)], warnings.Add);
        Assert.All(warnings, w => Assert.Contains("ignored", w));
        Assert.NotEmpty(config.Quant.BitsList);
        var (channels, _) = ProfileInput.FromConfig(config);
        using var model = ModelFactory.Create(config, channels, config.NumClasses ?? 10);
        Assert.NotEmpty(model.parameters());
    }

    [Fact]
    public void The_main_job_config_is_the_documented_one()
    {
        var c = ConfigLoader.Load(["app:" + Path.Combine(Mnist.RepoRoot(), "apps", "mnist", "adabits.yml")]);
        Assert.Equal("[8, 6, 5, 4]", Modules.Bits.ListToString(c.Quant.BitsList));
        Assert.True(c.AdaptiveTraining && c.Quant.SwitchBn && c.Quant.SwitchAlpha && c.Quant.Rescale && c.Quant.Clamp);
        Assert.Equal("models.q_mnist_cnn", c.Model);
        Assert.Equal("MNIST", c.Dataset);
        Assert.Equal(Models.InitScheme.SatScale, c.Init);
    }

    [Fact]
    public void The_fashion_resnet20_config_trains_down_to_2_bits_with_centered_weights()
    {
        var c = ConfigLoader.Load(["app:" + Path.Combine(Mnist.RepoRoot(), "apps", "fashion_mnist", "resnet20_8to2.yml")]);
        Assert.Equal("[8, 6, 5, 4, 3, 2]", Modules.Bits.ListToString(c.Quant.BitsList));
        Assert.Equal(Quantization.QuantScheme.Centered, c.Quant.WeightScheme);
        Assert.Equal("models.q_resnet_cifar", c.Model);
        Assert.Equal(20, c.Depth);
        Assert.Equal(Models.InitScheme.SatScale, c.Init);
        Assert.True(c.AdaptiveTraining && c.Quant.SwitchBn && c.Quant.SwitchAlpha);
        Assert.Equal((2, 3), (c.FpPretrainEpochs, c.NumEpochs));   // two-stage: two full-precision epochs, then three joint ones
        Assert.Equal("highest", c.Distill);
        Assert.Equal("mse", c.AlphaInit);
    }
}
