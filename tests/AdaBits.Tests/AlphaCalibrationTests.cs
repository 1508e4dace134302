using AdaBits.Config;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Quantization;
using AdaBits.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// alpha_init: mse. The search against the squared error computed by hand from PACT's formula; the calibration
/// of a model (each bit-width's level is the search on the input that layer sees, nothing else changes); the
/// config rule.
/// </summary>
public class AlphaCalibrationTests
{
    /// <summary>Mean over x of (y - relu(x))^2, y = c q(min(relu(x), c) / c) with the `original` q (§2.4), in double.</summary>
    static double HandError(double[] x, double c, int bits) =>
        x.Average(v =>
        {
            double r = Math.Max(v, 0);
            double y = c * Ref.Q(Math.Min(r, c) / c, bits, QuantScheme.Original);
            return (y - r) * (y - r);
        });

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void Search_returns_the_candidate_with_the_least_hand_computed_error(int bits)
    {
        manual_seed(5);
        using var x = randn(4000);   // half of it negative: single-sided PACT approximates relu(x)
        var values = Ref.D(x);
        var spec = new PactSpec(false, true, QuantScheme.Original, bits);
        float? level = ClipSearch.MinimumMse(x, spec, PactQuantizer.Instance);
        Assert.NotNull(level);
        double max = values.Max();
        var errors = Enumerable.Range(1, ClipSearch.Candidates).Select(k => HandError(values, (float)(max * k / ClipSearch.Candidates), bits)).ToArray();
        // float and double sums may order two near-equal candidates differently: the pick must be within 1e-5 of the best
        Assert.True(HandError(values, level!.Value, bits) <= errors.Min() * (1 + 1e-5), $"{bits} bits: level {level} is not the least-error candidate");
        Assert.InRange(level.Value, max / ClipSearch.Candidates * 0.999, max * 1.0001);
    }

    [Fact]
    public void Fewer_bits_clip_lower_and_inputs_without_positive_values_give_no_level()
    {
        manual_seed(6);
        using var x = randn(4000).abs_();
        float Level(int b) => ClipSearch.MinimumMse(x, new PactSpec(false, true, QuantScheme.Original, b), PactQuantizer.Instance)!.Value;
        var levels = new[] { 8, 4, 3, 2 }.Select(Level).ToArray();
        for (int i = 1; i < levels.Length; i++) Assert.True(levels[i] < levels[i - 1], string.Join(", ", levels));
        using var negative = x.neg();
        Assert.Null(ClipSearch.MinimumMse(negative, new PactSpec(false, true, QuantScheme.Original, 2), PactQuantizer.Instance));
    }

    [Fact]
    public void Calibration_sets_each_bit_widths_level_to_the_search_on_the_input_the_layer_sees_and_changes_nothing_else()
    {
        Bits[] bitsList = [8, 4, 2];
        manual_seed(9);
        using var model = new QResNetCifar(new QuantOptions { BitsList = bitsList, SwitchAlpha = true }, 20, numClasses: 10, inChannels: 1);
        model.eval();
        model.SetBits(4);
        using var input = rand(8, 1, 28, 28).mul_(255);
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

        var lines = AlphaCalibration.Run(model, bitsList, input);

        Assert.Equal(3, lines.Count);
        Assert.False(model.training);
        Assert.All(model.modules().OfType<QuantizedLayer>(), l => Assert.Equal(new Bits(4), l.Bits));
        foreach (var (key, value) in model.state_dict())
            if (!key.EndsWith(".alpha")) Assert.True(value.eq(before[key]).all().item<bool>(), $"{key} changed");

        // the same forward again, observing instead of setting: every quantized input's search gives the stored level
        var layers = model.modules().OfType<QuantizedLayer>().ToList();
        var mean = new Dictionary<Bits, double>();
        model.train();
        using (no_grad())
        using (FusionSuppression.Enter())
            foreach (var bits in bitsList)
            {
                model.SetBits(bits);
                var restore = NonFiniteGuard.SnapshotBuffers(model);
                var seen = new List<(QuantizedLayer Layer, float Level)>();
                foreach (var layer in layers)
                    layer.ClipCalibration = (x, spec) =>
                    {
                        seen.Add((layer, ClipSearch.MinimumMse(x, spec, PactQuantizer.Instance)!.Value));
                        return null;
                    };
                using (var y = model.call(input)) { }
                restore();
                int index = bitsList.ToList().IndexOf(bits);
                Assert.Equal(layers.Count(l => l.EffectiveBits().Bita < 32), seen.Count);
                foreach (var (layer, level) in seen)
                    Assert.Equal(level, layer.alpha[index].item<float>());
                mean[bits] = seen.Average(s => s.Level);
                foreach (var layer in layers) layer.ClipCalibration = null;
            }
        Assert.True(mean[2] < mean[4] && mean[4] < mean[8], $"mean levels 8: {mean[8]}, 4: {mean[4]}, 2: {mean[2]}");
    }

    [Fact]
    public void Mse_with_one_shared_level_for_several_bit_widths_is_a_one_line_error_naming_the_key()
    {
        const string yaml = TwoStageTests.Minimal;
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.FromYamlText(yaml, "apps/x.yml", ["alpha_init=mse"], _ => { }));
        Assert.Equal("override 'alpha_init=mse': key 'alpha_init' 'mse' sets one clipping level per bit-width: it needs switch_alpha: True with bits_list [8, 4]", e.Message);
        var mse = ConfigLoader.FromYamlText(yaml, "apps/x.yml", ["alpha_init=mse", "switch_alpha=True"], _ => { });
        var reference = ConfigLoader.FromYamlText(yaml, "apps/x.yml", ["switch_alpha=True"], _ => { });
        Assert.Equal(("mse", "reference"), (mse.AlphaInit, reference.AlphaInit));
        // a run that starts from other levels is another experiment: its own run folder, the reference's unchanged
        Assert.Equal(reference.ExperimentSetting + Path.DirectorySeparatorChar + "alpha_init_mse", mse.ExperimentSetting);
        Assert.EndsWith("pact_fp_False", reference.ExperimentSetting);
        Assert.Contains("alpha_init", Assert.Throws<ConfigException>(() => ConfigLoader.FromYamlText(yaml, "apps/x.yml", ["alpha_init=max"], _ => { })).Message);
    }
}
