using System.Buffers.Binary;
using System.Globalization;
using AdaBits.Cli;

namespace AdaBits.Tests;

[CollectionDefinition("Console", DisableParallelization = true)]
public class ConsoleCollection;

/// <summary>The CLI in-process (Console redirected; this collection never runs in parallel with others).</summary>
[Collection("Console")]
public class CliTests() : TempFolderTests("adabits-cli-tests-")
{
    static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    static List<float[]> ReadCsv(string path, out string header)
    {
        var lines = File.ReadAllText(path).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        header = lines[0];
        return lines.Skip(1).Select(l => l.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
    }

    [Fact]
    public void SchemesWritesCsvAndPng()
    {
        string csv = Path.Combine(dir, "s.csv"), png = Path.Combine(dir, "sub", "s.png");
        var (code, stdout, stderr) = Run("schemes", "--bits", "2", "--csv", csv, "--png", png);
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Contains("original", stdout);

        var rows = ReadCsv(csv, out string header);
        Assert.Equal("x,original,modified,centered", header);
        Assert.Equal(1001, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            float x = rows[i][0];
            Assert.Equal(i / 1000.0, x, 6);
            // bits 2: original round-half-even(3x)/3; modified min(floor(4x), 3)/4; centered (that + 1/2)/4
            float orig = MathF.Round(3f * x, MidpointRounding.ToEven) / 3f;
            float mod = MathF.Min(MathF.Floor(4f * x), 3f) / 4f;
            float cen = (MathF.Min(MathF.Floor(4f * x), 3f) + 0.5f) / 4f;
            Assert.Equal(orig, rows[i][1], 6);
            Assert.Equal(mod, rows[i][2], 6);
            Assert.Equal(cen, rows[i][3], 6);
        }
        // a few by hand: x = 0.5 -> original 2/3 (1.5 rounds to even 2), modified 1/2, centered 5/8; x = 1 -> 1, 3/4, 7/8
        Assert.Equal(new[] { 0.5f, 2f / 3f, 0.5f, 0.625f }, rows[500]);
        Assert.Equal(new[] { 1f, 1f, 0.75f, 0.875f }, rows[1000]);

        var bytes = File.ReadAllBytes(png);
        Assert.True(bytes.Length > 10_000, $"PNG only {bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.Equal(1260, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16, 4))); // 3 panels x 420
        Assert.Equal(420, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20, 4)));
        // no temporary files left behind
        Assert.Single(Directory.GetFiles(Path.Combine(dir, "sub")));
    }

    [Fact]
    public void SchemesWeightViewSpansMinusOneToOne()
    {
        string csv = Path.Combine(dir, "w.csv");
        var (code, _, stderr) = Run("schemes", "--bits", "1", "--view", "weight", "--csv", csv);
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        var rows = ReadCsv(csv, out _);
        Assert.Equal(1001, rows.Count);
        Assert.Equal(-1f, rows[0][0]);
        Assert.Equal(1f, rows[^1][0]);
        Assert.Equal(0.0, rows[500][0], 6);
        // weight view at 1 bit: original {-1, 1}, modified {-1, 0}, centered {-1/2, 1/2}
        Assert.Equal(new[] { -1f, -1f, 0f }, new[] { rows[0][1], rows[0][2], rows[^1][2] });
        Assert.Equal(new[] { 1f, -0.5f, 0.5f }, new[] { rows[^1][1], rows[0][3], rows[^1][3] });
        Assert.All(rows, r => Assert.Contains(r[1], new[] { -1f, 1f }));
        Assert.All(rows, r => Assert.Contains(r[2], new[] { -1f, 0f }));
        Assert.All(rows, r => Assert.Contains(r[3], new[] { -0.5f, 0.5f }));
    }

    [Theory]
    [InlineData("schemes", "--bits", "0")]
    [InlineData("schemes", "--bits", "32")]
    [InlineData("schemes", "--bits", "x")]
    [InlineData("schemes", "--bits", "2", "--nope")]
    [InlineData("schemes", "--bits", "2", "--view", "sideways")]
    [InlineData("schemes", "--bits")]
    [InlineData("schemes")]
    [InlineData("schemes", "--bits", "2", "stray")]
    [InlineData("frobnicate")]
    public void UsageErrorsExitTwoWithOneLine(params string[] args)
    {
        var (code, _, stderr) = Run(args);
        Assert.Equal(2, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("adabits: ", lines[0]);
    }

    [Fact]
    public void ErrorMessagesNameTheProblem()
    {
        Assert.Contains("--bits", Run("schemes", "--bits", "0").Err);
        Assert.Contains("'x'", Run("schemes", "--bits", "x").Err);
        Assert.Contains("--nope", Run("schemes", "--bits", "2", "--nope").Err);
        Assert.Contains("frobnicate", Run("frobnicate").Err);
    }

    [Theory]
    [InlineData("did you mean 'train'?", "trian")]
    [InlineData("did you mean '--view'?", "schemes", "--bits", "2", "--veiw", "weight")]
    [InlineData("did you mean 'data'?", "bench", "dat")]
    [InlineData("did you mean '--json'?", "test", "app:x.yml", "--jsno")]
    [InlineData("unknown option '--nope'", "train", "app:x.yml", "--nope")]
    [InlineData("bench: name one of: adaptive, comm, data, engine, quant-overhead", "bench")]
    [InlineData("--rounds must be in 3..1000, got 2", "bench", "quant-overhead", "--rounds", "2")]
    [InlineData("--bad-images must be one of fail, skip, got 'maybe'", "bench", "data", "--dataset", "MNIST", "--dir", "d", "--bad-images", "maybe")]
    public void MistypedNamesGetTheNearestOneOnOneLine(string expected, params string[] args)
    {
        var (code, _, stderr) = Run(args);
        Assert.Equal(2, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, stderr);
    }

    [Fact]
    public void EveryCommandHasGeneratedHelpAndTheRootListsThemAll()
    {
        var root = Run("--help").Out;
        foreach (var name in new[] { "train", "test", "plot", "report", "data fetch", "schemes", "bench quant-overhead", "bench data", "profile", "export", "eval-onnx" })
        {
            Assert.Contains("  " + name + " ", root);
            var (code, help, _) = Run([.. name.Split(' '), "--help"]);
            Assert.Equal(0, code);
            Assert.Contains($"adabits {name}", help);     // the generated usage line
            Assert.Contains("--verbose", help);            // the global option reaches every command
        }
        // typed options show their ranges and defaults
        Assert.Contains("--batch <N>", Run("bench", "quant-overhead", "--help").Out);
        Assert.Contains("(1..4096) [default: 128]", Run("bench", "quant-overhead", "--help").Out);
        Assert.Equal(root, Run("help").Out);
        Assert.Equal(Run("schemes", "--help").Out, Run("help", "schemes").Out);
    }

    [Fact]
    public void VerboseIsAcceptedBeforeOrAfterTheCommand()
    {
        string csv = Path.Combine(dir, "v.csv");
        Assert.Equal(0, Run("--verbose", "schemes", "--bits", "3", "--csv", csv).Code);
        Assert.Equal(0, Run("schemes", "--bits", "3", "--verbose").Code);
        Assert.True(File.Exists(csv));
    }

    [Fact]
    public void HelpExitsZeroAndNoArgumentsExitsTwo()
    {
        var help = Run("--help");
        Assert.Equal(0, help.Code);
        Assert.Contains("schemes", help.Out);
        Assert.Equal(0, Run("schemes", "--help").Code);
        Assert.Equal(2, Run().Code);
    }
}
