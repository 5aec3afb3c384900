using System.Net;
using System.Text;
using System.Text.Json;
using Mlops.ServiceDefaults.Data;

namespace Mlops.Tests;

/// <summary>The rest of MLflow's model registry (rename, update, tags, aliases, stages, version search, download URI) and the audit trail.</summary>
public sealed partial class ExperimentTrackerTests
{
    [Fact]
    public async Task Registry_RenameDescribeTagAliasStageSearchDelete_WithAuditTrailAndEvents()
    {
        var name = Unique("registry-full");
        await PostAsync("registered-models/create", new { name });
        var experiment = await CreateExperimentAsync(Unique("registry-runs"));
        var runA = await CreateRunAsync(experiment);
        var runB = await CreateRunAsync(experiment);
        await PostAsync("model-versions/create", new { name, source = $"runs:/{runA}/model", run_id = runA });
        await PostAsync("model-versions/create", new { name, source = $"mlflow-artifacts:/{experiment}/{runB}/artifacts/model", run_id = runB });
        await PostAsync("model-versions/create", new { name, source = "s3://elsewhere/model" });

        // Rename: versions follow; the old name is gone; a taken name is refused.
        var renamed = $"{name}-renamed";
        var afterRename = (await PostAsync("registered-models/rename", new { name, new_name = renamed })).GetProperty("registered_model");
        Assert.Equal(renamed, afterRename.GetProperty("name").GetString());
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/registered-models/get?name={name}"));
        Assert.Equal(renamed, (await GetAsync($"model-versions/get?name={renamed}&version=2")).GetProperty("model_version").GetProperty("name").GetString());
        var other = Unique("taken");
        await PostAsync("registered-models/create", new { name = other });
        await AssertErrorAsync(HttpStatusCode.BadRequest, "RESOURCE_ALREADY_EXISTS", Post("registered-models/rename", new { name = renamed, new_name = other }));
        name = renamed;

        // Descriptions (PATCH) and tags on the model and a version.
        var described = (await ReadOkAsync(await Send(HttpMethod.Patch, "registered-models/update", new { name, description = "delay model" })))
            .GetProperty("registered_model");
        Assert.Equal("delay model", described.GetProperty("description").GetString());
        var v2 = (await ReadOkAsync(await Send(HttpMethod.Patch, "model-versions/update", new { name, version = "2", description = "retrained" })))
            .GetProperty("model_version");
        Assert.Equal("retrained", v2.GetProperty("description").GetString());
        await PostAsync("registered-models/set-tag", new { name, key = "team", value = "ml" });
        await PostAsync("model-versions/set-tag", new { name, version = "2", key = "gate", value = "passed" });
        await PostAsync("model-versions/set-tag", new { name, version = "3", key = "gate", value = "failed" });
        Assert.Equal("ml", Tag((await GetAsync($"registered-models/get?name={name}")).GetProperty("registered_model"), "team"));
        await ReadOkAsync(await Send(HttpMethod.Delete, "registered-models/delete-tag", new { name, key = "team" }));
        Assert.Null(Tag((await GetAsync($"registered-models/get?name={name}")).GetProperty("registered_model"), "team"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Send(HttpMethod.Delete, "registered-models/delete-tag", new { name, key = "team" }));

        // Aliases, acting as a named person.
        await ReadOkAsync(await Send(HttpMethod.Post, "registered-models/alias", new { name, alias = "champion", version = "1" }, actor: "alice"));
        await ReadOkAsync(await Send(HttpMethod.Post, "registered-models/alias", new { name, alias = "champion", version = "2" }, actor: "bob"));
        var champion = (await GetAsync($"registered-models/alias?name={name}&alias=champion")).GetProperty("model_version");
        Assert.Equal("2", champion.GetProperty("version").GetString());
        Assert.Equal(["champion"], Names(champion, "aliases", a => a.GetString()!));
        var withAliases = (await GetAsync($"registered-models/get?name={name}")).GetProperty("registered_model");
        Assert.Equal([("champion", "2")], Names(withAliases, "aliases", a => (a.GetProperty("alias").GetString()!, a.GetProperty("version").GetString()!)));
        foreach (var reserved in new[] { "latest", "v3", "bad alias" })
            await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("registered-models/alias", new { name, alias = reserved, version = "1" }));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Post("registered-models/alias", new { name, alias = "x", version = "9" }));
        await ReadOkAsync(await _client.DeleteAsync($"{Api}/registered-models/alias?name={name}&alias=champion"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/registered-models/alias?name={name}&alias=champion"));

        // Stages: Production for 1, then 2 with archive_existing_versions archives 1.
        var v1 = (await PostAsync("model-versions/transition-stage", new { name, version = "1", stage = "production", archive_existing_versions = false }))
            .GetProperty("model_version");
        Assert.Equal("Production", v1.GetProperty("current_stage").GetString());
        await ReadOkAsync(await Send(HttpMethod.Post, "model-versions/transition-stage",
            new { name, version = "2", stage = "Production", archive_existing_versions = true }, actor: "carol"));
        Assert.Equal("Archived", (await GetAsync($"model-versions/get?name={name}&version=1")).GetProperty("model_version").GetProperty("current_stage").GetString());
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE",
            Post("model-versions/transition-stage", new { name, version = "3", stage = "Archived", archive_existing_versions = true }));
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("model-versions/transition-stage", new { name, version = "3", stage = "Live" }));
        var production = await PostAsync("registered-models/get-latest-versions", new { name, stages = new[] { "Production" } });
        Assert.Equal(["2"], Names(production, "model_versions", v => v.GetProperty("version").GetString()!));
        var everyStage = await GetAsync($"registered-models/get-latest-versions?name={name}");
        Assert.Equal(["1", "2", "3"], Names(everyStage, "model_versions", v => v.GetProperty("version").GetString()!).Order());

