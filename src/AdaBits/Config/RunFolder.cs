using System.Security.Cryptography;
using System.Text;

namespace AdaBits.Config;

/// <summary>
/// Where a run writes. The original nests fourteen folders named after the experiment setting, with
/// spaces and brackets (<c>bits_list_[8, 6, 5, 4]/adaptive_True/...</c>), which break unquoted in a shell.
/// The default layout is one shell-safe folder per setting, <c>log_dir/&lt;config file stem&gt;-&lt;hash&gt;</c>,
/// the hash being the first 8 hex digits of SHA-256 of the setting, so one setting still maps to one folder
/// (and resumes there) exactly as in the original; the full setting is recorded in config.yml and results.json.
/// </summary>
internal static class RunFolder
{
    public const string DefaultLayout = "default";
    public const string ReferenceLayout = "reference";

    /// <summary>The experiment setting with '/' between its parts on every OS (what is hashed and recorded).</summary>
    public static string Setting(TrainConfig c) => c.ExperimentSetting.Replace(Path.DirectorySeparatorChar, '/');

    public static string SettingHash(TrainConfig c) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Setting(c))))[..8];

    /// <summary><c>&lt;config file stem&gt;-&lt;setting hash&gt;</c>, only [A-Za-z0-9._-].</summary>
    public static string ShortName(TrainConfig c)
    {
        string stem = Path.GetFileNameWithoutExtension(c.SourcePath ?? "");
        var safe = new StringBuilder();
        foreach (char ch in stem) safe.Append(char.IsAsciiLetterOrDigit(ch) || ch is '.' or '_' or '-' ? ch : '_');
        return (safe.Length > 0 ? safe.ToString() : "run") + "-" + SettingHash(c);
    }

    /// <summary>The original's nested folder: <c>log_dir/&lt;experiment setting&gt;</c>.</summary>
    public static string ReferencePath(TrainConfig c) => Path.Combine(c.LogDir, c.ExperimentSetting);

    public static string DefaultPath(TrainConfig c) => Path.Combine(c.LogDir, ShortName(c));

    /// <summary>
    /// run_dir when set; else the reference folder with log_layout: reference; else the short folder, except
    /// that a run started under the reference layout (it has a checkpoint there and the short folder has none)
    /// is continued where it is: resume and `adabits test` find it, and its files stay together.
    /// </summary>
    public static string Resolve(TrainConfig c)
    {
        if (!string.IsNullOrEmpty(c.RunDirOverride)) return c.RunDirOverride;
        string reference = ReferencePath(c);
        if (c.LogLayout == ReferenceLayout) return reference;
        string shortPath = DefaultPath(c);
        return !HasCheckpoint(shortPath) && HasCheckpoint(reference) ? reference : shortPath;
    }

    static bool HasCheckpoint(string dir) =>
        File.Exists(Path.Combine(dir, "latest_checkpoint.pt")) || File.Exists(Path.Combine(dir, "best_model.pt"));
}
