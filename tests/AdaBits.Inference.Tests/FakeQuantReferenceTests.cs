using AdaBits.Inference;

namespace AdaBits.Inference.Tests;

/// <summary>
/// The engine against a float implementation of the fake-quant forward written here from the spec:
/// dequantized weights s (2 q - 1) x dequantized activations alpha q, float sums, (y + bias / s) x BN
/// scale + shift, + residual, ReLU, then the next PACT quantizer with the scheme's rounding. Each layer is
/// recomputed from the engine's own input codes, so a flip does not propagate; flips (a value that lands
/// on the other side of a quantizer boundary because the float sum is ordered differently) are counted
/// and bounded.
/// </summary>
public class FakeQuantReferenceTests
{
    static float Dequant(int k, float alpha, int bits, QuantScheme scheme, bool ds)
    {
        alpha = MathF.Abs(alpha);
        float q = scheme switch
        {
            QuantScheme.Original => k / (float)((1 << bits) - 1),
            QuantScheme.Modified => k / (float)(1 << bits),
            _ => (k + 0.5f) / (1 << bits),
        };
        return ds ? alpha * (2 * q - 1) : alpha * q;
    }

    static float WeightValue(LayerSpec l, int slot, int index)
    {
        int b = l.WeightBits[slot], top = l.WeightBits.Max();
        int k = QuantMath.Nested(l.WeightScheme) ? l.WeightLevels[top][index] >> (top - b) : l.WeightLevels[b][index];
        return l.SatScale[slot] * (2 * Dequant(k, 1, b, l.WeightScheme, false) - 1);
    }

    sealed record Counts(int Compared, int Flips, int MaxFlip, int Distinct, double MaxFloatError);

    static Counts Compare(ModelSpec spec, int bits, int batch)
    {
        var model = new InferenceModel(spec, new EngineOptions { Threads = 2, ParallelThresholdMacs = 0, ColdAloneMacs = 0, KeepTensors = true });
        using var session = model.CreateSession(batch);
        session.SetBits(bits);
        int slot = Array.IndexOf(spec.BitsList, bits);
        var images = TestNets.Images(batch, spec.InputChannels, spec.InputHeight, spec.InputWidth);
        var logits = new float[batch * model.OutputsPerImage];
        session.Run(images, logits);
        int compared = 0, flips = 0, maxFlip = 0;
        double maxFloat = 0;
        var seen = new HashSet<int>();

        float InputValue(LayerSpec l, int n, int ih, int iw, int ci)
        {
            var t = model.Tensors[l.Input];
            if (l.InputQuant is null)
                return l.Input == 0 ? images[((n * t.Shape.C + ci) * t.Shape.H + ih) * t.Shape.W + iw]
                    : session.FloatsOf(l.Input)[((n * t.Shape.H + ih) * t.Shape.W + iw) * t.Shape.C + ci];
            var v = t.Views.First(v => CodeView.SameQuantizer(v.Quant, l.InputQuant));
            int k = session.CodesOf(v.Index)[(int)(n * v.ImageBytes + ((ih + v.PadH) * v.Wp + iw + v.PadW) * v.Cp + ci)];
            return Dequant(k, l.InputQuant.Alpha[slot], l.InputQuant.Bits[slot], l.InputQuant.Scheme, l.InputQuant.DoubleSided);
        }

        foreach (var l in spec.Layers)
        {
            var o = model.Tensors[l.Output].Shape;
            var i = model.Tensors[l.Input].Shape;
            for (int n = 0; n < batch; n++)
                for (int oh = 0; oh < o.H; oh++)
                    for (int ow = 0; ow < o.W; ow++)
                        for (int co = 0; co < o.C; co++)
                        {
                            float y;
                            if (l.Op == LayerOp.GlobalAvgPool)
                            {
                                var x = session.FloatsOf(l.Input);
                                float s = 0;
                                for (int p = 0; p < i.H * i.W; p++) s += x[(n * i.H * i.W + p) * i.C + co];
                                y = s / (i.H * i.W);
                            }
                            else
                            {
                                int cpg = l.InChannels / l.Groups, c0 = l.Groups == 1 ? 0 : co;
                                float s = 0;
                                for (int ci = 0; ci < cpg; ci++)
                                    for (int kh = 0; kh < l.KernelH; kh++)
                                        for (int kw = 0; kw < l.KernelW; kw++)
                                        {
                                            int ih = oh * l.StrideH - l.PadH + kh, iw = ow * l.StrideW - l.PadW + kw;
                                            if (ih < 0 || iw < 0 || ih >= i.H || iw >= i.W) continue;
                                            s += InputValue(l, n, ih, iw, c0 + ci) * WeightValue(l, slot, ((co * cpg + ci) * l.KernelH + kh) * l.KernelW + kw);
                                        }
                                if (l.Bias is not null) s += l.Bias[co] / (l.BiasDivisor?[slot] ?? 1f);
                                y = l.BnScale is null ? s : s * l.BnScale[slot][co] + l.BnShift![slot][co];
                                if (l.Residual >= 0) y += session.FloatsOf(l.Residual)[((n * o.H + oh) * o.W + ow) * o.C + co];
                                if (l.Relu && y < 0) y = 0;
                            }
                            var t = model.Tensors[l.Output];
                            if (t.NeedFloat)
                            {
                                float e = session.FloatsOf(l.Output)[((n * o.H + oh) * o.W + ow) * o.C + co];
                                maxFloat = Math.Max(maxFloat, Math.Abs(e - y) / (1 + Math.Abs(y)));
                            }
                            foreach (var v in t.Views)
                            {
                                int expected = QuantMath.ActivationCode(y, v.Quant.Alpha[slot], v.Quant.Bits[slot], v.Quant.Scheme, v.Quant.DoubleSided);
                                int got = session.CodesOf(v.Index)[(int)(n * v.ImageBytes + ((oh + v.PadH) * v.Wp + ow + v.PadW) * v.Cp + co)];
                                compared++;
                                seen.Add(got);
                                if (got != expected) { flips++; maxFlip = Math.Max(maxFlip, Math.Abs(got - expected)); }
                            }
                        }
        }
        return new Counts(compared, flips, maxFlip, seen.Count, maxFloat);
    }

