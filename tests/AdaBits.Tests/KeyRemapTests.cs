using System.Collections;
using System.Collections.Specialized;
using System.IO.Compression;
using AdaBits.Checkpoints;
using AdaBits.Models;
using AdaBits.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Tests;

/// <summary>
/// What pretrained_model_remap_keys rests on: a checkpoint's key order read from its pickle, and a model's keys in
/// PyTorch's order. The remap_tiny_*.pt fixtures were written by torch 1.13 from the original's layers
/// (Data/make_remap_fixtures.py): a tiny conv / switchable BN / conv / BN without affine / linear model at bits
/// [5, 4, 3] with switch_alpha, with random values, as {'model': OrderedDict}, with keys renamed p000, p001, ...,
/// as a plain 'module.'-prefixed dict under 'state_dict', and as a top-level OrderedDict in pickle protocol 4.
/// </summary>
internal static class RemapFixtures
{
    public static string Data(string name) => Path.Combine(AppContext.BaseDirectory, "Data", name);

    public static readonly string Original = Data("remap_tiny_b543.pt");
    public static readonly string Renamed = Data("remap_tiny_b543_renamed.pt");
    public static readonly string ModulePrefixed = Data("remap_tiny_b543_module.pt");
    public static readonly string Protocol4 = Data("remap_tiny_b543_p4.pt");
    public static readonly string ResNet20 = Data("reference_resnet20_b543.pt");

    public static QuantOptions B543 => new() { BitsList = [5, 4, 3], SwitchAlpha = true, RescaleConv = true };

    /// <summary>Our modules in the fixture model's layout (the same keys as the original's nn.Sequential).</summary>
    public static nn.Module TinyModel()
    {
        var o = B543;
        return nn.Sequential(
            ("0", new QConv2d(o, 3, 4, 3, bias: false)),
            ("1", new SwitchableBatchNorm2d(o, 4)),
            ("2", nn.ReLU()),
            ("3", new QConv2d(o, 4, 4, 3, bias: true)),
            ("4", new SwitchableBatchNorm2d(o, 4, affine: false)),
            ("5", new QLinear(o, 4, 3)));
    }

    public static List<string> Numbered(int count) => Enumerable.Range(0, count).Select(i => $"p{i:D3}").ToList();

    public static void AssertSameState(nn.Module a, nn.Module b)
    {
        var sa = a.state_dict();
        var sb = b.state_dict();
        Assert.Equal(sa.Keys.Order(), sb.Keys.Order());
        foreach (var k in sa.Keys)
            Assert.True(sa[k].dtype == sb[k].dtype && Ref.MaxAbsDiff(sa[k], sb[k]) == 0, k);
    }
}

public class PickleKeyOrderTests() : TempFolderTests("adabits-pickle-")
{
    [Fact]
    public void The_original_codes_resnet20_checkpoint_lists_its_keys_in_file_order_without_the_module_prefix()
    {
        var keys = PickleKeyOrder.StateDictKeys(RemapFixtures.ResNet20);
        Assert.Equal(360, keys.Count);
        Assert.Equal(["head.0.weight", "head.0.alpha", "head.1.bn.0.weight", "head.1.bn.0.bias", "head.1.bn.0.running_mean"], keys.Take(5));
        Assert.Equal(["classifier.0.weight", "classifier.0.bias", "classifier.0.alpha"], keys.TakeLast(3));
        Assert.Equal(keys.Order(), CheckpointFile.LoadStateDict(RemapFixtures.ResNet20).Keys.Order());
    }

    [Fact]
    public void Torch_written_checkpoints_give_their_keys_in_file_order_in_every_layout()
    {
        using var tiny = RemapFixtures.TinyModel();
        var pytorchOrder = StateDictOrder.Keys(tiny);
        Assert.Equal(34, pytorchOrder.Count);
        // plain dict and OrderedDict, under 'model', under 'state_dict' and at the top level, 'module.' or not, protocols 2 and 4
        Assert.Equal(pytorchOrder, PickleKeyOrder.StateDictKeys(RemapFixtures.Original));
        Assert.Equal(pytorchOrder, PickleKeyOrder.StateDictKeys(RemapFixtures.Protocol4));
        Assert.Equal(RemapFixtures.Numbered(34), PickleKeyOrder.StateDictKeys(RemapFixtures.Renamed));
        Assert.Equal(RemapFixtures.Numbered(34), PickleKeyOrder.StateDictKeys(RemapFixtures.ModulePrefixed));
        // the values come from PyBridge, the order from the pickle
        var ordered = CheckpointFile.LoadOrderedStateDict(RemapFixtures.ModulePrefixed);
        Assert.Equal(RemapFixtures.Numbered(34), ordered.Select(p => p.Key));
        Assert.Equal(new long[] { 4, 3, 3, 3 }, ordered[0].Value.shape);
        Assert.Equal(ScalarType.Int64, ordered[6].Value.dtype);   // 1.bn.0.num_batches_tracked
    }

