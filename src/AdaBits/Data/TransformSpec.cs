namespace AdaBits.Data;

/// <summary>
/// Per-sample augmentation and the input convention (reference §5.2, §5.5).
/// CropPadding p > 0: zero-pad p pixels on every side, then crop a random window of the original size
/// (torchvision RandomCrop(size, padding=p)); HorizontalFlip: mirror with probability 0.5 (after the crop).
/// Normalize false: the model sees the raw pixel values 0..255 as float32 (what round(255 x) gives in the
/// reference); true: (pixel / 255 - Mean[c]) / Std[c] in float32. Mean and Std are kept either way.
/// </summary>
public sealed record TransformSpec(int CropPadding, bool HorizontalFlip, bool Normalize, float[] Mean, float[] Std)
{
    public static readonly IReadOnlyList<string> Names = ["mnist", "cifar", "cinic"];

    /// <summary>No augmentation.</summary>
    public TransformSpec ForValidation() => this with { CropPadding = 0, HorizontalFlip = false };

    public bool Augments => CropPadding > 0 || HorizontalFlip;

    /// <summary>
    /// The training transform of a `data_transforms` name (null: the data set's default), with explicit
    /// crop padding and flip overriding the name's own. Use <see cref="ForValidation"/> for validation data.
    /// </summary>
    public static TransformSpec ForName(string? dataTransforms, string dataset, bool normalize, int? cropPadding = null, bool? flip = null)
    {
        string ds = (dataset ?? "").Replace("-", "").Replace("_", "").ToLowerInvariant();
        string name = dataTransforms?.Trim().ToLowerInvariant() ?? ds switch
        {
            "mnist" or "fashionmnist" => "mnist",
            "cifar10" or "cifar100" => "cifar",
            "cinic10" or "cinic" => "cinic",
            _ => throw new ArgumentException(
                $"no default data_transforms for dataset '{dataset}': set data_transforms to one of {string.Join(", ", Names)}"),
        };
        var (pad, hflip, mean, std) = name switch
        {
            "mnist" when ds == "fashionmnist" => (0, false, new[] { 0.2860f }, new[] { 0.3530f }),
            "mnist" => (0, false, new[] { 0.1307f }, new[] { 0.3081f }),
            "cifar" => (4, true, new[] { 0.4914f, 0.4822f, 0.4465f }, new[] { 0.2023f, 0.1994f, 0.2010f }),
            "cinic" => (4, true, new[] { 0.4789f, 0.4723f, 0.4305f }, new[] { 0.2421f, 0.2383f, 0.2587f }),
            _ => throw new ArgumentException(
                $"unknown data_transforms '{dataTransforms}' (known: {string.Join(", ", Names)}; ImageNet transforms are not supported yet)"),
        };
        if (cropPadding is < 0) throw new ArgumentException($"crop padding must be >= 0, got {cropPadding}");
        return new TransformSpec(cropPadding ?? pad, flip ?? hflip, normalize, mean, std);
    }

    public override string ToString() =>
        $"crop pad {CropPadding}, flip {HorizontalFlip}, " +
        (Normalize ? $"normalize mean ({string.Join(", ", Mean)}) std ({string.Join(", ", Std)})" : "raw 0..255");
}
