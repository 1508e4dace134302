using AdaBits.Runtime;

namespace AdaBits.Tests;

public class MallocTuningTests
{
    /// <summary>The settings that keep libtorch's activation buffers from being page-faulted in every step take
    /// effect on Linux (glibc's mallopt found through .NET's "libc" mapping) and are refused elsewhere.</summary>
    [Fact]
    public void GlibcSettingsAreAppliedOnLinux() => Assert.Equal(OperatingSystem.IsLinux(), MallocTuning.Apply());
}
