namespace AdaBits.Data;

/// <summary>The geometric part of a transform.</summary>
internal enum SpatialTransform
{
    /// <summary>Zero-pad <see cref="TransformSpec.CropPadding"/> pixels, crop a window of the image's own size (RandomCrop(size, padding)).</summary>
    PadCrop,
    /// <summary>torchvision RandomResizedCrop(Size) (scale 0.08-1, ratio 3/4-4/3, bilinear).</summary>
    RandomResizedCrop,
    /// <summary>Resize(ResizeSize) of the shorter side, then CenterCrop(Size) (bilinear).</summary>
    ResizeCenterCrop,
}

/// <summary>
/// Per-sample augmentation and the input convention (reference §5.2, §5.5).
/// CropPadding p > 0: zero-pad p pixels on every side, then crop a random window of the original size
/// (torchvision RandomCrop(size, padding=p)); HorizontalFlip: mirror with probability 0.5 (after the crop).
/// Normalize false: the model sees the raw pixel values 0..255 as float32 (what round(255 x) gives in the
/// reference); true: (pixel / 255 - Mean[c]) / Std[c] in float32. Mean and Std are kept either way.
/// The ImageNet transforms use <see cref="Spatial"/> RandomResizedCrop (training) / ResizeCenterCrop (validation)
/// with <see cref="Size"/> and <see cref="ResizeSize"/>; Round255 reproduces the reference's round(255 x) applied
/// to already normalised input (imagenet1k_inception with normalize False).
/// </summary>
internal sealed record TransformSpec(int CropPadding, bool HorizontalFlip, bool Normalize, float[] Mean, float[] Std)
{
    public static readonly IReadOnlyList<string> Names =
        ["mnist", "cifar", "cinic", "imagenet1k_basic", "imagenet1k_mobile", "imagenet1k_inception"];

    public SpatialTransform Spatial { get; init; } = SpatialTransform.PadCrop;

    /// <summary>Output side of RandomResizedCrop / CenterCrop (0 for PadCrop).</summary>
    public int Size { get; init; }

    /// <summary>Shorter side after Resize, before CenterCrop (ResizeCenterCrop only).</summary>
    public int ResizeSize { get; init; }

    /// <summary>After normalising, round(255 x) (half to even, float32), as the reference's forward does when normalize is False.</summary>
    public bool Round255 { get; init; }

    /// <summary>No augmentation (RandomResizedCrop becomes Resize + CenterCrop).</summary>
    public TransformSpec ForValidation() => this with
    {
        CropPadding = 0,
        HorizontalFlip = false,
        Spatial = Spatial == SpatialTransform.RandomResizedCrop ? SpatialTransform.ResizeCenterCrop : Spatial,
    };

    public bool Augments => CropPadding > 0 || HorizontalFlip;

    /// <summary>Per channel: the model input for each 8-bit value 0..255.</summary>
    public float[][] Lut(int channels)
    {
        var lut = new float[channels][];
        for (int c = 0; c < channels; c++)
        {
            lut[c] = new float[256];
            for (int v = 0; v < 256; v++)
            {
                // float32 throughout, as ToTensor (x / 255) and Normalize ((x - mean) / std) compute it
                float x = Normalize ? ((float)v / 255f - Mean[c]) / Std[c] : v;
                if (Round255) x = MathF.Round(255f * x, MidpointRounding.ToEven);
                lut[c][v] = x;
            }
        }
        return lut;
    }

    static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f], ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>
    /// The training transform of a `data_transforms` name (null: the data set's default), with explicit
    /// crop padding and flip overriding the name's own. Use <see cref="ForValidation"/> for validation data.
    /// imageSize: the ImageNet crop (default 224; Resize is 256 for 224, else round(size * 256 / 224)).
    /// </summary>
    public static TransformSpec ForName(string? dataTransforms, string dataset, bool normalize, int? cropPadding = null, bool? flip = null,
        int? imageSize = null)
    {
        string ds = (dataset ?? "").Replace("-", "").Replace("_", "").ToLowerInvariant();
        string name = dataTransforms?.Trim().ToLowerInvariant() ?? ds switch
        {
            "mnist" or "fashionmnist" => "mnist",
            "cifar10" or "cifar100" => "cifar",
            "cinic10" or "cinic" => "cinic",
            "imagenet1k" or "imagenet1kval50k" => "imagenet1k_basic",
            _ => throw new ArgumentException(
                $"no default data_transforms for dataset '{dataset}': set data_transforms to one of {string.Join(", ", Names)}"),
        };
        if (cropPadding is < 0) throw new ArgumentException($"crop padding must be >= 0, got {cropPadding}");
        if (name is "imagenet1k_basic" or "imagenet1k_mobile" or "imagenet1k_inception")
        {
            int size = imageSize ?? 224;
            if (size <= 0) throw new ArgumentException($"image size must be positive, got {size}");
            bool inception = name == "imagenet1k_inception";
            return new TransformSpec(0, flip ?? true, inception || normalize,
                inception ? [0.5f, 0.5f, 0.5f] : ImageNetMean, inception ? [0.5f, 0.5f, 0.5f] : ImageNetStd)
            {
                Spatial = SpatialTransform.RandomResizedCrop,
                Size = size,
                ResizeSize = size == 224 ? 256 : (int)Math.Round(size * 256.0 / 224.0),
                Round255 = inception && !normalize,
            };
        }
        var (pad, hflip, mean, std) = name switch
        {
            "mnist" when ds == "fashionmnist" => (0, false, new[] { 0.2860f }, new[] { 0.3530f }),
            "mnist" => (0, false, new[] { 0.1307f }, new[] { 0.3081f }),
            "cifar" => (4, true, new[] { 0.4914f, 0.4822f, 0.4465f }, new[] { 0.2023f, 0.1994f, 0.2010f }),
            "cinic" => (4, true, new[] { 0.4789f, 0.4723f, 0.4305f }, new[] { 0.2421f, 0.2383f, 0.2587f }),
            _ => throw new ArgumentException(
                $"unknown data_transforms '{dataTransforms}' (known: {string.Join(", ", Names)})"),
        };
        return new TransformSpec(cropPadding ?? pad, flip ?? hflip, normalize, mean, std);
    }

    public override string ToString() =>
        (Spatial switch
        {
            SpatialTransform.RandomResizedCrop => $"random resized crop {Size}, ",
            SpatialTransform.ResizeCenterCrop => $"resize {ResizeSize} + center crop {Size}, ",
            _ => $"crop pad {CropPadding}, ",
        }) + $"flip {HorizontalFlip}, " +
        (Normalize ? $"normalize mean ({string.Join(", ", Mean)}) std ({string.Join(", ", Std)})" : "raw 0..255") +
        (Round255 ? ", then round(255 x)" : "");
}
