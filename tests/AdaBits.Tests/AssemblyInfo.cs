// Tests seed libtorch's global generator (manual_seed) and draw from it; run in parallel, one class's draws
// would interleave with another's and make results depend on timing. One test at a time keeps them exact.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
