using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace AdaBits.Config;

/// <summary>
/// Reads YAML into plain values the way the reference's PyYAML <c>yaml.Loader</c> does: mappings become
/// <see cref="OrderedDictionary{TKey,TValue}"/> (string keys, insertion order, a duplicate key keeps its
/// first position and its LAST value), sequences become <c>List&lt;object?&gt;</c>, plain scalars are
/// resolved with YAML 1.1 rules (<see cref="YamlScalars"/>), quoted and block scalars are strings.
/// Supports anchors/aliases, merge keys (<c>&lt;&lt;</c>), the standard <c>!!str/!!int/!!float/!!bool/!!null</c>
/// tags, and the reference's <c>!include path</c> tag: the path is relative to the including file; a
/// <c>.yml</c>/<c>.yaml</c> file is parsed recursively, any other file is inserted as a string.
/// Built on YamlDotNet's low-level parser events (its deserializer rejects duplicate keys).
/// </summary>
internal static partial class YamlReader
{
    const int MaxIncludeDepth = 32;
    /// <summary>Lists and mappings nested deeper are refused: the reader recurses, and a stack overflow cannot be caught.</summary>
    const int MaxNesting = 200;
    /// <summary>A config or included file larger than this is refused (a config is a few KiB; /dev/zero never ends).</summary>
    const int MaxFileChars = 1 << 20;

    /// <summary>Parses a YAML file. Errors name the file as given.</summary>
    public static object? ReadFile(string path) => ReadFile(path, path, 0);

    /// <summary>Parses YAML text; <paramref name="sourceName"/> is used in error messages and to resolve
    /// <c>!include</c> (relative to its directory, or the current directory).</summary>
    public static object? ReadText(string text, string sourceName) =>
        Parse(text, sourceName, Path.GetDirectoryName(sourceName) ?? "", 0);

    /// <summary>The value of a <c>key=value</c> override: <paramref name="text"/> parsed as one YAML
    /// document (<c>[8, 4]</c> is a list, <c>0.1</c> a double, <c>True</c> a bool, <c>/tmp/x</c> a string,
    /// empty is null).</summary>
    public static object? ParseValue(string text, string sourceName = "value") =>
        Parse(text, sourceName, Directory.GetCurrentDirectory(), 0);

    static object? ReadFile(string path, string displayName, int depth)
    {
        string text;
        try { text = ReadBounded(path, displayName); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        { throw new ConfigException($"config file '{displayName}' not found"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new ConfigException($"config file '{displayName}' cannot be read: {e.Message}"); }
        return Parse(text, displayName, Path.GetDirectoryName(path) ?? "", depth);
    }

    static string ReadBounded(string path, string displayName)
    {
        using var reader = new StreamReader(path);
        var buffer = new char[MaxFileChars + 1];
        int n = reader.ReadBlock(buffer, 0, buffer.Length);
        if (n > MaxFileChars) throw new ConfigException($"config file '{displayName}' is larger than {MaxFileChars >> 20} MiB: not a config");
        return new string(buffer, 0, n);
    }

    static object? Parse(string text, string sourceName, string baseDir, int depth)
    {
        var state = new State(new Parser(new StringReader(text)), sourceName, baseDir, depth);
        try
        {
            state.Expect<StreamStart>();
            if (state.Accept<StreamEnd>()) return null;
            state.Expect<DocumentStart>();
            object? root = state.Node();
            state.Expect<DocumentEnd>();
            if (!state.Accept<StreamEnd>())
                throw new ConfigException($"{sourceName}: line {state.Line}: expected a single document, found another");
            return root;
        }
        catch (YamlException e)
        {
            throw new ConfigException($"{sourceName}: line {e.Start.Line}: {CleanMessage(e.Message)}", e);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet's scanner throws these on some malformed plain scalars and on a %TAG directive whose
            // prefix is not a URI (both found by fuzzing)
            throw new ConfigException($"{sourceName}: not valid YAML ({CleanMessage(e.Message)})", e);
        }
    }

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\): ")]
    private static partial Regex MarkPrefix();

    static string CleanMessage(string message) =>
        MarkPrefix().Replace(message, "").ReplaceLineEndings(" ").Trim();

    sealed class State(IParser parser, string sourceName, string baseDir, int depth)
    {
        readonly Dictionary<string, object?> anchors = new();
        ParsingEvent? current;
        int nesting;

        void Enter(NodeEvent e)
        {
            if (++nesting > MaxNesting)
                throw new ConfigException($"{sourceName}: line {e.Start.Line}: lists and mappings nested more than {MaxNesting} deep");
        }

        public long Line => Current.Start.Line;

        ParsingEvent Current
        {
            get
            {
                if (current is null)
                {
                    if (!parser.MoveNext()) throw new ConfigException($"{sourceName}: unexpected end of YAML");
                    current = parser.Current!;
                }
                return current;
            }
        }

