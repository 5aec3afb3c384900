using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Mlops.ExperimentTracker.Client;
using Mlops.Benchmarks;
using Mlops.Trainer.Model;

namespace Mlops.Serving.Benchmarks;

/// <summary>
/// The floor for Serving's overhead: one ASP.NET minimal API route that reads MLflow's <c>dataframe_split</c>, scores the
/// rows with the same model package (<see cref="ModelPackage"/>, loaded from the registry's files) and writes the
/// predictions. No authentication, routing, schema checks, inference ids, capture or metrics.
/// </summary>
internal sealed class BareScorer(WebApplication app, Uri address, string directory) : IAsyncDisposable
{
    public Uri Address { get; } = address;

    public static async Task<BareScorer> StartAsync(TrackingClient tracker, string model, string version)
    {
        var uri = (await tracker.GetDownloadUriAsync(model, version)).TrimEnd('/');
        var directory = Path.Combine(Path.GetTempPath(), $"bare-scorer-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        foreach (var file in new[] { ModelManifest.FileName, ModelManifest.ModelFileName })
        {
            await using var source = await tracker.OpenArtifactUriAsync($"{uri}/{file}");
            await using var target = File.Create(Path.Combine(directory, file));
            await source.CopyToAsync(target);
        }
        var package = ModelPackage.Load(directory);

        var builder = WebApplication.CreateSlimBuilder();
        var address = new Uri($"http://127.0.0.1:{Machine.FreePort()}");
        builder.WebHost.UseUrls(address.ToString());
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapPost("/invocations", async (HttpContext http) =>
        {
            using var document = await JsonDocument.ParseAsync(http.Request.Body);
            var split = document.RootElement.GetProperty("dataframe_split");
            var columns = split.GetProperty("columns").EnumerateArray().Select(c => c.GetString()!).ToArray();
            var rows = split.GetProperty("data").EnumerateArray()
                .Select(r => (IReadOnlyDictionary<string, object?>)columns.Zip(r.EnumerateArray()).ToDictionary(p => p.First, p => (object?)p.Second))
                .ToList();
            var predictions = package.Score(rows);
            return Results.Json(new { predictions = predictions.Select(p => new { predicted_label = p.PredictedLabel, score = p.Score, probability = p.Probability }) });
        });
        await app.StartAsync();
        return new BareScorer(app, address, directory);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }
}
