using System.Buffers.Binary;
using AdaBits.Inference;

namespace AdaBits.Inference.Tests;

public sealed class ArtifactFileTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("abits-").FullName;
    public void Dispose() => Directory.Delete(dir, recursive: true);

    string Path(string name) => System.IO.Path.Combine(dir, name);

    [Theory]
    [InlineData(QuantScheme.Modified)]
    [InlineData(QuantScheme.Original)]
    public void Round_trip_gives_the_same_logits_at_every_bit_width(QuantScheme scheme)
    {
        int[] bits = [8, 6, 5, 4];
        var spec = TestNets.Small(scheme, QuantScheme.Centered, bits);
        string file = Path("m.abits");
        ArtifactFile.Write(spec, file);
        Assert.False(File.Exists(file + ".tmp"));
        var back = ArtifactFile.Read(file);
        var images = TestNets.Images(2, 3, 13, 11);
        var a = new InferenceModel(spec);
        var b = InferenceModel.Load(file);
        foreach (int bw in bits) Assert.Equal(TestNets.Run(a, bw, images, 2), TestNets.Run(b, bw, images, 2));
        var storage = ArtifactFile.WeightStorage(back);
        Assert.All(storage, s => Assert.Equal(scheme == QuantScheme.Original ? "per_bit" : "nested", s.Storage));
        if (scheme == QuantScheme.Original) Assert.Equal([8, 6, 5, 4], storage[1].StoredBits);
    }

    [Fact]
    public void Artifact_for_8_6_5_4_is_within_1_1x_of_the_8_bit_weights()
    {
        foreach (var name in new[] { "q_mnist_cnn", "resnet20", "mobilenet_v2" })
        {
            var spec = RandomModels.Build(name, [8, 6, 5, 4]);
            string file = Path(name + ".abits");
            ArtifactFile.Write(spec, file);
            long weights = spec.Layers.Where(l => l.Op != LayerOp.GlobalAvgPool).Sum(l => (long)l.WeightCount);
            double ratio = new FileInfo(file).Length / (double)weights;
            Assert.True(ratio <= 1.1, $"{name}: {new FileInfo(file).Length} bytes for {weights} weights: {ratio:F3}x");
        }
    }

    [Fact]
    public void A_flipped_byte_in_any_section_is_a_one_line_error_naming_the_file()
    {
        var spec = TestNets.Small(QuantScheme.Modified, QuantScheme.Original, [8, 4]);
        string file = Path("ok.abits");
        ArtifactFile.Write(spec, file);
        var bytes = File.ReadAllBytes(file);
        foreach (int at in new[] { 20, bytes.Length / 2, bytes.Length - 1, 250 })
        {
            var bad = (byte[])bytes.Clone();
            bad[at] ^= 0x40;
            string f = Path($"bad{at}.abits");
            File.WriteAllBytes(f, bad);
            var e = Assert.Throws<ArtifactException>(() => ArtifactFile.Read(f));
            Assert.StartsWith(f + ": ", e.Message);
            Assert.Contains("damaged", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Fact]
    public void Truncated_newer_and_foreign_files_are_named_errors()
    {
        var spec = TestNets.Small(QuantScheme.Modified, QuantScheme.Original, [8, 4]);
        string file = Path("ok.abits");
        ArtifactFile.Write(spec, file);
        var bytes = File.ReadAllBytes(file);

        string cut = Path("cut.abits");
        File.WriteAllBytes(cut, bytes[..(bytes.Length - 100)]);
        Assert.Matches("cut.abits: is truncated: section 'F32' needs bytes", Assert.Throws<ArtifactException>(() => ArtifactFile.Read(cut)).Message);
        File.WriteAllBytes(cut, bytes[..40]);
        Assert.Contains("is truncated", Assert.Throws<ArtifactException>(() => ArtifactFile.Read(cut)).Message);

        var newer = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(newer.AsSpan(8), ArtifactFile.FormatVersion + 1);
        string nf = Path("newer.abits");
        File.WriteAllBytes(nf, newer);
        Assert.Equal($"{nf}: has format version {ArtifactFile.FormatVersion + 1}; this engine reads versions up to {ArtifactFile.FormatVersion}",
            Assert.Throws<ArtifactException>(() => ArtifactFile.Read(nf)).Message);

        string foreign = Path("x.onnx");
        File.WriteAllText(foreign, "not an artifact at all");
        Assert.Contains("no ABITSENG magic", Assert.Throws<ArtifactException>(() => ArtifactFile.Read(foreign)).Message);
        Assert.Contains("cannot be read", Assert.Throws<ArtifactException>(() => ArtifactFile.Read(Path("missing.abits"))).Message);
    }

    [Fact]
    public void Bad_descriptions_name_the_layer_and_field()
    {
        var spec = TestNets.Small(QuantScheme.Modified, QuantScheme.Original, [8, 4]);
        var l = spec.Layers[1];
        var broken = new ModelSpec
        {
            BitsList = spec.BitsList, InputChannels = 3, InputHeight = 13, InputWidth = 11,
            Layers = spec.Layers.Select(x => x == l ? new LayerSpec
            {
                Op = l.Op, Name = l.Name, Input = l.Input, Output = l.Output, InChannels = l.InChannels, OutChannels = l.OutChannels,
                KernelH = 3, KernelW = 3, StrideH = 2, StrideW = 2, PadH = 1, PadW = 1, WeightBits = l.WeightBits, WeightLevels = l.WeightLevels,
                SatScale = [1f], InputQuant = l.InputQuant, Relu = true,
            } : x).ToArray(),
        };
        var e = Assert.Throws<InvalidDataException>(() => ArtifactFile.Write(broken, Path("b.abits")));
        Assert.Equal("layer 1 'c1': sat_scale has 1 entries, expected 2", e.Message);
    }

    [Fact]
    public void Nested_levels_that_disagree_are_refused()
    {
        var spec = TestNets.Small(QuantScheme.Modified, QuantScheme.Original, [8, 4]);
        var l = spec.Layers[1];
        var four = l.WeightLevels[8].Select(k => (byte)(k >> 4)).ToArray();
        four[5] ^= 1;
        var levels = new Dictionary<int, byte[]> { [8] = l.WeightLevels[8], [4] = four };
        var changed = new ModelSpec
        {
            BitsList = spec.BitsList, InputChannels = 3, InputHeight = 13, InputWidth = 11,
            Layers = spec.Layers.Select(x => x == l ? Clone(l, levels) : x).ToArray(),
        };
        var e = Assert.Throws<InvalidDataException>(() => ArtifactFile.Write(changed, Path("n.abits")));
        Assert.Contains("4-bit weight level at index 5", e.Message);
    }

    static LayerSpec Clone(LayerSpec l, IReadOnlyDictionary<int, byte[]> levels) => new()
    {
        Op = l.Op, Name = l.Name, Input = l.Input, Output = l.Output, Residual = l.Residual, Relu = l.Relu, InChannels = l.InChannels,
        OutChannels = l.OutChannels, KernelH = l.KernelH, KernelW = l.KernelW, StrideH = l.StrideH, StrideW = l.StrideW, PadH = l.PadH,
        PadW = l.PadW, Groups = l.Groups, WeightScheme = l.WeightScheme, WeightBits = l.WeightBits, WeightLevels = levels, SatScale = l.SatScale,
        BnScale = l.BnScale, BnShift = l.BnShift, Bias = l.Bias, BiasDivisor = l.BiasDivisor, InputQuant = l.InputQuant,
    };
}
