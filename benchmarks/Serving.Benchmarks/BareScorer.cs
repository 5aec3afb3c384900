using System.Diagnostics;
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
/// predictions. No authentication, routing, schema checks, inference ids, capture, metrics or traces.
/// </summary>
internal sealed class BareScorer(Process process, Uri address, string directory) : IAsyncDisposable
{
    public const string ServeFlag = "--bare-serve";

    public Uri Address { get; } = address;

    /// <summary>
    /// Fetches the package and starts this program again as the bare server: its own process, with the runtime settings
    /// Serving runs under (server GC, the default socket completions), so the two differ only in what the code does.
    /// </summary>
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
        var address = new Uri($"http://127.0.0.1:{Machine.FreePort()}/");
        var start = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
        // Run as `dotnet Serving.Benchmarks.dll` or as its own executable.
        var launcher = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? [typeof(BareScorer).Assembly.Location] : Array.Empty<string>();
        foreach (var arg in launcher.Concat([ServeFlag, directory, address.ToString()]))
            start.ArgumentList.Add(arg);
        start.Environment["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "0";
        start.Environment["DOTNET_gcServer"] = "1";
        var process = Process.Start(start)!;
        using var probe = new HttpClient { BaseAddress = address };
        for (var waited = Stopwatch.StartNew(); ; await Task.Delay(100))
        {
            try
            {
                if ((await probe.GetAsync("ready")).IsSuccessStatusCode)
                    break;
            }
            catch (HttpRequestException) when (waited.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
            {
            }
        }
        return new BareScorer(process, address, directory);
    }

    /// <summary>The bare server itself (the child process): load the package, serve until killed.</summary>
    public static async Task ServeAsync(string directory, string address)
    {
        using var package = ModelPackage.Load(directory);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(address);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/ready", () => Results.Ok());
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
        await app.RunAsync();
    }

    public ValueTask DisposeAsync()
    {
        try { process.Kill(); } catch (InvalidOperationException) { }
        process.Dispose();
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        return ValueTask.CompletedTask;
    }
}
