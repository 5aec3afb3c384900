using System.Text.Json;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Profiles;

namespace Mlops.Monitor.Tests;

/// <summary>SageMaker's capture format (JSON Lines) read into per-column counts.</summary>
public sealed class CaptureAccumulatorTests
{
    private static readonly DateTimeOffset Start = new(2030, 6, 1, 10, 0, 0, TimeSpan.Zero);

    private static readonly DatasetProfile Baseline = new(1,
    [
        new ColumnProfile("delay", ColumnKind.Numerical, InferredTypes.Integral, 1, 0, NumericDistribution.FromValues([1]), null),
        new ColumnProfile("origin", ColumnKind.Categorical, InferredTypes.String, 1, 0, null, CategoricalDistribution.FromValues(["ATL"])),
        new ColumnProfile("hour", ColumnKind.Categorical, InferredTypes.String, 1, 0, null, CategoricalDistribution.FromValues(["10"])),
    ]);

    private static string Event(string input, string inputType, string encoding, DateTimeOffset at, string? output = null) => JsonSerializer.Serialize(new
    {
        captureData = new
        {
            endpointInput = new { observedContentType = inputType, mode = "INPUT", data = input, encoding },
            endpointOutput = new { observedContentType = "application/json", mode = "OUTPUT", data = output ?? "{\"predictions\": [0.25, 0.75]}", encoding = "JSON" },
        },
        eventMetadata = new { eventId = "e", inferenceId = "i", inferenceTime = at.ToString("yyyy-MM-ddTHH:mm:ss.fffZ") },
        eventVersion = "0",
    });

    [Fact]
    public void DataframeSplit_RowsCountPerColumn_AndPredictions()
    {
        var acc = new CaptureAccumulator(Baseline, Start, Start.AddHours(1));
        var input = JsonSerializer.Serialize(new { dataframe_split = new { columns = new[] { "delay", "origin", "hour" }, data = new object[][] { [5, "ATL", 10], [-3, "ORD", 11] } } });
        acc.Add(Event(input, "application/json", "JSON", Start.AddMinutes(5)));
        var p = acc.Build();
        Assert.Equal(2, p.Inputs.ItemCount);
        Assert.Equal(1, p.Events);
        Assert.Equal([-3.0, 5.0], p.Inputs.Find("delay")!.Numeric!.Values);
        Assert.Equal(1, p.Inputs.Find("hour")!.Categorical!.Counts["11"]);
        Assert.Equal([0.25, 0.75], p.Predictions!.Numeric!.Values);
    }

    [Fact]
    public void CsvAndBase64_MapToTheBaselineColumnsInOrder_ExtraValuesAreExtraColumns()
    {
        var acc = new CaptureAccumulator(Baseline, Start, Start.AddHours(1));
        acc.Add(Event("7,SFO,9,extra", "text/csv", "CSV", Start, "0.5"));
        acc.Add(Event(Convert.ToBase64String("8,LAX"u8.ToArray()), "text/csv", "BASE64", Start.AddSeconds(1), "0.6"));
        var p = acc.Build();
        Assert.Equal(2, p.Inputs.ItemCount);
        Assert.Equal(1, p.Inputs.Find("_c3")!.Categorical!.Counts["extra"]);
        Assert.Equal(1, p.Inputs.Find("hour")!.NumMissing);
        Assert.Equal([7.0, 8.0], p.Inputs.Find("delay")!.Numeric!.Values);
    }

    [Fact]
    public void EventsOutsideTheWindow_AreSkipped_BrokenLinesCounted()
    {
        var acc = new CaptureAccumulator(Baseline, Start, Start.AddHours(1));
        acc.Add(Event("{\"delay\": 1}", "application/json", "JSON", Start.AddHours(1)));
        acc.Add("{not json");
        var p = acc.Build();
        Assert.Equal(0, p.Inputs.ItemCount);
        Assert.Equal(1, p.UnreadableEvents);
        Assert.Empty(p.Inputs.Columns);
    }

    [Fact]
    public void RecordsAndInstances_AreRows_MissingFieldsAreMissing()
    {
        var acc = new CaptureAccumulator(Baseline, Start, Start.AddHours(1));
        acc.Add(Event("{\"dataframe_records\": [{\"delay\": 1, \"origin\": \"ATL\"}, {\"delay\": 2}]}", "application/json", "JSON", Start));
        acc.Add(Event("{\"instances\": [[3, \"BOS\", 4]]}", "application/json", "JSON", Start));
        var p = acc.Build();
        Assert.Equal(3, p.Inputs.ItemCount);
        Assert.Equal(1, p.Inputs.Find("origin")!.NumMissing);
        Assert.Equal(2, p.Inputs.Find("hour")!.NumMissing);
    }
}
