using System.Text.RegularExpressions;
using Mlops.SageMaker;
using Mlops.TrainingService.Api;

namespace Mlops.TrainingService.Jobs;

/// <summary>CreateTrainingJob's constraints, as SageMaker words its validation errors, plus what a local single host cannot do.</summary>
public static partial class JobValidation
{
    [GeneratedRegex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
    private static partial Regex JobName();

    [GeneratedRegex("^[A-Za-z0-9\\.\\-_]{1,64}$")]
    private static partial Regex ChannelName();

    public static void ValidateName(string? name)
    {
        if (string.IsNullOrEmpty(name) || !JobName().IsMatch(name))
            throw Invalid($"Value '{name}' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}");
    }

    /// <summary>Throws a ValidationException naming the first field that is wrong; returns the image the job runs.</summary>
    public static TrainingImage Validate(CreateTrainingJobRequest request, IReadOnlyList<TrainingImage> images)
    {
        ValidateName(request.TrainingJobName);
        var algorithm = request.AlgorithmSpecification;
        if (string.IsNullOrEmpty(algorithm.TrainingImage))
            throw Invalid("AlgorithmSpecification.TrainingImage is required: this service runs training images only (no AlgorithmName).");
        var image = images.FirstOrDefault(i => i.Matches(algorithm.TrainingImage))
            ?? throw Invalid($"TrainingImage '{algorithm.TrainingImage}' is not one this training service can run. Configured images: " +
                string.Join(", ", images.Select(i => i.Name)) + ".");
        if (algorithm.TrainingInputMode is not ("File" or "FastFile"))
            throw Invalid($"Value '{algorithm.TrainingInputMode}' at 'algorithmSpecification.trainingInputMode' is not supported here: use File or FastFile (Pipe is not emulated).");
        foreach (var (metric, index) in (algorithm.MetricDefinitions ?? []).Select((m, i) => (m, i)))
        {
            if (string.IsNullOrEmpty(metric.Name) || string.IsNullOrEmpty(metric.Regex))
                throw Invalid($"AlgorithmSpecification.MetricDefinitions[{index}] needs a Name and a Regex.");
            try
            {
                _ = new Regex(metric.Regex);
            }
            catch (ArgumentException e)
            {
                throw Invalid($"AlgorithmSpecification.MetricDefinitions[{index}].Regex '{metric.Regex}' is not a valid regular expression: {e.Message}");
            }
        }
        if (algorithm.MetricDefinitions?.Count > 40)
            throw Invalid("AlgorithmSpecification.MetricDefinitions: at most 40 metric definitions.");

        var channels = request.InputDataConfig ?? [];
        foreach (var channel in channels)
        {
            if (!ChannelName().IsMatch(channel.ChannelName ?? ""))
                throw Invalid($"Channel name '{channel.ChannelName}' failed to satisfy constraint: ^[A-Za-z0-9\\.\\-_]+$ (1 to 64 characters).");
            var s3 = channel.DataSource?.S3DataSource
                ?? throw Invalid($"Channel '{channel.ChannelName}': DataSource.S3DataSource is required (file system sources are not emulated).");
            if (s3.S3DataType != "S3Prefix")
                throw Invalid($"Channel '{channel.ChannelName}': S3DataType '{s3.S3DataType}' is not supported here; use S3Prefix.");
            if (S3Location.TryParse(s3.S3Uri) is null)
                throw Invalid($"Channel '{channel.ChannelName}': S3Uri '{s3.S3Uri}' is not an s3://bucket/prefix URI.");
            if (channel.CompressionType is not (null or "None"))
                throw Invalid($"Channel '{channel.ChannelName}': CompressionType '{channel.CompressionType}' is not supported here; use None.");
        }
        var duplicate = channels.GroupBy(c => c.ChannelName).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw Invalid($"Channel names must be unique: '{duplicate.Key}' is given {duplicate.Count()} times.");

        if (S3Location.TryParse(request.OutputDataConfig.S3OutputPath) is null)
            throw Invalid($"OutputDataConfig.S3OutputPath '{request.OutputDataConfig.S3OutputPath}' is not an s3://bucket/prefix URI.");
        if (request.ResourceConfig.InstanceCount != 1)
            throw Invalid($"ResourceConfig.InstanceCount {request.ResourceConfig.InstanceCount}: the local training service runs single-instance jobs; use 1.");
        if (request.ResourceConfig.VolumeSizeInGB < 1)
            throw Invalid("ResourceConfig.VolumeSizeInGB must be at least 1.");
        if (request.StoppingCondition.MaxRuntimeInSeconds is < 1)
            throw Invalid("StoppingCondition.MaxRuntimeInSeconds must be at least 1.");
        if (string.IsNullOrEmpty(request.RoleArn))
            throw Invalid("RoleArn is required.");
        foreach (var (key, value) in request.HyperParameters ?? new Dictionary<string, string>())
            if (key.Length > 256 || value is null || value.Length > 2500)
                throw Invalid($"HyperParameters: key '{key}' must have at most 256 characters and a string value of at most 2500.");
        return image;
    }

    private static ApiException Invalid(string message) => new(ApiError.Validation(message));
}

/// <summary>An <c>s3://bucket/key-prefix</c> URI.</summary>
public sealed record S3Location(string Bucket, string Prefix)
{
    public static S3Location? TryParse(string? uri)
    {
        if (uri is null || !uri.StartsWith("s3://", StringComparison.Ordinal))
            return null;
        var rest = uri["s3://".Length..];
        var slash = rest.IndexOf('/');
        var bucket = slash < 0 ? rest : rest[..slash];
        return bucket.Length == 0 ? null : new S3Location(bucket, slash < 0 ? "" : rest[(slash + 1)..]);
    }

    public override string ToString() => $"s3://{Bucket}/{Prefix}";
}
