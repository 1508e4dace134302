using AdaBits.Modules;
using static TorchSharp.torch;

namespace AdaBits.Training;

/// <summary>One bit-width of the joint step, in the order the step trains it, and the bit-width whose output teaches it (null: plain CE).</summary>
internal readonly record struct DistillStep(Bits Bits, Bits? Teacher);

/// <summary>
/// Distillation across the bit-widths of one joint step (distill: highest | fp | recursive): a teacher's
/// logits of the same batch, computed earlier in the same step and detached, soften a student's loss to
/// (1 - w) CE + w T^2 KL(softmax(teacher / T) || softmax(student / T)) (Hinton et al.; T^2 keeps the soft term's
/// gradient on the scale of the hard one's as T changes). The teacher's own loss stays plain CE.
/// </summary>
internal static class Distillation
{
    /// <summary>
    /// The step's order and teachers. none: bits as given, no teachers. Otherwise the bit-widths run from the
    /// highest to the lowest (weight bits, then activation bits; a stable sort, so bits_list written high to low
    /// keeps its order), so that every teacher's output exists before its students': highest: the first teaches
    /// every other; fp: the full-precision entry (32) teaches every other; recursive: each teaches the next.
    /// </summary>
    public static IReadOnlyList<DistillStep> Plan(IReadOnlyList<Bits> bits, string mode)
    {
        if (mode == "none") return bits.Select(b => new DistillStep(b, null)).ToArray();
        var order = bits.OrderByDescending(b => b.Weight).ThenByDescending(b => b.Activation).ToArray();
        switch (mode)
        {
            case "highest":
                return order.Select((b, i) => new DistillStep(b, i == 0 ? null : order[0])).ToArray();
            case "fp":
                var fp = order.Where(IsFullPrecision).Select(b => (Bits?)b).FirstOrDefault()
                    ?? throw new ArgumentException($"distill: fp needs 32 in bits_list, got {Bits.ListToString(bits)}");
                return order.Select(b => new DistillStep(b, b == fp ? null : fp)).ToArray();
            case "recursive":
                return order.Select((b, i) => new DistillStep(b, i == 0 ? null : order[i - 1])).ToArray();
            default:
                throw new ArgumentException($"distill '{mode}' is not one of none, highest, fp, recursive");
        }
    }

    public static bool IsFullPrecision(Bits b) => b.Weight >= 32 && b.Activation >= 32;

    /// <summary>KL(softmax(teacher / T) || softmax(student / T)), summed over classes, averaged over the batch.</summary>
    public static Tensor Kl(Tensor student, Tensor teacher, double temperature)
    {
        using var scope = NewDisposeScope();
        var logStudent = nn.functional.log_softmax(student / temperature, 1);
        var logTeacher = nn.functional.log_softmax(teacher.detach() / temperature, 1);
        return (logTeacher.exp() * (logTeacher - logStudent)).sum(1).mean().MoveToOuterDisposeScope();
    }

    /// <summary>A student's loss: (1 - w) CE + w T^2 KL; with the KL term (unweighted) alongside for the log.</summary>
    public static (Tensor Loss, Tensor Kl) StudentLoss(Tensor ce, Tensor student, Tensor teacher, double weight, double temperature)
    {
        var kl = Kl(student, teacher, temperature);
        return (ce * (1 - weight) + kl * (weight * temperature * temperature), kl);
    }
}
