namespace AdaBits.Tests;

/// <summary>A test class's own temporary folder (`dir`), made before each test and removed after it.</summary>
public abstract class TempFolderTests : IDisposable
{
    protected readonly string dir;

    protected TempFolderTests(string prefix) => dir = Directory.CreateTempSubdirectory(prefix).FullName;

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        GC.SuppressFinalize(this);
    }
}
