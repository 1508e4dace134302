namespace AdaBits.Export;

/// <summary>A value of the graph being built: its name and, for NCHW feature maps, its per-sample shape.</summary>
public readonly record struct OnnxValue(string Name, long Channels, long Height = 1, long Width = 1)
{
    public OnnxValue With(string name) => this with { Name = name };
}
