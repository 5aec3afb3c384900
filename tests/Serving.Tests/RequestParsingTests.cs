using System.Text.Json;
using Mlops.Serving.Features.Inference;
using Mlops.ServiceDefaults.Errors;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Serving.Tests;

public sealed class RequestParsingTests
{
    private static readonly SchemaColumn[] Schema =
        [new("date", "timestamp"), new("origin", "text"), new("distance", "number"), new("night", "boolean")];

    private static InputFrame Json(string json) => MlflowRequest.ParseJson(JsonDocument.Parse(json).RootElement).Frame;

    public static TheoryData<string> EveryFormat => new()
    {
        """{"dataframe_split": {"columns": ["date", "origin", "distance", "night"], "data": [["2001-05-03T08:15:00Z", "SFO", 337, false], ["2001-05-04T17:40:00Z", "ORD", 740.5, true]]}}""",
        """{"dataframe_records": [{"date": "2001-05-03T08:15:00Z", "origin": "SFO", "distance": 337, "night": false}, {"night": true, "distance": 740.5, "origin": "ORD", "date": "2001-05-04T17:40:00Z"}]}""",
        """{"instances": [{"date": "2001-05-03T08:15:00Z", "origin": "SFO", "distance": 337, "night": false}, {"date": "2001-05-04T17:40:00Z", "origin": "ORD", "distance": 740.5, "night": true}]}""",
        """{"inputs": {"date": ["2001-05-03T08:15:00Z", "2001-05-04T17:40:00Z"], "origin": ["SFO", "ORD"], "distance": [337, 740.5], "night": [false, true]}, "params": {}}""",
    };

    [Theory]
    [MemberData(nameof(EveryFormat))]
    public void EveryMlflowFormat_BindsToTheSameTable(string json) => AssertFlights(SchemaBinder.Bind(Json(json), Schema));

    [Fact]
    public void Csv_WithQuotesAndCrLf_BindsToTheSameTable() =>
        AssertFlights(SchemaBinder.Bind(MlflowRequest.ParseCsv("night,distance,origin,date\r\n0,337,\"SFO\",2001-05-03T08:15:00Z\r\ntrue,740.5,ORD,2001-05-04T17:40:00Z\r\n"), Schema));

    [Fact]
    public void Csv_QuotedFieldWithCommaAndQuote_IsOneField()
    {
        var frame = MlflowRequest.ParseCsv("a,b\n\"x, \"\"y\"\"\",2\n");
        Assert.Equal("x, \"y\"", frame.Rows[0][0]);
        Assert.Equal("2", frame.Rows[0][1]);
    }

    [Fact]
    public void MissingValues_AreNaNNullAndFalse()
    {
        var table = SchemaBinder.Bind(Json("""{"dataframe_records": [{"date": null, "origin": null, "distance": null, "night": null}]}"""), Schema);
        Assert.True(float.IsNaN(((float[])table["distance"].Values)[0]));
        Assert.Null(((string?[])table["origin"].Values)[0]);
        Assert.Null(((DateTime?[])table["date"].Values)[0]);
        Assert.False(((bool[])table["night"].Values)[0]);
    }

    [Theory]
    [InlineData("""{"dataframe_records": [{"date": "2001-05-03", "origin": "SFO", "night": false}]}""", "'distance'", null)]
    [InlineData("""{"dataframe_records": [{"date": "2001-05-03", "origin": "SFO", "distance": "far", "night": false}]}""", "'distance'", 0)]
    [InlineData("""{"dataframe_records": [{"date": "2001-05-03", "origin": "SFO", "distance": 1, "night": false}, {"date": "2001-05-03", "origin": 7, "distance": 1, "night": false}]}""", "'origin'", 1)]
    [InlineData("""{"dataframe_records": [{"date": "someday", "origin": "SFO", "distance": 1, "night": false}]}""", "'date'", 0)]
    [InlineData("""{"dataframe_records": [{"date": "2001-05-03", "origin": "SFO", "distance": 1, "night": "yes"}]}""", "'night'", 0)]
    public void SchemaMismatch_Is400NamingTheColumnAndRow(string json, string column, int? row)
    {
        var e = Assert.Throws<ProblemException>(() => SchemaBinder.Bind(Json(json), Schema));
        Assert.Equal(400, e.Status);
        Assert.Contains(column, e.Message);
        Assert.Equal(column.Trim('\''), e.Extensions!["column"]);
        Assert.Equal(row, e.Extensions["row"]);
    }

