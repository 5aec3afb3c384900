using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.Tests;

/// <summary>
/// Clarify's bias metrics on demand through the running monitor, over a planted biased dataset in the lake (the unit
/// tests' hand-checked example, ten times over: the metrics are ratios, so the values are the same), and its bad input.
/// </summary>
public sealed class MonitorBiasTests(PlatformFixture platform)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    [Fact]
    public async Task PlantedBias_GivesTheHandCheckedMetrics_AndAMissingFacetIs400NamingIt()
    {
        // Facet d (gender F): labels 1 0 0 0, predictions 1 1 0 0; facet a (M): labels 1 1 1 0 0 0, predictions 1 1 0 1 0 0.
        (string Gender, int Label, int Predicted)[] rows =
            [("F", 1, 1), ("F", 0, 1), ("F", 0, 0), ("F", 0, 0), ("M", 1, 1), ("M", 1, 1), ("M", 1, 0), ("M", 0, 1), ("M", 0, 0), ("M", 0, 0)];
        var csv = new StringBuilder("gender,approved,predicted,income\n");
        for (var k = 0; k < 10; k++)
            foreach (var (g, y, p) in rows) csv.Append($"{g},{y},{p},{(g == "F" ? 30 : 50) + k}\n");
        var key = $"monitor-it/bias-{Guid.NewGuid():N}.csv";
        using (var s3 = await platform.CreateS3ClientAsync())
            await new ObjectStore(s3).PutAsync(ResourceNames.LakeBucket, key, new MemoryStream(Encoding.UTF8.GetBytes(csv.ToString())), "text/csv");
        var uri = $"s3://{ResourceNames.LakeBucket}/{key}";
        using var client = platform.CreateClient(ResourceNames.Monitor);

        var response = await client.PostAsJsonAsync("/api/bias", new
        {
            dataset = new { uri }, facet = new { column = "gender", sensitive_values = new[] { "F" } },
            label = new { column = "approved", positive_values = new[] { "1" } }, predicted_label = "predicted",
        }, Json);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var report = JsonNode.Parse(text)!;
        Assert.Equal(40, (long)report["rows"]!["facet_d"]!);
        Assert.Equal(60, (long)report["rows"]!["facet_a"]!);
        var pre = report["pre_training"]!;
        Assert.Equal(0.2, (double)pre["CI"]!, 12);
        Assert.Equal(0.25, (double)pre["DPL"]!, 12);
        Assert.Equal(0.5 * Math.Log(0.5 / 0.75) + 0.5 * Math.Log(0.5 / 0.25), (double)pre["KL"]!, 12);
        Assert.Equal(0.25, (double)pre["TVD"]!, 12);
        Assert.Equal(0.25, (double)pre["KS"]!, 12);
        Assert.Equal(Math.Sqrt(0.125), (double)pre["LP"]!, 12);
        Assert.Equal(0.25, (double)pre["CDDL"]!, 12);
        var post = report["post_training"]!;
        Assert.Equal(0, (double)post["DPPL"]!, 12);
        Assert.Equal(1, (double)post["DI"]!, 12);
        Assert.Equal(0.5, (double)post["DCAcc"]!, 12);
        Assert.Equal(0.5, (double)post["DCR"]!, 12);
        Assert.Equal(-1 / 3.0, (double)post["RD"]!, 12);
        Assert.Equal(1 / 6.0, (double)post["DAR"]!, 12);
        Assert.Equal(1 / 3.0, (double)post["DRR"]!, 12);
        Assert.Equal(-1 / 12.0, (double)post["AD"]!, 12);
        Assert.Equal(-1, (double)post["TE"]!, 12);

        // A threshold facet: income above 54 is facet d (k = 5 … 9 of the M rows: 30 rows).
        var byIncome = await client.PostAsJsonAsync("/api/bias", new
        {
            dataset = new { uri }, facet = new { column = "income", threshold = 54 }, label = new { column = "approved", positive_values = new[] { "1" } },
        }, Json);
        Assert.Equal(HttpStatusCode.OK, byIncome.StatusCode);
        Assert.Equal(30, (long)JsonNode.Parse(await byIncome.Content.ReadAsStringAsync())!["rows"]!["facet_d"]!);

        await AssertProblemAsync(await client.PostAsJsonAsync("/api/bias", new
        {
            dataset = new { uri }, facet = new { column = "sex", sensitive_values = new[] { "F" } }, label = new { column = "approved", positive_values = new[] { "1" } },
        }, Json), "'facet.column' names 'sex'");
        await AssertProblemAsync(await client.PostAsJsonAsync("/api/bias", new
        {
            dataset = new { uri }, facet = new { column = "gender", sensitive_values = new[] { "X" } }, label = new { column = "approved", positive_values = new[] { "1" } },
        }, Json), "sensitive value(s) 'X'");
        await AssertProblemAsync(await client.PostAsJsonAsync("/api/bias", new
        {
            dataset = new { uri }, facet = new { column = "gender" }, label = new { column = "approved", threshold = 0.5, positive_values = new[] { "1" } },
        }, Json), "'facet.sensitive_values'");
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, string mentions)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(mentions, (string?)JsonNode.Parse(body)!["detail"]);
    }
}
