using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Mlops.Trainer.Model.Featurization;

/// <summary>
/// Derives calendar parts from a timestamp inside the model, so Serving passes the raw timestamp and gets
/// exactly the parts training saw. ML.NET has no public date-part transform; a custom mapping is the
/// supported way, and it lives in this (loader) assembly so whoever loads a model can resolve it.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class TimestampParts : CustomMappingFactory<TimestampParts.Input, TimestampParts.Output>
{
    public const string ContractName = "Mlops.Trainer.TimestampParts.v1";

    /// <summary>Fixed column names: the mapping's schema is static, so callers copy their column in and out.</summary>
    public const string InputColumn = "__timestamp_in";
    public const string OutputColumn = "__timestamp_parts";

    public static readonly string[] PartNames = ["month", "day_of_month", "day_of_week", "hour", "minute_of_day", "day_of_year"];

    public override Action<Input, Output> GetMapping() => Map;

    public static void Map(Input input, Output output)
    {
        var t = input.Timestamp;
        output.Parts = t == default
            ? [.. PartNames.Select(_ => float.NaN)]
            : [t.Month, t.Day, (float)t.DayOfWeek, t.Hour, t.Hour * 60 + t.Minute, t.DayOfYear];
    }

    /// <summary>Appends to <paramref name="chain"/> the steps that turn <paramref name="column"/> into a parts vector named <paramref name="outputColumn"/>.</summary>
    public static IEstimator<ITransformer> Append(MLContext ml, IEstimator<ITransformer> chain, string column, string outputColumn) =>
        chain
            .Append(ml.Transforms.CopyColumns(InputColumn, column))
            .Append(ml.Transforms.CustomMapping<Input, Output>(Map, ContractName))
            .Append(ml.Transforms.CopyColumns(outputColumn, OutputColumn))
            .Append(ml.Transforms.DropColumns(InputColumn, OutputColumn));

    public sealed class Input
    {
        [ColumnName(InputColumn)]
        public DateTime Timestamp { get; set; }
    }

    public sealed class Output
    {
        [ColumnName(OutputColumn)]
        [VectorType(6)]
        public float[] Parts { get; set; } = [];
    }
}
