namespace AdaBits.Modules;

/// <summary>
/// Turns off, on the current thread, the inference fast path that folds a batch norm and the next layer's
/// PACT into one in-place pass (QuantizedLayer.TryQuantizeAfterBatchNormInPlace). That path skips the
/// batch norm's and the conv's <c>call</c>, so forward hooks would not see them; the profiler needs every
/// layer called. Results are the same either way (the fused path is exact); only the speed differs.
/// </summary>
internal static class FusionSuppression
{
    [ThreadStatic] static int depth;

    /// <summary>True inside an Enter() scope on this thread.</summary>
    public static bool Active => depth > 0;

    /// <summary>Suppresses the fused paths until the returned scope is disposed (scopes nest).</summary>
    public static IDisposable Enter()
    {
        depth++;
        return new Scope();
    }

    sealed class Scope : IDisposable
    {
        bool disposed;

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            depth--;
        }
    }
}
