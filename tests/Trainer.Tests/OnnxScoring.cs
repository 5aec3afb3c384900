using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Mlops.Trainer.Model.Tabular;

namespace Trainer.Tests;

/// <summary>Scores a table with ONNX Runtime, to check an exported model against ML.NET.</summary>
internal static class OnnxScoring
{
    public static float[] Score(string path, DataTable table, string output)
    {
        using var session = new InferenceSession(path);
        var inputs = new List<NamedOnnxValue>();
        foreach (var (name, _) in session.InputMetadata)
        {
            var column = table[name];
            inputs.Add(column.Values switch
            {
                float[] f => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(f, [f.Length, 1])),
                string?[] s => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<string>(s.Select(v => v ?? "").ToArray(), [s.Length, 1])),
                bool[] b => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<bool>(b, [b.Length, 1])),
                _ => throw new NotSupportedException(name),
            });
        }

        using var results = session.Run(inputs);
        var scores = results.First(r => r.Name.StartsWith(output + ".", StringComparison.Ordinal) || r.Name == output);
        return [.. scores.AsTensor<float>()];
    }
}
