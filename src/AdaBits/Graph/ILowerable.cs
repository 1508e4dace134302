namespace AdaBits.Graph;

/// <summary>
/// A module that describes its own eval-mode computation at the bits now set on it, as nodes of a lowered graph:
/// given the value it receives, it adds its nodes (or lowers its children) and returns the value it produces.
/// Containers (Sequential) and the plain torch modules ReLU, ReLU6, AdaptiveAvgPool2d(1), AvgPool2d, Flatten and
/// Identity are lowered by the builder; a new model implements this and needs nothing in any back-end.
/// </summary>
internal interface ILowerable
{
    Value Lower(GraphBuilder graph, Value input);
}
