using AdaBits.Config;
using AdaBits.Modules;

namespace AdaBits.Study;

/// <summary>One training run of a variant: its key=value overrides, and the bit-widths it reports (null: its whole bits_list).</summary>
internal sealed record VariantPart(IReadOnlyList<string> Overrides, IReadOnlyList<Bits>? Reports = null);

/// <summary>A variant of a claim: usually one run; individually trained models are one run per bit-width.</summary>
internal sealed record StudyVariant(string Name, IReadOnlyList<VariantPart> Parts)
{
    public StudyVariant(string name, params string[] overrides) : this(name, [new VariantPart(overrides)]) { }

    public string OverridesText => string.Join("; ", Parts.Select(p => string.Join(" ", p.Overrides)));
}

/// <summary>
/// A claim made concrete for a base config: its variants, the baseline the others are compared with, the
/// bit-widths the verdict looks at, how the budget is matched, or why the claim cannot run on this config.
/// </summary>
internal sealed record ClaimPlan(Claim Claim, IReadOnlyList<StudyVariant> Variants, string Baseline, IReadOnlyList<Bits> Judged,
    string Notes, string? Skipped = null)
{
    public IEnumerable<StudyVariant> Claimed => Variants.Where(v => v.Name != Baseline);

    public static ClaimPlan Skip(Claim claim, string why) => new(claim, [], "", [], "", why);
}

/// <summary>A claim of the SAT / AdaBits papers (or of the methods that followed them), tested by <see cref="StudyRunner"/>.</summary>
internal sealed record Claim(string Id, string Title, string Statement, ClaimKind Kind, Func<TrainConfig, ClaimPlan> Plan);

/// <summary>The claims C1-C6, as controlled experiments on a config's data and model.</summary>
internal static class StudyClaims
{
    public static IReadOnlyList<Claim> All { get; } =
    [
        new("C1", "adaptive vs individually trained",
            "one adaptive model is as accurate at each bit-width as a model trained for that bit-width alone (AdaBits)",
            ClaimKind.AtLeastAsGood, Adaptive),
        new("C2", "switchable clipping levels",
            "a clipping level (PACT alpha) per bit-width gives higher top-1 than one shared by all bit-widths (AdaBits)",
            ClaimKind.Better, c => OnOff(c, "C2", "switch_alpha", "on", "off")),
        new("C3", "centered vs modified weights with 2 bits",
            "with 3 and 2 bits in the list, the centered weight quantizer trains the low bit-widths better than the modified one",
            ClaimKind.Better, Centered),
        new("C4", "SAT rescaling",
            "rescaling the quantized weights to the target variance (SAT) converges faster and ends higher",
            ClaimKind.Better, c => OnOff(c, "C4", "rescale", "on", "off")),
        new("C5", "two-stage vs from scratch",
            "training full precision first, then jointly, beats joint training from scratch at the same number of epochs",
            ClaimKind.Better, TwoStage),
        new("C6", "distillation across bit-widths",
            "soft targets from a higher bit-width (highest, full precision, or the next higher one) raise the lower bit-widths' top-1",
            ClaimKind.Better, Distill),
    ];

    public static Claim? Find(string id) => All.FirstOrDefault(c => string.Equals(c.Id, id, StringComparison.OrdinalIgnoreCase));

    static Claim Get(string id) => Find(id)!;

    static string List(IEnumerable<Bits> bits) => "bits_list=" + Bits.ListToString(bits);

    static ClaimPlan Adaptive(TrainConfig c)
    {
        var individual = new StudyVariant("individual",
            c.Quant.BitsList.Select(b => new VariantPart(["adaptive_training=False", List([b])], [b])).ToList());
        return new ClaimPlan(Get("C1"), [new StudyVariant("adaptive", "adaptive_training=True"), individual], "individual", c.Quant.BitsList,
            "Budget: every individual run trains its one bit-width for num_epochs epochs on the same images, as the " +
            "adaptive run trains each of its bit-widths at every step, so each bit-width sees the same steps; an " +
            $"individual run costs about 1/{c.Quant.BitsList.Count} of the adaptive one.");
    }

    static ClaimPlan OnOff(TrainConfig c, string id, string key, string on, string off) =>
        new(Get(id), [new StudyVariant(on, $"{key}=True"), new StudyVariant(off, $"{key}=False")], off, c.Quant.BitsList,
            $"Only {key} differs; the rest is the config's.");

    static ClaimPlan Centered(TrainConfig c)
    {
        var list = c.Quant.BitsList.ToList();
        foreach (int low in new[] { 3, 2 })
            if (!list.Contains(new Bits(low))) list.Add(new Bits(low));
        return new ClaimPlan(Get("C3"),
            [new StudyVariant("centered", "weight_quant_scheme=centered", List(list)), new StudyVariant("modified", "weight_quant_scheme=modified", List(list))],
            "modified", list.Where(b => b.Weight <= 3).ToList(),
            $"Both variants train {Bits.ListToString(list)} (the config's list with 3 and 2 added); judged at 3 and 2 bits.");
    }

    static ClaimPlan TwoStage(TrainConfig c)
    {
        int n = c.NumEpochs;
        if (n < 2) return ClaimPlan.Skip(Get("C5"), $"num_epochs is {n}: splitting it into a full-precision and a joint stage needs at least 2");
        int k = n / 2;
        return new ClaimPlan(Get("C5"),
            [new StudyVariant("two-stage", $"fp_pretrain_epochs={k}", $"num_epochs={n - k}"), new StudyVariant("from scratch", "fp_pretrain_epochs=0", $"num_epochs={n}")],
            "from scratch", c.Quant.BitsList,
            $"Budget: the same epochs in all ({n}): two-stage trains {k} full-precision epochs (fp_pretrain_epochs) then " +
            $"{n - k} joint ones (num_epochs counts the joint stage); from scratch trains {n} joint epochs. A full-precision " +
            "epoch runs one bit-width per step, so two-stage also spends less compute.");
    }

    static ClaimPlan Distill(TrainConfig c)
    {
        if (c.Quant.BitsList.Count < 2) return ClaimPlan.Skip(Get("C6"), $"bits_list {Bits.ListToString(c.Quant.BitsList)} has one bit-width: nothing to distil into");
        bool hasFp = c.Quant.BitsList.Any(b => b.Weight >= 32 && b.Activation >= 32);
        string[] fp = hasFp ? ["distill=fp"] : ["distill=fp", List([new Bits(32), .. c.Quant.BitsList])];
        return new ClaimPlan(Get("C6"),
            [new StudyVariant("none", "distill=none"), new StudyVariant("highest", "distill=highest"), new StudyVariant("fp", fp), new StudyVariant("recursive", "distill=recursive")],
            "none", c.Quant.BitsList.Skip(1).ToList(),
            "Judged at every bit-width below the highest (the teacher of 'highest')" +
            (hasFp ? "." : "; the fp variant needs a full-precision teacher, so it trains 32 bits as well (one more bit-width per step)."));
    }
}
