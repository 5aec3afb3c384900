using System.Text.Json;
using Mlops.SageMaker;
using Mlops.TrainingService.Jobs;

namespace Mlops.TrainingService.Api;

/// <summary>
/// SageMaker's JSON protocol at <c>POST /</c> (the action in <c>X-Amz-Target</c>), plus what CloudWatch would serve for a job:
/// its log and its metric series. Every route verifies SigV4; every error is SageMaker's error JSON, never a bare 500.
/// </summary>
public static class SageMakerEndpoints
{
    private const int MaxBodyBytes = 1024 * 1024;

    public static void MapSageMakerEndpoints(this WebApplication app)
    {
        app.MapPost("/", HandleActionAsync);
        app.MapGet("/jobs/{name}/logs", GetLogAsync);
        app.MapGet("/jobs/{name}/metrics", GetMetricsAsync);
    }

    private static async Task<IResult> HandleActionAsync(HttpContext context, SigV4Verifier verifier, JobRunner jobs)
    {
        var body = await ReadBodyAsync(context.Request);
        if (body is null)
            return Error(context, ApiError.Validation($"The request body must be at most {MaxBodyBytes} bytes."));
        if (verifier.Verify(context.Request, body) is { } denied)
            return Error(context, denied);

        string? target = context.Request.Headers[SageMakerJson.TargetHeader];
        if (target is null || !target.StartsWith(SageMakerJson.TargetPrefix, StringComparison.Ordinal))
            return Error(context, new(400, SageMakerErrors.UnknownOperationException,
                $"The X-Amz-Target header must be 'SageMaker.<Action>'; got '{target}'."));
        try
        {
            return target[SageMakerJson.TargetPrefix.Length..] switch
            {
                "CreateTrainingJob" => Json(jobs.Create(Read<CreateTrainingJobRequest>(body))),
                "DescribeTrainingJob" => Json(jobs.Describe(Read<DescribeTrainingJobRequest>(body).TrainingJobName)),
                "StopTrainingJob" => Stop(jobs, Read<StopTrainingJobRequest>(body)),
                "ListTrainingJobs" => Json(jobs.List(Read<ListTrainingJobsRequest>(body))),
                var action => Error(context, new(400, SageMakerErrors.UnknownOperationException,
                    $"Operation '{action}' is not served here; this training service serves CreateTrainingJob, DescribeTrainingJob, StopTrainingJob and ListTrainingJobs.")),
            };
        }
        catch (ApiException e)
        {
            return Error(context, e.Error);
        }
        catch (JsonException e) when (e.Message.Contains("missing required properties", StringComparison.Ordinal))
        {
            // System.Text.Json names the missing members, as SageMaker's "Member must not be null" does.
            return Error(context, ApiError.Validation(e.Message));
        }
        catch (JsonException e)
        {
            return Error(context, new(400, SageMakerErrors.SerializationException, $"The request body is not valid JSON for {target}: {e.Message}"));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A bug, but still answered in SageMaker's shape so clients report it rather than choke on it.
            Logger(context).LogError(e, "Unexpected failure serving {Target}", target);
            return Error(context, new(500, SageMakerErrors.InternalFailure, "The training service failed to serve the request: " + e.Message));
        }
    }

    private static ILogger Logger(HttpContext context) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Mlops.TrainingService.Api");

    private static IResult Stop(JobRunner jobs, StopTrainingJobRequest request)
    {
        jobs.Stop(request.TrainingJobName);
        return Json(new { });
    }

    private static async Task<IResult> GetLogAsync(string name, HttpContext context, SigV4Verifier verifier, JobRunner jobs, JobStore store)
    {
        if (Authenticate(context, verifier, jobs, name) is { } denied)
            return denied;
        var path = store.LogPath(name);
        if (!File.Exists(path))
            return TypedResults.Text("", "text/plain; charset=utf-8");
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(file);
        return TypedResults.Text(await reader.ReadToEndAsync(context.RequestAborted), "text/plain; charset=utf-8");
    }

    /// <summary>Every metric value scraped so far (SageMaker's intermediate metrics) with its time and iteration.</summary>
    private static async Task<IResult> GetMetricsAsync(string name, HttpContext context, SigV4Verifier verifier, JobRunner jobs, JobStore store)
    {
        if (Authenticate(context, verifier, jobs, name) is { } denied)
            return denied;
        var path = store.MetricsPath(name);
        var metrics = new List<MetricValue>();
        if (File.Exists(path))
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(file);
            while (await reader.ReadLineAsync(context.RequestAborted) is { } line)
                if (line.Length > 0 && line[^1] == '}')
                    metrics.Add(JsonSerializer.Deserialize<MetricValue>(line, SageMakerJson.Options)!);
        }
        return Json(new { TrainingJobName = name, Metrics = metrics });
    }

    private static IResult? Authenticate(HttpContext context, SigV4Verifier verifier, JobRunner jobs, string name)
    {
        if (verifier.Verify(context.Request, []) is { } denied)
            return Error(context, denied);
        try
        {
            jobs.Describe(name);
            return null;
        }
        catch (ApiException e)
        {
            return Error(context, e.Error);
        }
    }

    private static T Read<T>(byte[] body) =>
        JsonSerializer.Deserialize<T>(body.Length == 0 ? "{}"u8 : body, SageMakerJson.Options)
        ?? throw new ApiException(ApiError.Validation("The request body must be a JSON object."));

    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
                return null;
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static IResult Json<T>(T value) =>
        TypedResults.Text(JsonSerializer.Serialize(value, SageMakerJson.Options), SageMakerJson.ContentType);

    private static IResult Error(HttpContext context, ApiError error)
    {
        context.Response.Headers["x-amzn-ErrorType"] = error.Type;
        context.Response.Headers["x-amzn-RequestId"] = context.TraceIdentifier;
        return TypedResults.Text(JsonSerializer.Serialize(new SageMakerErrorBody(error.Type, error.Message)), SageMakerJson.ContentType,
            statusCode: error.StatusCode);
    }
}
