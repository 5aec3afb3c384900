using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;
using Mlops.PipelineRunner.Features.Pipelines;
using Npgsql;

namespace Mlops.PipelineRunner.Features.Triggers;

/// <summary>Starts an execution for a schedule or an event trigger, inside the transaction that claims the occurrence or event.</summary>
public sealed class TriggerStarts(PipelineStore pipelines, ExecutionStore executions)
{
    /// <summary>
    /// The new execution's id, or the reason none started (the pipeline or pinned version is gone, or the parameters do not
    /// fit the version): the caller records it, since a schedule or an event cannot answer a 400.
    /// </summary>
    public async Task<(Guid? ExecutionId, string? Error)> StartAsync(NpgsqlTransaction tx, string pipeline, int? version, JsonObject parameters,
        string startedBy, CancellationToken ct)
    {
        var stored = await pipelines.GetVersionAsync(pipeline, version, ct);
        if (stored is null)
            return (null, version is { } v ? $"Pipeline '{pipeline}' has no version {v}." : $"Pipeline '{pipeline}' does not exist.");
        var definition = pipelines.Bind(pipeline, stored.Version, stored.Definition);
        var problems = new List<DefinitionProblem>();
        var resolved = ParameterValues.Resolve(definition, parameters, problems);
        if (problems.Count > 0)
            return (null, $"The parameters do not fit {pipeline} v{stored.Version}: " + string.Join("; ", problems.Select(p => $"{p.Path}: {p.Message}")));

        var id = Guid.CreateVersion7();
        await ExecutionEndpoints.InsertExecutionAsync(tx, id, pipeline, stored.Version, resolved, null, startedBy, ct);
        await ExecutionEndpoints.BeginAsync(tx, executions, id, pipeline, stored.Version, startedBy, ct);
        return (id, null);
    }

    /// <summary>Problems of parameters against the pipeline (the pinned version, or the latest): unknown names and, for literal values, types.</summary>
    public async Task<List<DefinitionProblem>> CheckAsync(string pipeline, int? version, JsonObject? parameters, bool mapped, CancellationToken ct)
    {
        var stored = await pipelines.GetVersionAsync(pipeline, version, ct)
            ?? throw (version is { } v
                ? ProblemException.BadRequest($"Pipeline '{pipeline}' has no version {v}.")
                : ProblemException.NotFound($"Pipeline '{pipeline}' does not exist."));
        var definition = pipelines.Bind(pipeline, stored.Version, stored.Definition);
        var problems = new List<DefinitionProblem>();
        if (!mapped)
        {
            ParameterValues.Resolve(definition, parameters, problems);
            return problems;
        }
        // Mapped values are known only when an event arrives; names are checked now, types then.
        foreach (var (name, _) in parameters ?? [])
            if (definition.Parameters.All(p => p.Name != name))
                problems.Add(new($"$.parameters.{name}", $"Pipeline '{pipeline}' v{stored.Version} has no parameter '{name}'."));
        return problems;
    }
}
