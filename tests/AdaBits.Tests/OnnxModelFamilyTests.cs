using AdaBits.Export;
using AdaBits.Graph;
using AdaBits.Models;
using AdaBits.Modules;
using AdaBits.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// Every model family exports through its lowered graph (no per-model exporter code) and ONNX Runtime reproduces
/// the TorchSharp eval forward at two bit-widths each, and at full precision.
/// </summary>
public partial class OnnxExportTests
{
    static readonly QuantOptions MobileOptions = new() { BitsList = [8, 4], SwitchAlpha = true, Rescale = true };

    /// <summary>(label, model factory, options, channels, size, two bit-widths).</summary>
    public static TheoryData<string> Families => new() { "mnist", "resnet20", "resnet20_pairs", "mobilenet_v1", "mobilenet_v2", "mobilenet_v2_double_side" };

    static (nn.Module<Tensor, Tensor> Model, QuantOptions Options, long Channels, long Size, Bits[] Bits) Family(string label)
    {
        manual_seed(7);
        switch (label)
        {
            case "mnist":
                return (new QMnistCnn(MnistOptions), MnistOptions, 1, 28, [8, 5]);
            case "resnet20":
            {
                var o = new QuantOptions { BitsList = [5, 4, 3], SwitchAlpha = true, RescaleConv = true, Rescale = true };
                // the flip allowances below were set on this random model as init: reference draws it (under
                // sat_scale one of the 24 random images lands on a rounding boundary that moves a logit by 0.11 x range)
                return (new QResNetCifar(o, 20, init: InitScheme.Reference), o, 3, 16, [5, 3]);
            }
            case "resnet20_pairs":
            {
                var o = new QuantOptions { BitsList = [new Bits(4, 8), new Bits(2, 4), 4], SwitchAlpha = true, Rescale = true };
                return (new QResNetCifar(o, 20), o, 3, 16, [new Bits(4, 8), new Bits(2, 4)]);
            }
            case "mobilenet_v1":
                return (new QMobileNetV1(MobileOptions, 10, 3, widthMult: 0.25, pactFp: true), MobileOptions, 3, 32, [8, 4]);
            case "mobilenet_v2":
                return (new QMobileNetV2(MobileOptions, 10, 3, widthMult: 0.25), MobileOptions, 3, 32, [8, 4]);
            default:
                return (new QMobileNetV2(MobileOptions, 10, 3, widthMult: 0.25, pactFp: true, doubleSide: true), MobileOptions, 3, 32, [8, 4]);
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Each_model_family_at_two_bit_widths_and_in_float_matches_the_torch_eval_forward(string label)
    {
        var (model, options, channels, size, bits) = Family(label);
        using var _ = model;
        TrainABit(model, options, channels, size, steps: 2);
        foreach (var b in bits)
        {
            // at 8 activation bits a few of 24 random-pixel images sit on a rounding boundary (see ExportAndCompare);
            // through ResNet-20's 19 requantized layers one such flip moved a logit by 1.3e-3 x range on Zen 5
            int flips = b.Activation >= 8 ? 4 : 2;
            string path = ExportAndCompare(model, options, b, channels, size, $"{label}_{b.Weight}_{b.Activation}.onnx", flips,
                flipRange: b.Activation >= 8 ? 3e-3 : 1e-2);
            var info = OnnxFileInfo.Read(path);
            Assert.Equal((OnnxExporter.IrVersion, OnnxExporter.Opset), (info.IrVersion, info.Opset));
            Assert.Equal(b.ToString(), info.Metadata[OnnxExporter.Keys.Bits]);
            int convs = model.modules().OfType<QConv2d>().Count(), linears = model.modules().OfType<QLinear>().Count();
            Assert.Equal(convs + linears, info.Initializers.Count(i => i.Name.EndsWith(".weight.codes")));
            if (b.Weight <= 4)
                Assert.Contains(info.Initializers, i => i.DataType is OnnxDataType.Int4 or OnnxDataType.UInt4);
        }
        // the full-precision network: float weights, no quantizers, BN folded
        string fp = ExportAndCompare(model, options, OnnxExporter.FloatBits, channels, size, $"{label}_float.onnx");
        var fpInfo = OnnxFileInfo.Read(fp);
        Assert.DoesNotContain(fpInfo.Initializers, i => i.Name.EndsWith(".codes"));
        Assert.DoesNotContain("QuantizeLinear", fpInfo.OpTypes);
        Assert.DoesNotContain("DequantizeLinear", fpInfo.OpTypes);
        Assert.DoesNotContain("BatchNormalization", fpInfo.OpTypes);
    }

    [Fact]
    public void Float_export_of_a_model_without_32_in_bits_list_is_allowed_but_other_bits_are_not()
    {
        using var model = new QMnistCnn(MnistOptions);
        OnnxExporter.Export(model, MnistOptions, OnnxExporter.FloatBits, 1, 28, 28, Path.Combine(dir, "f.onnx"));
        Assert.Equal("32", OnnxFileInfo.Read(Path.Combine(dir, "f.onnx")).Metadata["bits"]);
        var e = Assert.Throws<ArgumentException>(() => OnnxExporter.Export(model, MnistOptions, 16, 1, 28, 28, Path.Combine(dir, "x.onnx")));
        Assert.Equal("bits 16 is not in bits_list [8, 6, 5, 4]", e.Message);
    }

    /// <summary>
    /// Seeded mutations of a real export (byte flips, truncations, insertions, length-field damage): every input either
    /// parses or fails with one InvalidDataException line, never another exception type or a hang.
    /// </summary>
    [Fact]
    public void Reading_mutated_onnx_bytes_gives_a_model_or_a_one_line_error()
    {
        using var model = new QMnistCnn(MnistOptions);
        string path = Path.Combine(dir, "m.onnx");
        OnnxExporter.Export(model, MnistOptions, 4, 1, 28, 28, path);
        byte[] original = File.ReadAllBytes(path);
        var good = OnnxFileInfo.Parse(original);
        Assert.Equal(21, good.Opset);
        var random = new Random(12);
        int parsed = 0, rejected = 0;
        for (int trial = 0; trial < 3000; trial++)
        {
            byte[] bytes = Mutate(original, random);
            try
            {
                var info = OnnxFileInfo.Parse(bytes);
                Assert.NotNull(info.Metadata);
                parsed++;
            }
            catch (InvalidDataException e)
            {
                Assert.DoesNotContain('\n', e.Message);
                Assert.StartsWith("not an ONNX model", e.Message);
                rejected++;
            }
        }
        // both outcomes occur: the mutations reach the parser's error paths and leave many files readable
        Assert.True(parsed > 100 && rejected > 100, $"parsed {parsed}, rejected {rejected}");
        var err = Assert.Throws<InvalidDataException>(() => OnnxFileInfo.Read(WriteBytes("bad.onnx", [0x0A, 0xFF, 0xFF])));
        Assert.Contains("bad.onnx", err.Message);
    }

    string WriteBytes(string name, byte[] bytes)
    {
        string p = Path.Combine(dir, name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    static byte[] Mutate(byte[] source, Random random)
    {
        var b = source.ToList();
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits; e++)
        {
            int at = random.Next(b.Count);
            switch (random.Next(5))
            {
                case 0: b[at] = (byte)random.Next(256); break;                            // any byte
                case 1: b[at] ^= (byte)(1 << random.Next(8)); break;                      // one bit
                case 2: b.RemoveRange(at, b.Count - at); if (b.Count == 0) b.Add(0); break; // truncate
                case 3: b.Insert(at, (byte)random.Next(256)); break;                      // insert
                default: b[Math.Min(at, 64)] = 0xFF; break;                               // damage an early tag or length
            }
        }
        return b.ToArray();
    }
}
