using static TorchSharp.torch;

namespace AdaBits.Checkpoints;

/// <summary>
/// pretrained_model_remap_keys (reference §5.13 step 2, and the pretrained_file load): the checkpoint's
/// tensors are renamed by position, the model's i-th state-dict key (PyTorch order) taking the checkpoint's
/// i-th key (file order), stopping at the shorter list. Faithful to the reference also where the two
/// layouts differ (e.g. a single-BN fp checkpoint against an adaptive model): the pairs then misalign and the
/// load that follows reports the mismatch.
/// </summary>
internal static class KeyRemap
{
    /// <summary>The renamed state dict; `log` gets a summary line and then "remap NEW to OLD" per pair, as the reference prints.</summary>
    public static Dictionary<string, Tensor> Apply(IReadOnlyList<string> modelKeys,
        IReadOnlyList<KeyValuePair<string, Tensor>> checkpoint, string source, Action<string> log)
    {
        int n = Math.Min(modelKeys.Count, checkpoint.Count);
        log($"pretrained_model_remap_keys: {source}: the model's first {n} keys (of {modelKeys.Count}) take the checkpoint's first {n} tensors (of {checkpoint.Count}) by position");
        var result = new Dictionary<string, Tensor>(n);
        for (int i = 0; i < n; i++)
        {
            result[modelKeys[i]] = checkpoint[i].Value;
            log($"remap {modelKeys[i]} to {checkpoint[i].Key}");
        }
        return result;
    }

    /// <summary>The checkpoint file at `path`, remapped onto `model`'s keys.</summary>
    public static Dictionary<string, Tensor> Load(nn.Module model, string path, Action<string> log) =>
        Apply(StateDictOrder.Keys(model), CheckpointFile.LoadOrderedStateDict(path), path, log);
}