    [Fact]
    public void Our_checkpoints_list_the_model_in_pytorch_order()
    {
        using var model = new QResNetCifar(RemapFixtures.B543 with { StatsSharing = true }, 20);
        string path = Path.Combine(dir, "ours.pt");
        CheckpointFile.Save(path, new Hashtable
        {
            ["model"] = CheckpointFile.ModelState(model),
            ["epoch"] = 3,
            ["step"] = 1L << 40,
            ["lr"] = 0.1,
            ["flags"] = new ArrayList { true, false, "x", 2.5 },
            ["nested"] = new Hashtable { ["a"] = new Hashtable { ["b"] = 1 } },
        });
        var expected = StateDictOrder.Keys(model);
        Assert.NotEqual(expected, model.state_dict().Keys);   // TorchSharp's own order is a different one
        Assert.Equal(expected, PickleKeyOrder.StateDictKeys(path));
        Assert.Equal(expected, CheckpointFile.LoadOrderedStateDict(path).Select(p => p.Key));
    }

    [Fact]
    public void A_truncated_or_garbled_pickle_is_a_one_line_error_naming_the_file()
    {
        byte[] pickle;
        using (var zip = ZipFile.OpenRead(RemapFixtures.Original))
        using (var s = zip.Entries.Single(e => e.FullName.EndsWith("/data.pkl")).Open())
        using (var m = new MemoryStream())
        {
            s.CopyTo(m);
            pickle = m.ToArray();
        }
        var cases = new (string Name, byte[] Pickle, string Expected)[]
        {
            ("truncated.pt", pickle[..(pickle.Length / 2)], "ends early"),
            ("opcode.pt", [0x80, 0x02, 0x7d, 0x71, 0x00, 0xff], "opcode 0xff"),
            ("stack.pt", [0x80, 0x02, 0x73, 0x2e], "malformed"),
            ("noop.pt", [0x80, 0x02, 0x4e, 0x2e], "does not hold a dictionary"),
        };
        foreach (var (name, bytes, expected) in cases)
        {
            string path = Path.Combine(dir, name);
            using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
            using (var s = zip.CreateEntry("archive/data.pkl").Open())
                s.Write(bytes);
            var e = Assert.Throws<InvalidDataException>(() => PickleKeyOrder.StateDictKeys(path));
            Assert.Contains(path, e.Message);
            Assert.Contains(expected, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        string notZip = Path.Combine(dir, "text.pt");
        File.WriteAllText(notZip, "not a checkpoint");
        var z = Assert.Throws<InvalidDataException>(() => PickleKeyOrder.StateDictKeys(notZip));
        Assert.Contains(notZip, z.Message);
        Assert.DoesNotContain('\n', z.Message);
    }
}

public class StateDictOrderTests
{
    [Fact]
    public void Resnet20_keys_in_pytorch_order_equal_the_original_codes_checkpoint()
    {
        using var model = new QResNetCifar(RemapFixtures.B543, 20);
        var keys = StateDictOrder.Keys(model);
        Assert.Equal(PickleKeyOrder.StateDictKeys(RemapFixtures.ResNet20), keys);
        Assert.Equal(model.state_dict().Keys.Order(), keys.Order());
    }

    /// <summary>Data/mobilenet_v*_keys.txt list the original's state_dict() in its order (dump_mobilenet_keys.py).</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Mobilenet_keys_in_pytorch_order_equal_the_original_state_dict_order(int version)
    {
        var options = new QuantOptions { BitsList = [8, 6, 5, 4], SwitchAlpha = version == 2 };
        using nn.Module model = version == 1 ? new QMobileNetV1(options, 1000) : new QMobileNetV2(options, 1000);
        var expected = File.ReadAllLines(RemapFixtures.Data($"mobilenet_v{version}_keys.txt"))
            .Where(l => l.Length > 0).Select(l => l.Split(' ')[0]).ToList();
        Assert.Equal(expected, StateDictOrder.Keys(model));
    }

    [Fact]
    public void Pytorch_order_holds_exactly_the_state_dict_keys_and_goes_module_by_module()
    {
        using var tiny = RemapFixtures.TinyModel();
        var keys = StateDictOrder.Keys(tiny);
        Assert.Equal(tiny.state_dict().Keys.Order(), keys.Order());
        // the BN without affine: its own weight and bias before its copies' buffers, then the next layer
        int w = keys.IndexOf("4.weight");
        Assert.Equal(["4.weight", "4.bias", "4.bn.0.running_mean", "4.bn.0.running_var", "4.bn.0.num_batches_tracked"], keys.Skip(w).Take(5));
        Assert.Equal(["5.weight", "5.bias", "5.alpha"], keys.TakeLast(3));

        // a non-persistent buffer stays out, as in state_dict()
        var m = new BufferHolder();
        Assert.Equal(["p", "kept"], StateDictOrder.Keys(m));
    }

    sealed class BufferHolder : nn.Module
    {
        public BufferHolder() : base(nameof(BufferHolder))
        {
            register_buffer("kept", zeros(1));
            register_buffer("scratch", zeros(1), persistent: false);
            register_parameter("p", new TorchSharp.Modules.Parameter(zeros(1)));
        }
    }
}

public class KeyRemapTests
{
    [Fact]
    public void A_torch_checkpoint_with_renamed_keys_remaps_onto_the_same_tensors_as_the_original_keys()
    {
        using var reference = RemapFixtures.TinyModel();
        CheckpointFile.LoadInto(reference, CheckpointFile.LoadStateDict(RemapFixtures.Original), RemapFixtures.Original);
        foreach (var file in new[] { RemapFixtures.Renamed, RemapFixtures.ModulePrefixed, RemapFixtures.Protocol4 })
        {
            using var model = RemapFixtures.TinyModel();
            var lines = new List<string>();
            CheckpointFile.LoadInto(model, KeyRemap.Load(model, file, lines.Add), file);
            RemapFixtures.AssertSameState(reference, model);
            Assert.Equal(35, lines.Count);
            Assert.Contains(file, lines[0]);
            if (file != RemapFixtures.Protocol4)
            {
                Assert.Equal("remap 0.weight to p000", lines[1]);
                Assert.Equal("remap 5.alpha to p033", lines[^1]);
            }
        }
    }

    [Fact]
    public void Remap_pairs_by_position_and_stops_at_the_shorter_list()
    {
        var t = Enumerable.Range(0, 3).Select(i => new KeyValuePair<string, Tensor>($"old{i}", tensor(i))).ToList();
        var lines = new List<string>();
        var two = KeyRemap.Apply(["a", "b"], t, "x.pt", lines.Add);
        Assert.Equal(["a", "b"], two.Keys);
        Assert.Equal(1, two["b"].item<int>());
        Assert.Equal(["remap a to old0", "remap b to old1"], lines.Skip(1));
        var four = KeyRemap.Apply(["a", "b", "c", "d"], t, "x.pt", _ => { });
        Assert.Equal(["a", "b", "c"], four.Keys);
    }

    [Fact]
    public void A_remapped_checkpoint_with_fewer_keys_fails_the_strict_load_naming_the_missing_keys()
    {
        using var source = RemapFixtures.TinyModel();
        var dir = Directory.CreateTempSubdirectory("adabits-remap-").FullName;
        try
        {
            string path = Path.Combine(dir, "short.pt");
            var sd = new OrderedDictionary();
            var own = source.state_dict();
            foreach (var (k, i) in StateDictOrder.Keys(source).Select((k, i) => (k, i)).Take(30)) sd[$"q{i}"] = own[k];
            CheckpointFile.Save(path, new Hashtable { ["model"] = sd });
            using var model = RemapFixtures.TinyModel();
            var e = Assert.Throws<InvalidDataException>(() => CheckpointFile.LoadInto(model, KeyRemap.Load(model, path, _ => { }), path));
            Assert.Contains("4 missing key(s)", e.Message);
            Assert.Contains("5.alpha", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// The reference zips the adaptive model's keys with the fp checkpoint's, so a single-BN checkpoint lands on the
    /// wrong keys (head.1.bn.1.weight takes a conv weight): the load that follows fails, there as here.
    /// </summary>
    [Fact]
    public void Fp_remap_of_a_single_bn_checkpoint_into_an_adaptive_model_misaligns_as_in_the_reference()
    {
        var dir = Directory.CreateTempSubdirectory("adabits-remap-").FullName;
        try
        {
            using var fp = new QResNetCifar(new QuantOptions { BitsList = [32] }, 20);
            string path = Path.Combine(dir, "fp.pt");
            var sd = new OrderedDictionary();
            var own = fp.state_dict();
            foreach (var (k, i) in StateDictOrder.Keys(fp).Select((k, i) => (k, i))) sd[$"p{i:D3}"] = own[k];
            CheckpointFile.Save(path, new Hashtable { ["model"] = sd });
            using var adaptive = new QResNetCifar(RemapFixtures.B543, 20);
            var state = KeyRemap.Load(adaptive, path, _ => { });
            Assert.Equal(own.Count, state.Count);
            var e = Assert.Throws<InvalidDataException>(() => FpPretrained.LoadInto(adaptive, state, path));
            Assert.Contains(path, e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
