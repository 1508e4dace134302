using AdaBits.Inference;
foreach (var name in RandomModels.Names)
{
    var spec = RandomModels.Build(name, [8, 6, 5, 4]);
    string f = $"/tmp/i13/{name}.abits";
    ArtifactFile.Write(spec, f);
    var b = File.ReadAllBytes(f);
    long w = spec.Layers.Where(l => l.Op != LayerOp.GlobalAvgPool).Sum(l => (long)l.WeightCount);
    long ch = spec.Layers.Where(l => l.Op != LayerOp.GlobalAvgPool).Sum(l => (long)l.OutChannels);
    long meta = BitConverter.ToInt64(b, 16 + 16);
    Console.WriteLine($"{name}: file {b.Length} weights {w} channels {ch} meta {meta} ratio {b.Length / (double)w:F3} vs w+1bn {b.Length / (double)(w + 8 * ch):F3}");
}