    [Theory]
    [InlineData(QuantScheme.Modified, QuantScheme.Original)]
    [InlineData(QuantScheme.Centered, QuantScheme.Centered)]
    [InlineData(QuantScheme.Original, QuantScheme.Modified)]
    [InlineData(QuantScheme.Centered, QuantScheme.Original)]
    public void Every_layer_matches_the_float_fake_quant_math_up_to_bounded_flips(QuantScheme w, QuantScheme a)
    {
        int[] bits = [8, 6, 5, 4, 3, 2];
        foreach (int b in bits)
        {
            var c = Compare(TestNets.Small(w, a, bits), b, 2);
            Assert.True(c.Compared > 5000, $"{c}");
            Assert.True(c.Distinct >= Math.Min(1 << b, 8), $"{b} bits: codes are degenerate: {c}");
            Assert.True(c.MaxFlip <= 1, $"{b} bits: {c}");
            Assert.True(c.Flips <= 2 + c.Compared / 500, $"{b} bits: {c}");
            Assert.True(c.MaxFloatError < 1e-4, $"{b} bits: {c}");
        }
    }

    [Fact]
    public void Random_resnet20_matches_the_float_fake_quant_math()
    {
        var spec = RandomModels.Build("resnet20", [8, 4, 2], seed: 5, QuantScheme.Centered, QuantScheme.Centered);
        foreach (int b in new[] { 8, 4, 2 })
        {
            var c = Compare(spec, b, 1);
            Assert.True(c.MaxFlip <= 1 && c.Flips <= 2 + c.Compared / 500 && c.MaxFloatError < 1e-4, $"{b} bits: {c}");
            Assert.True(c.Distinct >= 4, $"{c}");
        }
    }
}
