using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Monitor.Features.Attribution;

/// <summary>
/// Global feature attributions of a model over a table of its inputs, per input column (Clarify's global attributions are
/// the mean magnitude of the per-row ones, so are these).
/// </summary>
public static class FeatureAttributions
{
    public const string FeatureContribution = "feature_contribution";
    public const string Permutation = "permutation";

    /// <summary>Mean |contribution| per input column over the rows (ML.NET's feature contributions, in score units).</summary>
    public static Dictionary<string, double> MeanAbsoluteContributions(ModelExplainer explainer, DataTable table)
    {
        var sums = new Dictionary<string, double>(StringComparer.Ordinal);
        var rows = explainer.Explain(table);
        foreach (var row in rows)
            foreach (var (column, value) in row)
                sums[column] = sums.GetValueOrDefault(column) + Math.Abs(value);
        return sums.ToDictionary(p => p.Key, p => rows.Count == 0 ? 0 : p.Value / rows.Count, StringComparer.Ordinal);
    }

    /// <summary>
    /// Label-free permutation importance: for each input column, the mean change of the model's output over the rows when
    /// that column's values are shuffled among them (averaged over <paramref name="repeats"/> seeded shuffles). The output is
    /// the probability (binary), the score (regression) or the class probabilities (multiclass: half their L1 change, the
    /// total variation). A column the rows hold constant changes nothing: 0.
    /// </summary>
    public static Dictionary<string, double> PermutationImportance(ModelPackage package, DataTable table, int seed = 17, int repeats = 3)
    {
        var inputs = new DataTable([.. package.Manifest.InputSchema.Select(c => table[c.Name])]);
        var reference = Outputs(package, package.Score(inputs));
        var random = new Random(seed);
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var column in package.Manifest.InputSchema.Select(c => c.Name))
        {
            double total = 0;
            for (var r = 0; r < repeats; r++)
            {
                var order = Enumerable.Range(0, inputs.RowCount).ToArray();
                random.Shuffle(order);
                var permuted = Outputs(package, package.Score(inputs.With(inputs[column].Select(order))));
                for (var i = 0; i < reference.Length; i++) total += Distance(reference[i], permuted[i], package.Manifest.ProblemType);
            }
            result[column] = inputs.RowCount == 0 ? 0 : total / (repeats * (double)inputs.RowCount);
        }
        return result;
    }

    private static double[][] Outputs(ModelPackage package, IReadOnlyList<Prediction> predictions) => package.Manifest.ProblemType switch
    {
        ProblemType.Binary => [.. predictions.Select(p => new[] { (double)(p.Probability ?? p.Score) })],
        ProblemType.Multiclass => [.. predictions.Select(p => package.Manifest.Classes!.Select(c => (double)(p.ClassScores?.GetValueOrDefault(c) ?? 0)).ToArray())],
        _ => [.. predictions.Select(p => new[] { (double)p.Score })],
    };

    private static double Distance(double[] a, double[] b, ProblemType problem)
    {
        double d = 0;
        for (var k = 0; k < a.Length; k++) d += Math.Abs(a[k] - b[k]);
        return problem == ProblemType.Multiclass ? d / 2 : d;
    }
}

/// <summary>
/// A seeded reservoir sample of rows (name → value), so a window of any size gives at most <c>capacity</c> rows, each equally
/// likely. With <paramref name="labels"/> (ground truth by inference id) only labelled rows are sampled, each with its label:
/// a captured event's rows when the event is one row whose id has a label (as the model-quality merge joins them).
/// </summary>
public sealed class RowSample(int capacity, int seed = 17, IReadOnlyDictionary<string, string>? labels = null)
{
    private readonly Random _random = new(seed);

    public List<IReadOnlyDictionary<string, object?>> Rows { get; } = [];

    /// <summary>With labels: each sampled row's label, aligned with <see cref="Rows"/>.</summary>
    public List<string> Labels { get; } = [];

    /// <summary>Rows offered, sampled or not (with labels: labelled rows offered).</summary>
    public long Seen { get; private set; }

    public bool Labelled => labels is not null;

    public void Add(IReadOnlyDictionary<string, object?> row) => Add(row, null);

    /// <summary>The rows of one captured event and its inference id (else event id).</summary>
    public void AddEvent(IReadOnlyList<IReadOnlyDictionary<string, object?>> rows, string? id)
    {
        if (labels is null)
            foreach (var row in rows) Add(row, null);
        else if (rows.Count == 1 && id is not null && labels.TryGetValue(id, out var label))
            Add(rows[0], label);
    }

    private void Add(IReadOnlyDictionary<string, object?> row, string? label)
    {
        Seen++;
        if (Rows.Count < capacity)
        {
            Rows.Add(row);
            if (label is not null) Labels.Add(label);
        }
        else if (_random.NextInt64(Seen) is var j && j < capacity)
        {
            Rows[(int)j] = row;
            if (label is not null) Labels[(int)j] = label;
        }
    }
}
