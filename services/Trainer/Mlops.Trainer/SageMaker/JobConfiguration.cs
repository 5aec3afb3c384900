using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mlops.Trainer.SageMaker;

/// <summary>One entry of inputdataconfig.json, as SageMaker writes it.</summary>
public sealed record ChannelConfig(
    [property: JsonPropertyName("ContentType")] string? ContentType,
    [property: JsonPropertyName("TrainingInputMode")] string? TrainingInputMode,
    [property: JsonPropertyName("S3DistributionType")] string? S3DistributionType,
    [property: JsonPropertyName("RecordWrapperType")] string? RecordWrapperType);

/// <summary>resourceconfig.json, as SageMaker writes it.</summary>
public sealed record ResourceConfig(
    [property: JsonPropertyName("current_host")] string CurrentHost,
    [property: JsonPropertyName("hosts")] IReadOnlyList<string> Hosts);

/// <summary>The three files under input/config, read and checked.</summary>
public sealed record JobConfiguration(
    IReadOnlyDictionary<string, string> Hyperparameters,
    IReadOnlyDictionary<string, ChannelConfig>? Channels,
    ResourceConfig? Resources)
{
    public static JobConfiguration Read(TrainingLayout layout)
    {
        var hyperparameters = ReadHyperparameters(layout.HyperparametersPath);
        var channels = File.Exists(layout.InputDataConfigPath)
            ? ReadJson<Dictionary<string, ChannelConfig>>(layout.InputDataConfigPath)
            : null;
        foreach (var (name, channel) in channels ?? [])
        {
            // FastFile streams from S3 behind an ordinary file system, so it reads like File; Pipe does not.
            if (channel.TrainingInputMode is { } mode && !mode.Equals("File", StringComparison.OrdinalIgnoreCase) && !mode.Equals("FastFile", StringComparison.OrdinalIgnoreCase))
            {
                throw new TrainerException(
                    $"Channel '{name}' uses TrainingInputMode '{mode}'; this trainer reads files only. Valid choices: File, FastFile.");
            }
        }

        var resources = File.Exists(layout.ResourceConfigPath) ? ReadJson<ResourceConfig>(layout.ResourceConfigPath) : null;
        if (resources is { Hosts.Count: > 1 })
        {
            throw new TrainerException(
                $"resourceconfig.json lists {resources.Hosts.Count} hosts; this trainer runs on one instance. Set InstanceCount to 1.");
        }

        return new JobConfiguration(hyperparameters, channels, resources);
    }

    /// <summary>
    /// SageMaker passes every hyperparameter as a JSON string; a local run that passes numbers would behave
    /// differently in production, so anything else is refused here.
    /// </summary>
    private static Dictionary<string, string> ReadHyperparameters(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        var document = ReadJson<Dictionary<string, JsonElement>>(path);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in document)
        {
            if (value.ValueKind != JsonValueKind.String)
            {
                throw new TrainerException(
                    $"hyperparameters.json: '{key}' is a JSON {value.ValueKind.ToString().ToLowerInvariant()}; "
                    + $"SageMaker passes every hyperparameter as a string, so write \"{key}\": \"{value.GetRawText()}\".");
            }

            result[key] = value.GetString()!;
        }

        return result;
    }

    private static T ReadJson<T>(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path))
                ?? throw new TrainerException($"{Path.GetFileName(path)} is empty (null).");
        }
        catch (JsonException e)
        {
            throw new TrainerException($"{Path.GetFileName(path)} is not valid JSON: {e.Message}", e);
        }
    }
}
