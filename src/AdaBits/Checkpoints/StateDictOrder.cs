using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Checkpoints;

/// <summary>
/// A model's state-dict keys in PyTorch's order. TorchSharp's state_dict() lists every parameter of the whole
/// tree first and then every buffer; PyTorch goes module by module (its own parameters in registration order,
/// then its own persistent buffers, then each child recursively). The positional key remap
/// (pretrained_model_remap_keys) and the layout of the checkpoints we write depend on PyTorch's order.
/// </summary>
internal static class StateDictOrder
{
    /// <summary>Exactly the keys of model.state_dict(), in PyTorch's order.</summary>
    public static List<string> Keys(nn.Module model)
    {
        var own = model.state_dict();
        var keys = new List<string>(own.Count);
        var seen = new HashSet<string>();
        Walk(model, "", own, keys, seen);
        // Anything the walk cannot see (TorchSharp's per-module de-duplication of a tensor registered twice
        // under two names) still belongs to the state dict: kept, in TorchSharp's order, at the end.
        foreach (var key in own.Keys)
            if (seen.Add(key)) keys.Add(key);
        return keys;
    }

    static void Walk(nn.Module module, string prefix, Dictionary<string, Tensor> own, List<string> keys, HashSet<string> seen)
    {
        // Only names state_dict() has: this is what drops non-persistent buffers and unset (null) entries.
        void Add(string name)
        {
            string key = prefix + name;
            if (own.ContainsKey(key) && seen.Add(key)) keys.Add(key);
        }
        foreach (var (name, _) in module.named_parameters(recurse: false)) Add(name);
        foreach (var (name, _) in module.named_buffers(recurse: false, include_nonpersistent: false)) Add(name);
        foreach (var (name, child) in module.named_children()) Walk(child, prefix + name + ".", own, keys, seen);
    }
}
