using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace AdaBits.Checkpoints;

/// <summary>
/// Loading a full-precision checkpoint (single BN per layer, scalar alpha) into an adaptive model
/// (reference §5.13): every switchable-BN copy `….bn.{i}.…` takes the checkpoint's `….bn.0.…` (or a
/// plain BatchNorm's `….{weight,bias,running_*}`), and a scalar alpha fills every entry of an alpha vector.
/// Matched by key structure, not by substring surgery; checkpoint keys the model lacks are ignored as in
/// the reference, while model keys the checkpoint cannot supply are an error.
/// </summary>
internal static partial class FpPretrained
{
    [GeneratedRegex(@"^(?<layer>.*)\.bn\.(?<index>\d+)\.(?<field>[^.]+)$")]
    private static partial Regex SwitchBnKey();

    /// <summary>Loads `state` into `model`; returns the number of checkpoint tensors used.</summary>
    public static int LoadInto(TorchSharp.torch.nn.Module model, IReadOnlyDictionary<string, Tensor> state, string source)
    {
        var own = model.state_dict();
        var used = new HashSet<string>();
        var missing = new List<string>();
        using var _ = no_grad();
        foreach (var (key, target) in own)
        {
            var src = Find(key, state);
            if (src is null)
            {
                missing.Add(key);
                continue;
            }
            var value = state[src];
            if (key.EndsWith(".alpha", StringComparison.Ordinal) && value.numel() == 1 && !value.shape.SequenceEqual(target.shape))
                target.copy_(value.reshape(1).expand(target.shape));
            else if (value.shape.SequenceEqual(target.shape))
                target.copy_(value);
            else
                throw new InvalidDataException($"fp_pretrained_file '{source}': '{src}' has shape [{string.Join(", ", value.shape)}], the model's '{key}' is [{string.Join(", ", target.shape)}]");
            used.Add(src);
        }
        if (missing.Count > 0)
            throw new InvalidDataException($"fp_pretrained_file '{source}' lacks {missing.Count} of the model's keys ({string.Join(", ", missing.Take(4))}{(missing.Count > 4 ? ", ..." : "")})");
        return used.Count;
    }

    static string? Find(string key, IReadOnlyDictionary<string, Tensor> state)
    {
        if (state.ContainsKey(key)) return key;
        var m = SwitchBnKey().Match(key);
        if (!m.Success) return null;
        string layer = m.Groups["layer"].Value, field = m.Groups["field"].Value;
        foreach (var candidate in new[] { $"{layer}.bn.0.{field}", $"{layer}.{field}" })
            if (state.ContainsKey(candidate)) return candidate;
        return null;
    }
}
