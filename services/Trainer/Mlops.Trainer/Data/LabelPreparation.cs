using System.Globalization;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Trainer.Data;

/// <summary>
/// Puts the label column into the form each problem type trains on (boolean, text class, number) and
/// drops rows without a label, for every problem type. This happens outside the model: scoring rows have no label.
/// </summary>
public static class LabelPreparation
{
    public static ProblemType InferProblem(DataTable train, string label) => Find(train, label, ChannelLoader.Train) switch
    {
        { Kind: ColumnKind.Boolean } => ProblemType.Binary,
        { Values: string?[] texts } when IsBooleanText(texts) => ProblemType.Binary,
        { Kind: ColumnKind.Text } => ProblemType.Multiclass,

        // 0/1 labels are how CSV (and SageMaker's built-in algorithms) spell a binary target.
        { Values: float[] numbers } when numbers.All(v => float.IsNaN(v) || v is 0 or 1) => ProblemType.Binary,
        { Kind: ColumnKind.Number } => ProblemType.Regression,
        _ => throw new TrainerException(
            $"Label '{label}' is a timestamp; set problem_type to binary (boolean or 0/1 label), multiclass (text or integer label) or regression (numeric label) with a suitable label column."),
    };

    public static DataTable Prepare(DataTable table, string label, ProblemType problem, string channel)
    {
        var column = Find(table, label, channel);
        var converted = problem switch
        {
            ProblemType.Binary => ToBinary(column, channel),
            ProblemType.Multiclass => ToClasses(column, channel),
            _ => column.Kind == ColumnKind.Number
                ? column
                : throw WrongType(column, channel, "regression needs a numeric label"),
        };
        // Missingness is read from the column as loaded: a converted boolean has no missing value left to see.
        var present = Enumerable.Range(0, column.Length).Where(i => !column.IsMissing(i) && !converted.IsMissing(i)).ToArray();
        if (present.Length == 0)
        {
            throw new TrainerException($"Channel '{channel}': every row's label '{label}' is missing, so there is nothing to train or evaluate on.");
        }

        var withLabel = table.With(converted);
        return present.Length == table.RowCount ? withLabel : withLabel.Select(present);
    }

    private static TableColumn Find(DataTable table, string label, string channel) => table.Find(label) ?? throw new TrainerException(
        $"Label column '{label}' is not in the {channel} channel. Its columns: {ChannelLoader.Describe(table)}. "
        + "Name the label with the hyperparameter 'label'.");

    private static TableColumn ToBinary(TableColumn column, string channel)
    {
        if (column.Kind == ColumnKind.Boolean)
        {
            return column;
        }

        if (column.Values is float[] numbers && numbers.All(v => float.IsNaN(v) || v is 0 or 1))
        {
            return TableColumn.Booleans(column.Name, [.. numbers.Select(v => v == 1)]);
        }

        if (column.Values is string?[] texts && IsBooleanText(texts))
        {
            return TableColumn.Booleans(column.Name, [.. texts.Select(v => v == "true")]);
        }

        throw WrongType(column, channel, "binary classification needs a boolean label (or numbers that are all 0 or 1); "
            + "use problem_type=multiclass for a categorical label or regression for a numeric one");
    }

    /// <summary>
    /// A boolean label as the readers hand it over: text "true"/"false" with null for a gap. ML.NET's boolean has
    /// no missing value, so a gap stored as a boolean would train as class 0.
    /// </summary>
    internal static TableColumn BooleanLabelAsText(string name, IEnumerable<bool?> values) =>
        TableColumn.Texts(name, [.. values.Select(v => v switch { true => "true", false => "false", null => null })]);

    private static bool IsBooleanText(string?[] texts) =>
        texts.Any(v => v is not null) && texts.All(v => v is null or "true" or "false");

    private static TableColumn ToClasses(TableColumn column, string channel) => column.Values switch
    {
        string?[] => column,
        bool[] b => TableColumn.Texts(column.Name, [.. b.Select(v => v ? "true" : "false")]),
        float[] f when f.All(v => float.IsNaN(v) || v == MathF.Round(v)) =>
            TableColumn.Texts(column.Name, [.. f.Select(v => float.IsNaN(v) ? null : v.ToString(CultureInfo.InvariantCulture))]),
        _ => throw WrongType(column, channel, "multiclass classification needs a text, boolean or integer label"),
    };

    private static TrainerException WrongType(TableColumn column, string channel, string need) => new(
        $"Label '{column.Name}' in the {channel} channel is {(column.Values is string?[] t && IsBooleanText(t) ? "boolean" : column.Kind.ToString().ToLowerInvariant())}"
        + $"{(column.Kind == ColumnKind.Number ? " with non-integer or other values" : "")}; {need}.");
}
