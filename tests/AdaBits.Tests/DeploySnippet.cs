using Microsoft.ML.OnnxRuntime;

namespace AdaBits.Tests;

/// <summary>The C# snippet of README.md ("Deploying a model with ONNX Runtime"), compiled here (and run by OnnxCliTests) so that it stays correct.</summary>
public static class DeploySnippet
{
    /// <summary>
    /// Classifies images with a model written by `adabits export`. pixels: `count` images in NCHW order, each
    /// value as the model expects it (raw 0..255 for configs with normalize False). Returns the top-1 class per image.
    /// </summary>
    public static int[] Classify(string modelPath, float[] pixels, int count)
    {
        // ORT_ENABLE_BASIC keeps the graph's numbers exactly; ORT_ENABLE_ALL may fuse the quantized ops (faster, slightly different)
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC };
        using var session = new InferenceSession(modelPath, options);
        Console.WriteLine($"bits: {session.ModelMetadata.CustomMetadataMap["bits"]}");

        int[] shape = session.InputMetadata["input"].Dimensions;   // [-1, C, H, W]; -1: any batch size
        long[] dims = [count, shape[1], shape[2], shape[3]];
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, dims);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["input"], [input], ["logits"]);

        ReadOnlySpan<float> logits = outputs[0].GetTensorDataAsSpan<float>();   // [count, classes]
        int classes = logits.Length / count;
        var predicted = new int[count];
        for (int i = 0; i < count; i++)
        {
            var row = logits.Slice(i * classes, classes);
            for (int c = 1; c < classes; c++)
                if (row[c] > row[predicted[i]]) predicted[i] = c;
        }
        return predicted;
    }
}

public class DeploySnippetTests
{
    /// <summary>README's snippet is this file's Classify method, line for line (indentation aside).</summary>
    [Fact]
    public void The_readme_snippet_is_the_compiled_one()
    {
        static IEnumerable<string> Code(IEnumerable<string> lines) => lines.Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith("///"));
        var readme = File.ReadAllText(Path.Combine(Mnist.RepoRoot(), "README.md"));
        int start = readme.IndexOf("```csharp\nusing Microsoft.ML.OnnxRuntime;", StringComparison.Ordinal);
        Assert.True(start >= 0, "README has no ONNX Runtime snippet");
        int end = readme.IndexOf("```", start + 9, StringComparison.Ordinal);
        var snippet = Code(readme[start..end].Split('\n').Skip(1)).Where(l => !(l.StartsWith("using ") && !l.StartsWith("using var "))).ToList();
        var source = File.ReadAllLines(Path.Combine(Mnist.RepoRoot(), "tests", "AdaBits.Tests", "DeploySnippet.cs"));
        int from = Array.FindIndex(source, l => l.Contains("public static int[] Classify("));
        var compiled = Code(source.Skip(from).TakeWhile(l => l != "    }").Append("    }")).ToList();
        compiled[0] = compiled[0].Replace("public static ", "static ");
        Assert.Equal(compiled, snippet);
    }
}
