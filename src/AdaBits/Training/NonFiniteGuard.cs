using AdaBits.Modules;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AdaBits.Training;

/// <summary>A run stopped because a loss, a gradient or the model's state is not finite (one-line message).</summary>
internal sealed class NonFiniteException(string message) : Exception(message);

/// <summary>
/// The non-finite guard of training (nan_policy): a NaN or infinite loss or gradient at any bit-width either
/// stops the run at that step (stop, before the optimizer step, so nothing non-finite reaches the weights or a
/// checkpoint) or drops that step's update (skip_step) and stops after nan_max_skips such steps in a row.
/// Checkpoints are checked too: a model state that is not finite is never written.
/// </summary>
internal sealed class NonFiniteGuard(string policy, int maxSkips, Action<string> log)
{
    public const string Stop = "stop", SkipStep = "skip_step";

    /// <summary>Steps skipped in a row up to now, and in the whole run.</summary>
    public int SkipsInRow { get; set; }
    public long Skipped { get; set; }

    public bool Skips => policy == SkipStep;

    /// <summary>
    /// A step went non-finite (`what`: "loss nan", "gradient"): under stop, or after nan_max_skips in a row, this
    /// throws the run's one-line error; else it counts the skip, logs it, and the caller drops the update.
    /// </summary>
    public void OnNonFinite(string what, int epoch, int step, int steps, string bits)
    {
        string where = $"epoch {epoch}, step {step}/{steps}, {bits}";
        const string kept = "latest_checkpoint.pt and best_model.pt are as they were (try a lower lr)";
        if (!Skips)
            throw new NonFiniteException($"non-finite {what} at {where}: training stopped (nan_policy: stop); {kept}");
        SkipsInRow++;
        Skipped++;
        if (SkipsInRow >= maxSkips)
            throw new NonFiniteException($"non-finite {what} at {where}: {SkipsInRow} steps in a row skipped (nan_max_skips: {maxSkips}), training stopped; {kept}");
        log($"non-finite {what} at {where}: update skipped ({SkipsInRow} in a row, {Skipped} in all)");
    }

    public void OnFiniteStep() => SkipsInRow = 0;

    /// <summary>The update made a weight non-finite: the optimizer has applied it, so under either policy the run stops.</summary>
    public void OnNonFiniteWeights(int epoch, int step, int steps) =>
        throw new NonFiniteException($"non-finite weights after the update at epoch {epoch}, step {step}/{steps}: training stopped " +
            $"(an update cannot be skipped once applied); latest_checkpoint.pt and best_model.pt are as they were (try a lower lr)");

    /// <summary>True when every gradient is finite: one reduction per parameter and one host read.</summary>
    public static bool GradientsFinite(IReadOnlyList<Parameter> parameters) => Finite(parameters.Select(p => p.grad));

    /// <summary>True when every parameter is finite.</summary>
    public static bool AllFinite(IReadOnlyList<Parameter> parameters) => Finite(parameters);

    static bool Finite(IEnumerable<Tensor?> tensors)
    {
        using var scope = NewDisposeScope();
        var sums = new List<Tensor>();
        foreach (var t in tensors)
            if (t is not null) sums.Add(t.detach().sum().to_type(ScalarType.Float64));
        // any NaN or infinity in any element makes the sum NaN or infinite
        return sums.Count == 0 || double.IsFinite(stack(sums).sum().item<double>());
    }

    /// <summary>The first floating-point state tensor (parameter or buffer) of the model holding a NaN or an infinity, or null.</summary>
    public static string? NonFiniteState(nn.Module model)
    {
        using var scope = NewDisposeScope();
        foreach (var (name, t) in model.state_dict())
            if (t.is_floating_point() && !t.isfinite().all().item<bool>()) return name;
        return null;
    }

    /// <summary>Throws when the model state is not finite: no checkpoint or best model is written from it.</summary>
    public static void CheckState(nn.Module model, int epoch)
    {
        if (NonFiniteState(model) is { } name)
            throw new NonFiniteException($"the model's '{name}' is not finite in epoch {epoch}: no checkpoint written, training stopped; latest_checkpoint.pt and best_model.pt are the last finite ones");
    }

    /// <summary>Copies of the model's buffers (BN running statistics), put back when a skipped step's forward changed them.</summary>
    public static Action SnapshotBuffers(nn.Module model)
    {
        var saved = model.buffers().Select(b => (Buffer: b, Copy: b.detach().clone())).ToList();
        return () =>
        {
            using var _ = no_grad();
            foreach (var (b, copy) in saved) b.copy_(copy);
        };
    }
}
