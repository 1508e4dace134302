using System.Diagnostics;
using System.Security.Cryptography;

namespace AdaBits.Tests.Fuzz;

/// <summary>
/// Runs a parser over seeded mutations of valid inputs and over the kept regression cases. Every input must
/// parse, or fail with one of the parser's known exception types and a one-line message; an unknown exception,
/// a message of several lines, more than <see cref="TimeLimit"/> or more than <see cref="AllocationLimit"/> of
/// managed allocation is a failure, and the input is kept under tests/AdaBits.Tests/Data/fuzz/&lt;target&gt;/ as a
/// regression case (commit it with the fix).
/// </summary>
internal static class FuzzHarness
{
    public static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(10);
    public const long AllocationLimit = 512L << 20;

    /// <summary>The kept inputs of a target: in the test output (copied from the source tree's Data/fuzz).</summary>
    public static IEnumerable<(string Name, byte[] Bytes)> Regressions(string target)
    {
        string d = Path.Combine(AppContext.BaseDirectory, "Data", "fuzz", target);
        return Directory.Exists(d) ? Directory.GetFiles(d).Order(StringComparer.Ordinal).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))) : [];
    }

    /// <param name="parse">Parses one input (writing it to a file first when the parser reads files).</param>
    /// <param name="known">The exception types the parser reports bad input with.</param>
    public static void Run(string target, IReadOnlyList<byte[]> seeds, int count, int seed, Action<byte[]> parse, params Type[] known)
    {
        Assert.NotEmpty(seeds);
        var failures = new List<string>();
        var mutator = new Mutator(seed, target == "yaml" ? YamlTokens : null);
        int parsed = 0, rejected = 0;
        void One(string name, byte[] input)
        {
            var (error, seconds, allocated) = Attempt(parse, input);
            string? problem = error switch
            {
                null => null,
                TimeoutException => $"no result in {TimeLimit.TotalSeconds} s",
                _ when !known.Contains(error.GetType()) => $"unexpected {error.GetType().Name}: {error.Message}",
                _ when error.Message.Contains('\n') || error.Message.Length == 0 => $"{error.GetType().Name} message is not one line: {error.Message}",
                _ => null,
            };
            if (problem is null && allocated > AllocationLimit) problem = $"allocated {allocated >> 20} MiB";
            if (error is null) parsed++; else rejected++;
            if (problem is null) return;
            string kept = Keep(target, input);
            failures.Add($"{name}: {problem} (kept as {kept})");
        }
        foreach (var (name, bytes) in Regressions(target)) One("regression " + name, bytes);
        for (int i = 0; i < seeds.Count; i++) One($"seed {i}", seeds[i]);
        for (int i = 0; i < count && failures.Count < 20; i++) One($"mutation {i}", mutator.Mutate(seeds[i % seeds.Count]));
        Assert.True(failures.Count == 0, $"{target}: {failures.Count} failing input(s) of {count}:\n" + string.Join("\n", failures));
        // the mutations must reach both sides, else the fuzzing tests nothing
        Assert.True(parsed > 0 && rejected > count / 20, $"{target}: {parsed} parsed, {rejected} rejected of {count}");
    }

    static (Exception? Error, double Seconds, long Allocated) Attempt(Action<byte[]> parse, byte[] input)
    {
        long before = GC.GetTotalAllocatedBytes(precise: false);
        var clock = Stopwatch.StartNew();
        Exception? error = null;
        var task = Task.Factory.StartNew(() =>
        {
            try { parse(input); }
            catch (Exception e) { error = e; }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (!task.Wait(TimeLimit)) return (new TimeoutException(), clock.Elapsed.TotalSeconds, 0);
        return (error, clock.Elapsed.TotalSeconds, GC.GetTotalAllocatedBytes(precise: false) - before);
    }

    static string Keep(string target, byte[] input)
    {
        string d = Path.Combine(Mnist.RepoRoot(), "tests", "AdaBits.Tests", "Data", "fuzz", target);
        Directory.CreateDirectory(d);
        string name = Convert.ToHexString(SHA256.HashData(input))[..16].ToLowerInvariant() + ".bin";
        File.WriteAllBytes(Path.Combine(d, name), input);
        return Path.Combine("tests", "AdaBits.Tests", "Data", "fuzz", target, name);
    }

    static readonly string[] YamlTokens =
    [
        ":", ": ", "- ", "[", "]", "{", "}", ",", "\n", "\n  ", "  ", "\t", "#", "'", "\"", "&a ", "*a", "<<: *a\n", "!include x.yml",
        "!!int ", "!!float ", "!!str ", "!!bool ", "!!null ", "!foo ", "~", "null", "True", "yes", "0x1F", "0o7", "010", "1_000", "1:30",
        "1.0e+8", "1e8", ".inf", "-.inf", ".nan", "9223372036854775808", "-", "? ", "|\n  ", ">\n  ", "---\n", "...\n", "%YAML 1.1\n",
        "bits_list: [8, [4, 2]]\n", "lr: ", "batch_size: ", "num_epochs: ", "topk: [", "\u00e9", "\ufeff", "\0",
    ];
}