        // Version search: MLflow's grammar over name, run_id, tags; order and pages.
        var byName = await GetAsync($"model-versions/search?filter={Uri.EscapeDataString($"name = '{name}'")}&order_by=version_number%20ASC&max_results=2");
        Assert.Equal(["1", "2"], Names(byName, "model_versions", v => v.GetProperty("version").GetString()!));
        var page2 = await GetAsync($"model-versions/search?filter={Uri.EscapeDataString($"name = '{name}'")}&order_by=version_number%20ASC&max_results=2&page_token={Uri.EscapeDataString(byName.GetProperty("next_page_token").GetString()!)}");
        Assert.Equal(["3"], Names(page2, "model_versions", v => v.GetProperty("version").GetString()!));
        var byRun = await GetAsync($"model-versions/search?filter={Uri.EscapeDataString($"run_id IN ('{runA}', '{runB}')")}");
        Assert.Equal(["1", "2"], Names(byRun, "model_versions", v => v.GetProperty("version").GetString()!).Order());
        var byTag = await GetAsync($"model-versions/search?filter={Uri.EscapeDataString($"name = '{name}' AND tags.gate = 'passed'")}");
        Assert.Equal(["2"], Names(byTag, "model_versions", v => v.GetProperty("version").GetString()!));
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", _client.GetAsync($"{Api}/model-versions/search?filter={Uri.EscapeDataString("metrics.acc > 1")}"));

        // Download URIs: a runs:/ source resolves to the run's artifacts.
        Assert.Equal($"mlflow-artifacts:/{experiment}/{runA}/artifacts/model",
            (await GetAsync($"model-versions/get-download-uri?name={name}&version=1")).GetProperty("artifact_uri").GetString());
        Assert.Equal("s3://elsewhere/model", (await GetAsync($"model-versions/get-download-uri?name={name}&version=3")).GetProperty("artifact_uri").GetString());

