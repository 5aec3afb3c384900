using System.Text.Json;
using Mlops.Serving.Features.Capture;
using Mlops.Serving.Features.Endpoints;
using Mlops.Serving.Features.Inference;
using Mlops.ServiceDefaults.Errors;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Serving.Tests;

public sealed class CaptureFormatTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 1, 9, 5, 7, 123, TimeSpan.Zero);

    [Fact]
    public void CaptureRecord_IsSageMakersShape_WithTheRowAndPredictionAsJsonData()
    {
        var inputs = new DataTable([
            TableColumn.Timestamps("date", [new DateTime(2001, 5, 3, 8, 15, 0, DateTimeKind.Utc)]),
            TableColumn.Texts("origin", ["SFO"]),
            TableColumn.Numbers("distance", [float.NaN]),
            TableColumn.Booleans("night", [true]),
        ]);
        var row = new ScoredRow("inf-1", "primary", "m", "3", true, 1.5f, 0.75f, null);
        var line = CaptureFormat.CaptureRecord(inputs, 0, row, "evt-1", At);
        Assert.Equal(
            """{"captureData":{"endpointInput":{"observedContentType":"application/json","mode":"INPUT","data":"{\"date\":\"2001-05-03T08:15:00.000Z\",\"origin\":\"SFO\",\"distance\":null,\"night\":true}","encoding":"JSON"},"endpointOutput":{"observedContentType":"application/json","mode":"OUTPUT","data":"{\"predicted_label\":true,\"score\":1.5,\"probability\":0.75}","encoding":"JSON"}},"eventMetadata":{"eventId":"evt-1","inferenceId":"inf-1","inferenceTime":"2026-12-01T09:05:07.123Z"},"eventVersion":"0"}""",
            line);
        Assert.DoesNotContain('\n', line);
    }

    [Fact]
    public void MulticlassOutput_CarriesClassProbabilities()
    {
        var json = CaptureFormat.OutputJson(new ScoredRow("i", "v", "m", "1", "long", 0.7f, 0.7f, new Dictionary<string, float> { ["long"] = 0.7f, ["short"] = 0.3f }));
        using var doc = JsonDocument.Parse(json);
        Assert.Equal("long", doc.RootElement.GetProperty("predicted_label").GetString());
        Assert.Equal(0.3f, doc.RootElement.GetProperty("class_probabilities").GetProperty("short").GetSingle());
    }

    [Fact]
    public void GroundTruthRecord_IsModelMonitorsShape() =>
        Assert.Equal("""{"groundTruthData":{"data":"1","encoding":"CSV"},"eventMetadata":{"eventId":"inf-1"},"eventVersion":"0"}""",
            CaptureFormat.GroundTruthRecord("inf-1", "1"));

    [Fact]
    public void Folders_ArePartitionedByEndpointVariantAndUtcHour()
    {
        var local = new DateTimeOffset(2026, 12, 1, 1, 30, 0, TimeSpan.FromHours(-9));
        Assert.Equal("data-capture/ep/primary/2026/12/01/10/", CaptureFormat.CaptureFolder("/data-capture/", "ep", "primary", local));
        Assert.Equal("ground-truth/ep/2026/12/01/10/", CaptureFormat.GroundTruthFolder("ground-truth", "ep", local));
        Assert.Matches(@"^30-00-000-[0-9a-f-]{36}\.jsonl$", CaptureFormat.FileName(local));
    }

    [Theory]
    [InlineData("true", "1")]
    [InlineData("false", "0")]
    [InlineData("3.5", "3.5")]
    [InlineData("\"long\"", "long")]
    public void Labels_AreWrittenAsCsvData(string json, string data) =>
        Assert.Equal(data, GroundTruthEndpoints.LabelText(JsonDocument.Parse(json).RootElement, 0));

    [Theory]
    [InlineData("null")]
    [InlineData("\"a,b\"")]
    [InlineData("[1]")]
    public void UnwritableLabels_Are400(string json) =>
        Assert.Contains("labels[2].label", Assert.Throws<ProblemException>(() => GroundTruthEndpoints.LabelText(JsonDocument.Parse(json).RootElement, 2)).Message);

    [Fact]
    public void VariantValidation_NamesEveryProblem()
    {
        var problems = EndpointValidation.Validate([
            new VariantRequest("a", "m", "1", "champion", 1),
            new VariantRequest("a", null, "x", null, -1),
            new VariantRequest("bad name!", "m", null, null, null),
        ]);
        Assert.Contains(problems, p => p.Contains("variants[0]: give exactly one of model_version and alias"));
        Assert.Contains(problems, p => p.Contains("variants[1].model_name is required"));
        Assert.Contains(problems, p => p.Contains("variants[1].model_version 'x'"));
        Assert.Contains(problems, p => p.Contains("variants[1].weight -1"));
        Assert.Contains(problems, p => p.Contains("variants[2].name 'bad name!'"));
        Assert.Contains(problems, p => p.Contains("'a' is used more than once"));
        Assert.Equal(["variants: the weights must sum to a positive total."], EndpointValidation.Validate([new VariantRequest("a", "m", "1", null, 0)]));
        Assert.Empty(EndpointValidation.Validate([new VariantRequest("a", "m", "1", null, null), new VariantRequest("b", "m", null, "champion", 0)]));
    }
}
