using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Microsoft.Extensions.Options;

namespace Mlops.SageMaker;

/// <summary>Where SageMaker is and who calls it. Empty <see cref="ServiceUrl"/> means real SageMaker in <see cref="Region"/>.</summary>
public sealed class SageMakerOptions
{
    public const string Section = "SageMaker";
    /// <summary>A SageMaker-compatible endpoint (the local training service); otherwise <c>https://api.sagemaker.{region}.amazonaws.com</c>.</summary>
    public string? ServiceUrl { get; set; }
    /// <summary>The signing region; empty: the AWS region chain (AWS_REGION, profile, instance metadata), then us-east-1.</summary>
    public string? Region { get; set; }
    /// <summary>With <see cref="SecretKey"/>: fixed credentials; empty: the AWS credentials chain.</summary>
    public string? AccessKey { get; set; }
    public string? SecretKey { get; set; }
    /// <summary>Retries of a throttled or failed call (exponential back-off with jitter), after the first attempt.</summary>
    public int MaxRetries { get; set; } = 5;
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);
}

/// <summary>
/// SageMaker's training-job API over its JSON protocol (<c>X-Amz-Target: SageMaker.&lt;Action&gt;</c>, SigV4 service
/// <c>sagemaker</c>). Talks to real SageMaker and to the local training service alike. Errors throw <see cref="SageMakerException"/>;
/// throttling and server failures are retried with back-off first.
/// </summary>
public sealed class SageMakerClient(HttpClient http, IOptions<SageMakerOptions> options, TimeProvider? time = null)
{
    private readonly SageMakerOptions _options = options.Value;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lazy<string> _region = new(() => ResolveRegion(options.Value));

    public Task<CreateTrainingJobResponse> CreateTrainingJobAsync(CreateTrainingJobRequest request, CancellationToken ct = default) =>
        CallAsync<CreateTrainingJobRequest, CreateTrainingJobResponse>("CreateTrainingJob", request, ct);

    public Task<DescribeTrainingJobResponse> DescribeTrainingJobAsync(string trainingJobName, CancellationToken ct = default) =>
        CallAsync<DescribeTrainingJobRequest, DescribeTrainingJobResponse>("DescribeTrainingJob", new(trainingJobName), ct);

    public Task StopTrainingJobAsync(string trainingJobName, CancellationToken ct = default) =>
        CallAsync<StopTrainingJobRequest, JsonElement>("StopTrainingJob", new(trainingJobName), ct);

    public Task<ListTrainingJobsResponse> ListTrainingJobsAsync(ListTrainingJobsRequest request, CancellationToken ct = default) =>
        CallAsync<ListTrainingJobsRequest, ListTrainingJobsResponse>("ListTrainingJobs", request, ct);

    /// <summary>
    /// The job's log (stdout and stderr, one line each) from the local training service's <c>GET /jobs/{name}/logs</c>.
    /// Real SageMaker writes logs to CloudWatch Logs instead; this call is for the local service only.
    /// </summary>
    public Task<string> GetLocalTrainingJobLogAsync(string trainingJobName, CancellationToken ct = default) =>
        GetLocalAsync($"jobs/{Uri.EscapeDataString(trainingJobName)}/logs", ct);

    /// <summary>
    /// Every metric value the job's MetricDefinitions matched so far, in order, with its iteration when the line gave one
    /// (SageMaker's intermediate metrics, which tuning's early stopping reads), from the local training service's
    /// <c>GET /jobs/{name}/metrics</c>. Local service only.
    /// </summary>
    public async Task<IReadOnlyList<MetricValue>> GetLocalTrainingJobMetricsAsync(string trainingJobName, CancellationToken ct = default)
    {
        var body = await GetLocalAsync($"jobs/{Uri.EscapeDataString(trainingJobName)}/metrics", ct);
        return JsonSerializer.Deserialize<LocalMetrics>(body, SageMakerJson.Options)?.Metrics ?? [];
    }

    private sealed record LocalMetrics(IReadOnlyList<MetricValue> Metrics);

