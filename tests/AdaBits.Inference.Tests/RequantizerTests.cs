using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using AdaBits.Inference;

namespace AdaBits.Inference.Tests;

/// <summary>The vectorised quantizer against the reference function, on random values and at every threshold
/// and its float neighbours (where a reciprocal or a misplaced threshold would first go wrong).</summary>
public class RequantizerTests
{
    public static TheoryData<QuantScheme, bool, int> Cases()
    {
        var d = new TheoryData<QuantScheme, bool, int>();
        foreach (var s in Enum.GetValues<QuantScheme>())
            foreach (bool ds in new[] { false, true })
                foreach (int b in new[] { 8, 6, 5, 4, 3, 2 })
                    d.Add(s, ds, b);
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Codes_equal_the_reference_quantizer(QuantScheme scheme, bool doubleSided, int bits)
    {
        var rng = new Random(bits * 7 + (doubleSided ? 1 : 0) + (int)scheme * 31);
        foreach (float alpha in new[] { 1f, 2.7183f, 5.9f, 0.37f, -3.1f })
        {
            var q = new Requantizer(new ActivationSpec(scheme, doubleSided, [alpha], [bits]), 0);
            var ys = new List<float> { 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, alpha, -alpha, 1e-30f, -1e-30f, 1e30f };
            foreach (float t in q.Thresholds) { ys.Add(t); ys.Add(MathF.BitDecrement(t)); ys.Add(MathF.BitIncrement(t)); }
            for (int i = 0; i < 4000; i++) ys.Add((float)((rng.NextDouble() * 2.4 - 1.2) * Math.Abs(alpha)));
            Assert.Equal((1 << bits) - 1, q.Thresholds.Length);
            foreach (float y in ys) Assert.Equal(q.Code(y), q.CodeByThresholds(y));
            if (!Avx512F.IsSupported) continue;
            while (ys.Count % 16 != 0) ys.Add(0);
            for (int i = 0; i < ys.Count; i += 16)
            {
                var k = q.Codes(Vector512.Create(ys.GetRange(i, 16).ToArray()));
                for (int j = 0; j < 16; j++) Assert.True(q.Code(ys[i + j]) == k[j], $"alpha {alpha}, y {ys[i + j]:R}: {k[j]} != {q.Code(ys[i + j])}");
            }
        }
    }
}
