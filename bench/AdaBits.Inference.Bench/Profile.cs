using System.Diagnostics;
using AdaBits.Inference;

/// <summary>Per-layer time at a few bit-widths, with and without the epilogue, rounds interleaved.</summary>
static class Profile
{
    public static void Run(string model, int batch, int rounds, int[] bits, EngineOptions options)
    {
        int[] all = [8, 6, 5, 4, 3, 2];
        var m = new InferenceModel(RandomModels.Build(model, all), options);
        using var s = m.CreateSession(batch);
        var images = new float[batch * m.InputsPerImage];
        var rng = new Random(1);
        for (int i = 0; i < images.Length; i++) images[i] = (float)rng.NextDouble();
        var logits = new float[batch * m.OutputsPerImage];
        int L = m.Layers.Length;
        var runs = bits.SelectMany(b => new[] { (b, false), (b, true) }).ToArray();
        var samples = runs.ToDictionary(r => r, _ => new List<long[]>());
        foreach (var r in runs) { s.SetBits(r.Item1); s.SkipEpilogue = r.Item2; s.RunTimed(images, logits, new long[L]); }
        for (int k = 0; k < rounds; k++)
            foreach (var r in runs)
            {
                s.SetBits(r.Item1); s.SkipEpilogue = r.Item2;
                var t = new long[L];
                s.RunTimed(images, logits, t);
                samples[r].Add(t);
            }
        double Med(List<long[]> v, int i) { var a = v.Select(x => (double)x[i]).OrderBy(x => x).ToArray(); return a[a.Length / 2] * 1000.0 / Stopwatch.Frequency; }
        // the fastest round of each layer: a neighbour on a shared host only ever adds time, so the sum of
        // minima compares two builds better than the medians do when the host is noisy
        double Min(List<long[]> v, int i) => v.Min(x => x[i]) * 1000.0 / Stopwatch.Frequency;
        Console.WriteLine($"{model} batch {batch}: per-layer median ms (full / dot-only) at bits {string.Join(",", bits)}");
        var tot = runs.ToDictionary(r => r, _ => 0.0);
        for (int i = 0; i < L; i++)
        {
            var l = m.Layers[i];
            var cells = string.Join("  ", bits.Select(b => $"{Med(samples[(b, false)], i),7:F3}/{Med(samples[(b, true)], i),7:F3}"));
            foreach (var r in runs) tot[r] += Med(samples[r], i);
            Console.WriteLine($"{l.Spec.Name,-28} {l.GetType().Name[..5]} {l.In.Shape.C,4}->{l.Out.Shape.C,4} {l.Out.Shape.H,3}x{l.Out.Shape.W,-3} {cells}  {string.Join(" ", bits.Select(b => l.PathAt(Array.IndexOf(all, b))))}");
        }
        Console.WriteLine($"{"total",-58} {string.Join("  ", bits.Select(b => $"{tot[(b, false)],7:F3}/{tot[(b, true)],7:F3}"))}");
        string MinTotal(int b, bool dotOnly) => $"{Enumerable.Range(0, L).Sum(i => Min(samples[(b, dotOnly)], i)),7:F3}";
        Console.WriteLine($"{"total of per-layer minima",-58} {string.Join("  ", bits.Select(b => $"{MinTotal(b, false)}/{MinTotal(b, true)}"))}");
    }
}
