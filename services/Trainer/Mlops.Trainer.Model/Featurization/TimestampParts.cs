using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Mlops.Trainer.Model.Featurization;

/// <summary>
/// Derives calendar parts from a timestamp inside the model, so Serving passes the raw timestamp and gets
/// exactly the parts training saw. ML.NET has no public date-part transform; a custom mapping is the
/// supported way, and it lives in this (loader) assembly so whoever loads a model can resolve it.
/// Each part is its own column, so the trainer keeps only the parts that vary in the training data (a
/// date-only column has no hour or minute worth a feature).
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class TimestampParts : CustomMappingFactory<TimestampParts.Input, TimestampParts.Output>
{
    public const string ContractName = "Mlops.Trainer.TimestampParts.v2";

    /// <summary>Fixed column names: the mapping's schema is static, so callers copy their column in and out.</summary>
    public const string InputColumn = "__timestamp_in";
    private const string PartPrefix = "__timestamp_";

    public static readonly string[] PartNames = ["year", "month", "day_of_month", "day_of_week", "hour", "minute_of_day", "day_of_year"];

    public override Action<Input, Output> GetMapping() => Map;

    /// <summary>The parts of <paramref name="t"/> in <see cref="PartNames"/> order; NaN for a missing timestamp.</summary>
    public static float[] Compute(DateTime t) => t == default
        ? [.. PartNames.Select(_ => float.NaN)]
        : [t.Year, t.Month, t.Day, (float)t.DayOfWeek, t.Hour, t.Hour * 60 + t.Minute, t.DayOfYear];

    public static void Map(Input input, Output output)
    {
        var parts = Compute(input.Timestamp);
        (output.Year, output.Month, output.DayOfMonth, output.DayOfWeek, output.Hour, output.MinuteOfDay, output.DayOfYear) =
            (parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6]);
    }

    /// <summary>
    /// Appends to <paramref name="chain"/> the steps that turn <paramref name="column"/> into a vector named
    /// <paramref name="outputColumn"/> holding <paramref name="parts"/> (names from <see cref="PartNames"/>), in that order.
    /// </summary>
    public static IEstimator<ITransformer> Append(MLContext ml, IEstimator<ITransformer> chain, string column, string outputColumn, IReadOnlyList<string> parts) =>
        chain
            .Append(ml.Transforms.CopyColumns(InputColumn, column))
            .Append(ml.Transforms.CustomMapping<Input, Output>(Map, ContractName))
            .Append(ml.Transforms.Concatenate(outputColumn, [.. parts.Select(p => PartPrefix + p)]))
            .Append(ml.Transforms.DropColumns([InputColumn, .. PartNames.Select(p => PartPrefix + p)]));

    public sealed class Input
    {
        [ColumnName(InputColumn)]
        public DateTime Timestamp { get; set; }
    }

    public sealed class Output
    {
        [ColumnName(PartPrefix + "year")] public float Year { get; set; }
        [ColumnName(PartPrefix + "month")] public float Month { get; set; }
        [ColumnName(PartPrefix + "day_of_month")] public float DayOfMonth { get; set; }
        [ColumnName(PartPrefix + "day_of_week")] public float DayOfWeek { get; set; }
        [ColumnName(PartPrefix + "hour")] public float Hour { get; set; }
        [ColumnName(PartPrefix + "minute_of_day")] public float MinuteOfDay { get; set; }
        [ColumnName(PartPrefix + "day_of_year")] public float DayOfYear { get; set; }
    }
}

/// <summary>
/// The first version of the mapping (six parts, no year, one vector): packages written before v2 name it in
/// model.zip, and loading resolves it by this contract name, so it stays for them. New models do not use it.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class TimestampPartsV1 : CustomMappingFactory<TimestampParts.Input, TimestampPartsV1.Output>
{
    public const string ContractName = "Mlops.Trainer.TimestampParts.v1";

    public override Action<TimestampParts.Input, Output> GetMapping() => (input, output) => output.Parts = TimestampParts.Compute(input.Timestamp)[1..];

    public sealed class Output
    {
        [ColumnName("__timestamp_parts")]
        [VectorType(6)]
        public float[] Parts { get; set; } = [];
    }
}
