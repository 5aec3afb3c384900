using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;

namespace Mlops.PipelineRunner.Features.Pipelines;

/// <summary>Pipelines: upsert a definition (YAML or JSON) as a new immutable version, list, get versions.</summary>
public static partial class PipelineEndpoints
{
    private const int MaxDefinitionBytes = 1 << 20;

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$")]
    private static partial Regex PipelineName();

    public static RouteGroupBuilder MapPipelineEndpoints(this RouteGroupBuilder api)
    {
        var pipelines = api.MapGroup("/pipelines").WithTags("Pipelines");
        pipelines.MapPut("/{name}", UpsertPipeline).Accepts<string>("application/yaml", "application/json");
        pipelines.MapGet("/", ListPipelines);
        pipelines.MapGet("/{name}", GetPipeline);
        pipelines.MapGet("/{name}/versions", ListVersions);
        pipelines.MapGet("/{name}/versions/{version:int}", GetVersion);
        return pipelines;
    }

    /// <summary>
    /// Upserts: a definition that differs from the latest version becomes the next version (201); the same one answers
    /// the latest version (200). An invalid definition answers 400 listing every problem with its path, and stores nothing.
    /// </summary>
    internal static async Task<Results<Created<PipelineVersionResponse>, Ok<PipelineVersionResponse>>> UpsertPipeline(string name, HttpRequest http,
        PipelineStore store, ExecutionEngine engine, CancellationToken ct)
    {
        if (!PipelineName().IsMatch(name))
            throw ProblemException.BadRequest($"'{name}' is not a valid pipeline name (lowercase letters, digits, '-' and '_', at most 63).");
        var contentType = http.ContentType ?? "";
        var json = contentType.Contains("json", StringComparison.OrdinalIgnoreCase);
        if (!json && !contentType.Contains("yaml", StringComparison.OrdinalIgnoreCase) && !contentType.StartsWith("text/plain", StringComparison.OrdinalIgnoreCase))
            throw ProblemException.UnsupportedMediaType($"Content-Type '{contentType}' is not a pipeline definition.",
                ["application/yaml", "application/x-yaml", "text/yaml", "application/json"]);
        using var reader = new StreamReader(http.Body, Encoding.UTF8);
        var buffer = new char[MaxDefinitionBytes + 1];
        var read = await reader.ReadBlockAsync(buffer, ct);
        if (read > MaxDefinitionBytes)
            throw ProblemException.TooLarge($"A pipeline definition is at most {MaxDefinitionBytes} characters.");
        var source = new string(buffer, 0, read);

        var problems = new List<DefinitionProblem>();
        var document = DefinitionParser.ReadDocument(source, json, problems);
        var definition = problems.Count == 0 ? DefinitionParser.Bind(document, problems) : null;
        if (definition is not null)
        {
            DefinitionValidator.Validate(definition, problems);
            foreach (var step in definition.Steps.Append(definition.ExitHandler).OfType<StepDefinition>())
            {
                var path = step.Name == "exit_handler" ? "$.exit_handler" : $"$.steps.{step.Name}";
                if (StepTypes.All.TryGetValue(step.Type, out var t) && t.Available && !engine.CanRun(step.Type))
                    problems.Add(new($"{path}.type", $"Step type '{step.Type}' is defined but this build of the runner cannot run it yet."));
            }
        }
        if (problems.Count > 0)
            throw ExecutionEndpoints.Invalid($"The pipeline definition has {problems.Count} problem(s).", problems);

        var version = await store.UpsertAsync(name, document!, source, json ? "json" : "yaml", ct);
        return version.Created
            ? TypedResults.Created($"/api/pipelines/{name}/versions/{version.Version}", version)
            : TypedResults.Ok(version);
    }

    internal static async Task<Ok<List<PipelineSummary>>> ListPipelines(PipelineStore store, CancellationToken ct) =>
        TypedResults.Ok(await store.ListAsync(ct));

    internal static async Task<Results<Ok<PipelineVersionResponse>, ProblemHttpResult>> GetPipeline(string name, PipelineStore store, CancellationToken ct) =>
        await store.GetVersionAsync(name, null, ct) is { } v ? TypedResults.Ok(v) : Problems.NotFound($"Pipeline '{name}' does not exist.");

    internal static async Task<Results<Ok<List<PipelineVersionResponse>>, ProblemHttpResult>> ListVersions(string name, PipelineStore store,
        CancellationToken ct) =>
        await store.VersionsAsync(name, ct) is { Count: > 0 } versions ? TypedResults.Ok(versions) : Problems.NotFound($"Pipeline '{name}' does not exist.");

    internal static async Task<Results<Ok<PipelineVersionResponse>, ProblemHttpResult>> GetVersion(string name, int version, PipelineStore store,
        CancellationToken ct) =>
        await store.GetVersionAsync(name, version, ct) is { } v ? TypedResults.Ok(v) : Problems.NotFound($"Pipeline '{name}' has no version {version}.");
}