    private async Task<string> GetLocalAsync(string path, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Endpoint, path));
        await SignAsync(request, [], ct);
        using var response = await http.SendAsync(request, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
            throw SageMakerException.FromResponse((int)response.StatusCode, ErrorTypeHeader(response), body);
        return body;
    }

    /// <summary>The endpoint calls go to.</summary>
    public Uri Endpoint => new(string.IsNullOrWhiteSpace(_options.ServiceUrl)
        ? $"https://api.sagemaker.{_region.Value}.amazonaws.com/"
        : _options.ServiceUrl.TrimEnd('/') + "/");

    private async Task<TResponse> CallAsync<TRequest, TResponse>(string action, TRequest payload, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(payload, SageMakerJson.Options);
        for (var attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, Endpoint) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(SageMakerJson.ContentType);
            request.Headers.TryAddWithoutValidation(SageMakerJson.TargetHeader, SageMakerJson.TargetPrefix + action);
            await SignAsync(request, body, ct);

            SageMakerException error;
            try
            {
                using var response = await http.SendAsync(request, ct);
                var text = await response.Content.ReadAsStringAsync(ct);
                if (response.IsSuccessStatusCode)
                    return JsonSerializer.Deserialize<TResponse>(string.IsNullOrWhiteSpace(text) ? "{}" : text, SageMakerJson.Options)!;
                error = SageMakerException.FromResponse((int)response.StatusCode, ErrorTypeHeader(response), text);
            }
            catch (HttpRequestException e) when (attempt < _options.MaxRetries)
            {
                error = new SageMakerException(SageMakerErrors.InternalFailure, e.Message, 0);
            }
            if (!error.IsRetryable || attempt >= _options.MaxRetries)
                throw error;
            await Task.Delay(BackOff(attempt), _time, ct);
        }
    }

    // Full jitter over an exponential ceiling (AWS's recommended back-off), capped at 20 s.
    private TimeSpan BackOff(int attempt)
    {
        var ceiling = Math.Min(20_000, _options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt));
        return TimeSpan.FromMilliseconds(ceiling / 2 + Random.Shared.NextDouble() * ceiling / 2);
    }

    private async Task SignAsync(HttpRequestMessage request, byte[] body, CancellationToken ct)
    {
        var credentials = await ResolveCredentialsAsync(ct);
        var now = _time.GetUtcNow();
        var amzDate = now.UtcDateTime.ToString(SigV4.DateFormat, System.Globalization.CultureInfo.InvariantCulture);
        request.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
        if (!string.IsNullOrEmpty(credentials.Token))
            request.Headers.TryAddWithoutValidation("X-Amz-Security-Token", credentials.Token);

        var uri = request.RequestUri!;
        var headers = new List<KeyValuePair<string, string>> { new("host", uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}") };
        foreach (var header in request.Headers)
            headers.AddRange(header.Value.Select(v => new KeyValuePair<string, string>(header.Key, v)));
        if (request.Content is not null)
            foreach (var header in request.Content.Headers)
                headers.AddRange(header.Value.Select(v => new KeyValuePair<string, string>(header.Key, v)));

        var query = System.Web.HttpUtility.ParseQueryString(uri.Query);
        var queryPairs = query.AllKeys.Where(k => k is not null)
            .SelectMany(k => query.GetValues(k)!.Select(v => new KeyValuePair<string, string>(k!, v))).ToList();
        var signature = SigV4.Sign(new SigV4Request(request.Method.Method, Uri.UnescapeDataString(uri.AbsolutePath), queryPairs, headers, SigV4.Sha256Hex(body)),
            credentials.AccessKey, credentials.SecretKey, _region.Value, SageMakerJson.ServiceName, now);
        request.Headers.TryAddWithoutValidation("Authorization", signature.Authorization);
    }

    private async Task<ImmutableCredentials> ResolveCredentialsAsync(CancellationToken ct)
    {
        if (!string.IsNullOrEmpty(_options.AccessKey))
            return new ImmutableCredentials(_options.AccessKey, _options.SecretKey ?? "", null);
        ct.ThrowIfCancellationRequested();
        // The standard chain: environment, profile, web identity, ECS task role, instance metadata.
        var credentials = DefaultAWSCredentialsIdentityResolver.GetCredentials();
        return await credentials.GetCredentialsAsync();
    }

    private static string ResolveRegion(SageMakerOptions options) =>
        !string.IsNullOrWhiteSpace(options.Region) ? options.Region
        : FallbackRegionFactory.GetRegionEndpoint()?.SystemName ?? "us-east-1";

    private static string? ErrorTypeHeader(HttpResponseMessage response) =>
        response.Headers.TryGetValues("x-amzn-ErrorType", out var values) ? values.FirstOrDefault() : null;
}