        public T Expect<T>() where T : ParsingEvent
        {
            if (Current is not T t)
                throw new ConfigException($"{sourceName}: line {Line}: unexpected {Current.GetType().Name}");
            current = null;
            return t;
        }

        public bool Accept<T>() where T : ParsingEvent
        {
            if (Current is not T) return false;
            current = null;
            return true;
        }

        public object? Node()
        {
            switch (Current)
            {
                case AnchorAlias alias:
                    current = null;
                    if (!anchors.TryGetValue(alias.Value.Value, out var target))
                        throw new ConfigException($"{sourceName}: line {alias.Start.Line}: unknown alias '*{alias.Value.Value}'");
                    return target;
                case Scalar scalar:
                {
                    current = null;
                    object? value = ScalarValue(scalar);
                    Remember(scalar, value);
                    return value;
                }
                case SequenceStart seq:
                {
                    current = null;
                    Enter(seq);
                    var list = new List<object?>();
                    Remember(seq, list);
                    while (!Accept<SequenceEnd>()) list.Add(Node());
                    nesting--;
                    return list;
                }
                case MappingStart map:
                {
                    current = null;
                    Enter(map);
                    var dict = new OrderedDictionary<string, object?>();
                    Remember(map, dict);
                    var merged = new List<OrderedDictionary<string, object?>>();
                    while (!Accept<MappingEnd>())
                    {
                        long keyLine = Line;
                        bool isMerge = Current is Scalar { Value: "<<", Style: ScalarStyle.Plain };
                        object? key = Node();
                        object? value = Node();
                        if (isMerge)
                        {
                            if (value is OrderedDictionary<string, object?> one) merged.Add(one);
                            else if (value is List<object?> many && many.All(m => m is OrderedDictionary<string, object?>))
                                merged.AddRange(many.Cast<OrderedDictionary<string, object?>>());
                            else throw new ConfigException($"{sourceName}: line {keyLine}: a merge key '<<' needs a mapping or a list of mappings");
                            continue;
                        }
                        dict[KeyText(key, keyLine)] = value;
                    }
                    // PyYAML: explicit keys win over merged ones; earlier merge sources win over later ones.
                    foreach (var source in merged)
                        foreach (var (k, v) in source)
                            dict.TryAdd(k, v);
                    nesting--;
                    return dict;
                }
                default:
                    throw new ConfigException($"{sourceName}: line {Line}: unexpected {Current.GetType().Name}");
            }
        }

        void Remember(NodeEvent e, object? value)
        {
            if (!e.Anchor.IsEmpty) anchors[e.Anchor.Value] = value;
        }

        string KeyText(object? key, long line) => key switch
        {
            string s => s,
            bool b => b ? "True" : "False",
            long or double => YamlText.PythonRepr(key),
            null => "None",
            _ => throw new ConfigException($"{sourceName}: line {line}: a mapping key must be a scalar"),
        };

        object? ScalarValue(Scalar s)
        {
            string tag = s.Tag.IsEmpty ? "" : s.Tag.Value;
            switch (tag)
            {
                case "":
                    return s.Style == ScalarStyle.Plain ? YamlScalars.Resolve(s.Value) : s.Value;
                case "!":
                case "tag:yaml.org,2002:str":
                    return s.Value;
                case "!include":
                    return Include(s);
                case "tag:yaml.org,2002:null":
                    return null;
                case "tag:yaml.org,2002:bool":
                case "tag:yaml.org,2002:int":
                case "tag:yaml.org,2002:float":
                {
                    object? v = YamlScalars.Resolve(s.Value);
                    bool ok = tag.EndsWith("bool") ? v is bool : tag.EndsWith("int") ? v is long : v is double or long;
                    if (!ok) throw new ConfigException($"{sourceName}: line {s.Start.Line}: '{s.Value}' is not a valid {tag[(tag.LastIndexOf(':') + 1)..]}");
                    return tag.EndsWith("float") && v is long l ? (double)l : v;
                }
                default:
                    throw new ConfigException($"{sourceName}: line {s.Start.Line}: unsupported tag '{tag}'");
            }
        }

        object? Include(Scalar s)
        {
            if (depth >= MaxIncludeDepth)
                throw new ConfigException($"{sourceName}: line {s.Start.Line}: !include nested more than {MaxIncludeDepth} deep (a cycle?)");
            string rel = s.Value.Trim();
            if (rel.Length == 0) throw new ConfigException($"{sourceName}: line {s.Start.Line}: !include needs a path");
            string full = Path.Combine(baseDir, rel);
            string shown = Path.Combine(Path.GetDirectoryName(sourceName) ?? "", rel);
            if (!File.Exists(full))
                throw new ConfigException($"{sourceName}: line {s.Start.Line}: included file '{shown}' not found");
            string ext = Path.GetExtension(full).ToLowerInvariant();
            if (ext is ".yml" or ".yaml") return ReadFile(full, shown, depth + 1);
            return ReadBounded(full, shown);
        }
    }
}
