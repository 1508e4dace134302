using System.Collections;
using AdaBits.IO;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace AdaBits.Checkpoints;

/// <summary>
/// Checkpoints as real PyTorch zip files (torch.load reads them, weights_only included): a dictionary of
/// tensors, numbers, strings and nested dictionaries, e.g. {"model": state_dict}. Written to a temporary
/// file and renamed, so a crash never leaves a half-written checkpoint under the final name.
/// </summary>
internal static class CheckpointFile
{
    public static void Save(string path, IDictionary content, AtomicWriter? writer = null) =>
        (writer ?? AtomicWriter.Default).Write(path, tmp => PyTorchPickler.PickleStateDict(tmp, content));

    public static Hashtable Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint '{path}' not found");
        PickleKeyOrder.Check(path);
        try
        {
            return PyTorchUnpickler.UnpickleStateDict(path);
        }
        catch (Exception e) when (e is not FileNotFoundException)
        {
            throw new InvalidDataException($"checkpoint '{path}' is not a readable PyTorch checkpoint ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    /// <summary>
    /// The model's state_dict in PyTorch's order, as the value of a checkpoint's "model" entry: the pickler
    /// writes an IDictionary in its enumeration order, so our files have the original's layout (which a
    /// positional key remap of our checkpoints, here or in PyTorch, relies on).
    /// </summary>
    public static IDictionary ModelState(nn.Module model)
    {
        var own = model.state_dict();
        var sd = new System.Collections.Specialized.OrderedDictionary();
        foreach (var k in StateDictOrder.Keys(model)) sd[k] = own[k];
        return sd;
    }

    /// <summary>
    /// The state dict inside a loaded checkpoint: its "model" entry (or "state_dict"), else the file itself,
    /// with a DataParallel "module." prefix removed.
    /// </summary>
    public static Dictionary<string, Tensor> StateDictOf(IDictionary checkpoint, string source)
    {
        IDictionary sd = checkpoint["model"] as IDictionary ?? checkpoint["state_dict"] as IDictionary ?? checkpoint;
        var result = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry e in sd)
        {
            if (e.Value is not Tensor t) continue;
            string key = (string)e.Key;
            if (key.StartsWith("module.", StringComparison.Ordinal)) key = key["module.".Length..];
            result[key] = t;
        }
        if (result.Count == 0) throw new InvalidDataException($"checkpoint '{source}' holds no tensors");
        return result;
    }

    /// <summary>The state dict of the checkpoint file at `path` (see StateDictOf).</summary>
    public static Dictionary<string, Tensor> LoadStateDict(string path) => StateDictOf(Load(path), path);

    /// <summary>
    /// The state dict of the checkpoint file at `path` in the file's key order (the values as LoadStateDict
    /// reads them, the order from the pickle itself, which PyBridge's Hashtables do not keep).
    /// </summary>
    public static List<KeyValuePair<string, Tensor>> LoadOrderedStateDict(string path)
    {
        var values = LoadStateDict(path);
        var ordered = new List<KeyValuePair<string, Tensor>>(values.Count);
        var seen = new HashSet<string>();
        // Keys without a tensor (StateDictOf skips them) are skipped here too, so both see the same entries.
        foreach (var key in PickleKeyOrder.StateDictKeys(path))
            if (values.TryGetValue(key, out var t) && seen.Add(key)) ordered.Add(new(key, t));
        if (ordered.Count != values.Count)
            throw new InvalidDataException($"checkpoint '{path}': the key order read from its data.pkl lists {ordered.Count} of its {values.Count} tensors");
        return ordered;
    }

    /// <summary>Strict load: every model key present with the same shape, no extra keys; errors list what differs.</summary>
    public static void LoadInto(nn.Module model, IReadOnlyDictionary<string, Tensor> state, string source)
    {
        var own = model.state_dict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new InvalidDataException($"checkpoint '{source}' does not fit the model: " +
                $"{missing.Count} missing key(s){Sample(missing)}, {unexpected.Count} unexpected key(s){Sample(unexpected)}");
        foreach (var (k, t) in own)
            if (!t.shape.SequenceEqual(state[k].shape))
                throw new InvalidDataException($"checkpoint '{source}': '{k}' has shape [{string.Join(", ", state[k].shape)}], the model's is [{string.Join(", ", t.shape)}]");
        using var _ = no_grad();
        foreach (var (k, t) in own) t.copy_(state[k]);
    }

    static string Sample(List<string> keys) =>
        keys.Count == 0 ? "" : " (" + string.Join(", ", keys.Take(4)) + (keys.Count > 4 ? ", ..." : "") + ")";
}
