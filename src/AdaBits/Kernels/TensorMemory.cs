using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace AdaBits.Kernels;

/// <summary>Raw access to CPU float32 tensors for the fused kernels, and the lifetime rules around them.</summary>
internal static unsafe class TensorMemory
{
    internal static bool IsFusable(Tensor t) => t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float32;

    /// <summary>The first element of a contiguous CPU tensor; valid while the tensor lives.</summary>
    internal static float* Ptr(Tensor t) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    // Per thread: another thread's forward must never release a gradient that this thread's backward
    // has returned but libtorch has not taken yet.
    [ThreadStatic] static Queue<Tensor>? deferred;

    /// <summary>
    /// Tensors made inside a custom backward run on the autograd engine's thread, outside every dispose
    /// scope of the training step; once libtorch holds its own reference they can be released, which we do
    /// at the next fused forward or backward on the same thread, instead of waiting for the finalizer
    /// (that would hold activation-sized gradients alive for many steps).
    /// </summary>
    internal static void DisposeLater(Tensor t) => (deferred ??= new()).Enqueue(t);

    internal static void DisposeDeferred()
    {
        if (deferred is null) return;
        while (deferred.TryDequeue(out var t)) t.Dispose();
    }
}