        // Deleting a version with an alias on it takes the alias along.
        await ReadOkAsync(await Send(HttpMethod.Post, "registered-models/alias", new { name, alias = "challenger", version = "3" }));
        await ReadOkAsync(await Send(HttpMethod.Delete, "model-versions/delete", new { name, version = "3" }));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/model-versions/get?name={name}&version=3"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/registered-models/alias?name={name}&alias=challenger"));
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", _client.GetAsync($"{Api}/model-versions/get?name={name}&version=one"));

        // The audit trail names who did what, newest first.
        var audit = JsonDocument.Parse(await _client.GetStringAsync($"/api/registry/audit?name={Uri.EscapeDataString(name)}")).RootElement.GetProperty("entries")
            .EnumerateArray().ToList();
        var aliasMoves = audit.Where(e => e.GetProperty("action").GetString() == "set_alias" && e.GetProperty("details").GetProperty("alias").GetString() == "champion").ToList();
        Assert.Equal(2, aliasMoves.Count);
        Assert.StartsWith("bob", aliasMoves[0].GetProperty("actor").GetString());
        Assert.Equal("1", aliasMoves[0].GetProperty("details").GetProperty("previous_version").GetString());
        Assert.StartsWith("alice", aliasMoves[1].GetProperty("actor").GetString());
        var stageChange = audit.First(e => e.GetProperty("action").GetString() == "transition_stage" && e.GetProperty("version").GetString() == "2");
        Assert.StartsWith("carol", stageChange.GetProperty("actor").GetString());
        Assert.Equal("None", stageChange.GetProperty("details").GetProperty("from").GetString());
        Assert.Equal(["1"], stageChange.GetProperty("details").GetProperty("archived_versions").EnumerateArray().Select(v => v.GetString()).ToList());
        Assert.Contains(audit, e => e.GetProperty("action").GetString() == "rename_registered_model");
        Assert.Contains(audit, e => e.GetProperty("action").GetString() == "delete_model_version" && e.GetProperty("version").GetString() == "3");
        using (var badAudit = await _client.GetAsync("/api/registry/audit?version=2"))
            Assert.Equal(HttpStatusCode.BadRequest, badAudit.StatusCode);

        // Events through the outbox: alias set x2, deleted x1, removed with its version x1; two stage changes.
        await using var db = await platform.OpenDatabaseAsync(ResourceNames.ExperimentTracker);
        await using var events = db.Command(
            """
            SELECT message_type, body->>'alias', body->>'version', body->>'toStage', body->'archivedVersions' FROM outbox_messages
            WHERE message_type IN ('Mlops.Contracts.ModelAliasChanged', 'Mlops.Contracts.ModelVersionStageChanged') AND body->>'name' = @name
            ORDER BY sequence
            """, null, ("name", name));
        var rows = new List<string>();
        await using (var reader = await events.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                rows.Add(string.Join("|", Enumerable.Range(0, 5).Select(i => reader.IsDBNull(i) ? "-" : reader.GetValue(i).ToString()!.Replace("Mlops.Contracts.", ""))));
        Assert.Equal([
            "ModelAliasChanged|champion|1|-|-", "ModelAliasChanged|champion|2|-|-", "ModelAliasChanged|champion|-|-|-",
            "ModelVersionStageChanged|-|1|Production|[]", "ModelVersionStageChanged|-|2|Production|[\"1\"]",
            "ModelAliasChanged|challenger|3|-|-", "ModelAliasChanged|challenger|-|-|-"], rows);
    }

    // Field names and JSON types of MLflow's REST API reference (ModelVersion, RegisteredModel, RegisteredModelAlias).
    private static readonly Dictionary<string, JsonValueKind> ModelVersionFields = new()
    {
        ["name"] = JsonValueKind.String, ["version"] = JsonValueKind.String, ["creation_timestamp"] = JsonValueKind.Number,
        ["last_updated_timestamp"] = JsonValueKind.Number, ["user_id"] = JsonValueKind.String, ["current_stage"] = JsonValueKind.String,
        ["description"] = JsonValueKind.String, ["source"] = JsonValueKind.String, ["run_id"] = JsonValueKind.String,
        ["status"] = JsonValueKind.String, ["status_message"] = JsonValueKind.String, ["tags"] = JsonValueKind.Array,
        ["run_link"] = JsonValueKind.String, ["aliases"] = JsonValueKind.Array,
    };
    private static readonly Dictionary<string, JsonValueKind> RegisteredModelFields = new()
    {
        ["name"] = JsonValueKind.String, ["creation_timestamp"] = JsonValueKind.Number, ["last_updated_timestamp"] = JsonValueKind.Number,
        ["user_id"] = JsonValueKind.String, ["description"] = JsonValueKind.String, ["latest_versions"] = JsonValueKind.Array,
        ["tags"] = JsonValueKind.Array, ["aliases"] = JsonValueKind.Array,
    };

    [Fact]
    public async Task Registry_ResponsesHaveMlflowsDocumentedShapes()
    {
        var name = Unique("shapes");
        await PostAsync("registered-models/create", new { name, description = "d", tags = new[] { new { key = "k", value = "v" } } });
        var runId = await CreateRunAsync(await CreateExperimentAsync(Unique("shapes")));
        await PostAsync("model-versions/create", new { name, source = $"runs:/{runId}/model", run_id = runId, description = "first", tags = new[] { new { key = "k", value = "v" } } });
        await PostAsync("registered-models/alias", new { name, alias = "champion", version = "1" });

        AssertShape(RegisteredModelFields, Only(await PostAsync("registered-models/rename", new { name, new_name = name + "-2" }), "registered_model"));
        name += "-2";
        var model = Only(await GetAsync($"registered-models/get?name={name}"), "registered_model");
        AssertShape(RegisteredModelFields, model);
        AssertShape(ModelVersionFields, model.GetProperty("latest_versions")[0]);
        Assert.Equal(["alias", "version"], model.GetProperty("aliases")[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(["key", "value"], model.GetProperty("tags")[0].EnumerateObject().Select(p => p.Name));
        AssertShape(ModelVersionFields, Only(await GetAsync($"model-versions/get?name={name}&version=1"), "model_version"));
        AssertShape(ModelVersionFields, Only(await GetAsync($"registered-models/alias?name={name}&alias=champion"), "model_version"));
        AssertShape(ModelVersionFields, Only(await PostAsync("model-versions/transition-stage", new { name, version = "1", stage = "Staging", archive_existing_versions = false }), "model_version"));
        AssertShape(ModelVersionFields, Only(await PostAsync("registered-models/get-latest-versions", new { name }), "model_versions")[0]);
        AssertShape(ModelVersionFields, Only(await GetAsync($"model-versions/search?filter={Uri.EscapeDataString($"name = '{name}'")}"), "model_versions")[0]);
        AssertShape(RegisteredModelFields, Only(await GetAsync($"registered-models/search?filter={Uri.EscapeDataString($"name = '{name}'")}"), "registered_models")[0]);
        Assert.Equal(JsonValueKind.String, Only(await GetAsync($"model-versions/get-download-uri?name={name}&version=1"), "artifact_uri").ValueKind);
        Assert.Empty((await PostAsync("model-versions/set-tag", new { name, version = "1", key = "a", value = "b" })).EnumerateObject());
        Assert.Empty((await PostAsync("registered-models/set-tag", new { name, key = "a", value = "b" })).EnumerateObject());
    }

    /// <summary>The response's only property (MLflow wraps every payload in one named field).</summary>
    private static JsonElement Only(JsonElement response, string property)
    {
        Assert.Equal([property], response.EnumerateObject().Select(p => p.Name).Where(n => n != "next_page_token"));
        return response.GetProperty(property);
    }

    private static void AssertShape(Dictionary<string, JsonValueKind> documented, JsonElement entity)
    {
        var always = documented.ContainsKey("version")
            ? new[] { "name", "version", "creation_timestamp", "last_updated_timestamp", "current_stage", "source", "status" }
            : ["name", "creation_timestamp", "last_updated_timestamp"];
        foreach (var required in always)
            Assert.True(entity.TryGetProperty(required, out _), $"'{required}' is missing");
        foreach (var field in entity.EnumerateObject())
        {
            Assert.True(documented.TryGetValue(field.Name, out var kind), $"'{field.Name}' is not a field of MLflow's documented response");
            Assert.True(kind == field.Value.ValueKind, $"'{field.Name}' is {field.Value.ValueKind}; MLflow's reference says {kind}");
        }
    }

    private Task<HttpResponseMessage> Send(HttpMethod method, string path, object body, string? actor = null)
    {
        var request = new HttpRequestMessage(method, $"{Api}/{path}")
        {
            Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
        };
        if (actor is not null)
            request.Headers.Add("X-Mlops-Actor", actor);
        return _client.SendAsync(request);
    }
}