    [Theory]
    [InlineData("""[1, 2]""", "JSON object")]
    [InlineData("""{"rows": []}""", "Unknown key 'rows'")]
    [InlineData("""{}""", "none of")]
    [InlineData("""{"instances": [], "inputs": []}""", "both")]
    [InlineData("""{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}""", "data[0] has 1 values for 2 columns")]
    [InlineData("""{"dataframe_split": {"columns": ["a", "a"], "data": []}}""", "'a' more than once")]
    [InlineData("""{"dataframe_split": {"data": []}}""", "columns")]
    [InlineData("""{"instances": [[1, 2]]}""", "not tensors")]
    [InlineData("""{"inputs": {"a": [1, 2], "b": [1]}}""", "one value per row")]
    [InlineData("""{"instances": [{"a": 1}], "inference_ids": ["x", "y"]}""", "2 ids for 1 rows")]
    public void MalformedBody_Is400SayingWhy(string json, string mentions)
    {
        var e = Assert.Throws<ProblemException>(() => Json(json));
        Assert.Equal(400, e.Status);
        Assert.Contains(mentions, e.Message);
    }

    [Theory]
    [InlineData("a,b\n1,2,3\n", "line 2 has 3 fields")]
    [InlineData("", "empty")]
    [InlineData("a,a\n1,2\n", "more than once")]
    [InlineData("a\n\"open\n", "quoted field")]
    public void MalformedCsv_Is400SayingWhy(string csv, string mentions) =>
        Assert.Contains(mentions, Assert.Throws<ProblemException>(() => MlflowRequest.ParseCsv(csv)).Message);

    [Fact]
    public void NoRows_Is400() =>
        Assert.Contains("no rows", Assert.Throws<ProblemException>(() => SchemaBinder.Bind(Json("""{"instances": []}"""), Schema)).Message);

    [Fact]
    public void InferenceIds_AreGivenDerivedOrGenerated()
    {
        Assert.Equal(["a", "b"], InferenceIds.For(2, ["a", "b"], "req"));
        Assert.Equal(["req"], InferenceIds.For(1, null, "req"));
        Assert.Equal(["req-0", "req-1"], InferenceIds.For(2, null, "req"));
        var generated = InferenceIds.For(3, null, null);
        Assert.Equal(3, generated.Distinct().Count());
        Assert.All(generated, id => Assert.True(Guid.TryParse(id, out _)));
    }

    [Fact]
    public void V2Inputs_AreColumns_AndShapesAreChecked()
    {
        var request = JsonSerializer.Deserialize<InferRequest>("""
            {"inputs": [{"name": "distance", "shape": [2, 1], "datatype": "FP32", "data": [[337], [740.5]]},
                        {"name": "origin", "shape": [2], "datatype": "BYTES", "data": ["SFO", "ORD"]}]}
            """, ServingJson.Options)!;
        var frame = OpenInferenceEndpoints.ToFrame(request);
        Assert.Equal(["distance", "origin"], frame.Columns);
        Assert.Equal(2, frame.Rows.Count);
        Assert.Equal("ORD", ((JsonElement)frame.Rows[1][1]!).GetString());

        var wrong = JsonSerializer.Deserialize<InferRequest>("""{"inputs": [{"name": "distance", "shape": [3], "datatype": "FP32", "data": [1, 2]}]}""", ServingJson.Options)!;
        Assert.Contains("input 'distance' has 2 values for shape [3]", Assert.Throws<ProblemException>(() => OpenInferenceEndpoints.ToFrame(wrong)).Message);
        var type = JsonSerializer.Deserialize<InferRequest>("""{"inputs": [{"name": "distance", "shape": [1], "datatype": "FLOAT", "data": [1]}]}""", ServingJson.Options)!;
        Assert.Contains("datatype 'FLOAT'", Assert.Throws<ProblemException>(() => OpenInferenceEndpoints.ToFrame(type)).Message);
    }

    private static void AssertFlights(DataTable table)
    {
        Assert.Equal(2, table.RowCount);
        Assert.Equal([337f, 740.5f], (float[])table["distance"].Values);
        Assert.Equal(new[] { "SFO", "ORD" }, ((string?[])table["origin"].Values).Select(s => s!).ToArray());
        Assert.Equal([false, true], (bool[])table["night"].Values);
        Assert.Equal(new DateTime(2001, 5, 3, 8, 15, 0, DateTimeKind.Utc), ((DateTime?[])table["date"].Values)[0]);
        Assert.Equal(DateTimeKind.Utc, ((DateTime?[])table["date"].Values)[1]!.Value.Kind);
    }
}
