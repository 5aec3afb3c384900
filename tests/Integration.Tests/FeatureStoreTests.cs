using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace Mlops.Tests;

/// <summary>The feature store through the running AppHost: definitions, ingestion into both stores, online reads, training sets.</summary>
public sealed class FeatureStoreTests(PlatformFixture platform)
{
    private static string UniqueName(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    internal static JsonObject FlightsGroup(string name, long? ttlSeconds = null, params string[] tags) => new()
    {
        ["name"] = name,
        ["description"] = "Flights by origin airport (vega-datasets)",
        ["owner"] = "tests",
        ["tags"] = new JsonArray([.. tags.Select(t => (JsonNode)t)]),
        ["entity_keys"] = new JsonArray(new JsonObject { ["name"] = "origin", ["type"] = "string" }),
        ["event_time"] = "date",
        ["ttl_seconds"] = ttlSeconds,
        ["features"] = new JsonArray(
            new JsonObject { ["name"] = "delay", ["type"] = "int64", ["constraints"] = new JsonObject { ["min"] = -1000, ["max"] = 5000, ["not_null"] = true } },
            new JsonObject { ["name"] = "distance", ["type"] = "int64", ["constraints"] = new JsonObject { ["min"] = 0 } },
            new JsonObject { ["name"] = "destination", ["type"] = "string", ["constraints"] = new JsonObject { ["pattern"] = "^[A-Z]{3}$" } }),
    };

    private async Task<JsonObject> CreateGroupAsync(HttpClient client, JsonObject definition)
    {
        var response = await client.PostAsJsonAsync("/api/feature-groups", definition);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    private static async Task<JsonObject> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {expected}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(body)!.AsObject();
    }

    [Fact]
    public async Task Group_CreateVersionSearchDelete_FollowsTheVersioningRules()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var name = UniqueName("flights");
        var tag = UniqueName("tag");
        var created = await CreateGroupAsync(client, FlightsGroup(name, null, tag));
        Assert.Equal(1, (int)created["version"]!);

        // Duplicate name → 409.
        var duplicate = await ProblemAsync(await client.PostAsJsonAsync("/api/feature-groups", FlightsGroup(name)), HttpStatusCode.Conflict);
        Assert.Contains("already exists", (string)duplicate["detail"]!);

        // The same definition again changes nothing.
        var same = await client.PutAsJsonAsync($"/api/feature-groups/{name}", FlightsGroup(name, null, tag));
        Assert.Equal(1, (int)(await same.Content.ReadFromJsonAsync<JsonObject>())!["version"]!);

        // Additive change → version 2.
        var v2 = FlightsGroup(name, null, tag);
        v2["features"]!.AsArray().Add(new JsonObject { ["name"] = "embedding", ["type"] = "float_vector", ["dimension"] = 3 });
        var updated = await client.PutAsJsonAsync($"/api/feature-groups/{name}", v2);
        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        Assert.Equal(2, (int)(await updated.Content.ReadFromJsonAsync<JsonObject>())!["version"]!);

        // Type change and removed key → 409, explained.
        var typeChange = FlightsGroup(name, null, tag);
        typeChange["features"]![0]!["type"] = "double";
        var conflict = await ProblemAsync(await client.PutAsJsonAsync($"/api/feature-groups/{name}", typeChange), HttpStatusCode.Conflict);
        Assert.Contains("'delay' changes type from int64 to double", (string)conflict["detail"]!);
        var keyChange = FlightsGroup(name, null, tag);
        keyChange["entity_keys"] = new JsonArray(new JsonObject { ["name"] = "destination_key", ["type"] = "string" });
        var keyConflict = await ProblemAsync(await client.PutAsJsonAsync($"/api/feature-groups/{name}", keyChange), HttpStatusCode.Conflict);
        Assert.Contains("entity key changes", (string)keyConflict["detail"]!);

        // Get a given version, search by tag.
        var v1 = await client.GetFromJsonAsync<JsonObject>($"/api/feature-groups/{name}?version=1");
        Assert.Equal(3, v1!["features"]!.AsArray().Count);
        Assert.Equal(2, (int)v1["latest_version"]!);
        var byTag = await client.GetFromJsonAsync<JsonObject>($"/api/feature-groups?tag={tag}");
        Assert.Equal([name], byTag!["feature_groups"]!.AsArray().Select(g => (string)g!["name"]!));

        // Soft delete: gone from searches and reads, still listed with include_deleted, name stays taken.
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/feature-groups/{name}")).StatusCode);
        Assert.Empty((await client.GetFromJsonAsync<JsonObject>($"/api/feature-groups?tag={tag}"))!["feature_groups"]!.AsArray());
        var withDeleted = await client.GetFromJsonAsync<JsonObject>($"/api/feature-groups?tag={tag}&include_deleted=true");
        Assert.NotNull(withDeleted!["feature_groups"]![0]!["deleted_at"]);
        await ProblemAsync(await client.PutAsJsonAsync($"/api/feature-groups/{name}", v2), HttpStatusCode.NotFound);
        await ProblemAsync(await client.PostAsJsonAsync("/api/feature-groups", FlightsGroup(name)), HttpStatusCode.Conflict);

        // Events: created, updated (v2), updated (deleted) — all through the outbox.
        await using var db = await platform.OpenDatabaseAsync(ResourceNames.FeatureStore);
        await using var events = new NpgsqlCommand(
            "SELECT message_type FROM outbox_messages WHERE body->>'name' = @name ORDER BY sequence", db);
        events.Parameters.AddWithValue("name", name);
        var types = new List<string>();
        await using (var reader = await events.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                types.Add(reader.GetString(0));
        Assert.Equal(["Mlops.Contracts.FeatureGroupCreated", "Mlops.Contracts.FeatureGroupUpdated", "Mlops.Contracts.FeatureGroupUpdated"], types);
    }

    [Fact]
    public async Task Group_InvalidDefinition_Returns400NamingEachField()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var bad = FlightsGroup("Bad Name");
        bad["features"]![0]!["type"] = "decimal";
        bad["entity_keys"] = new JsonArray();
        var problem = await ProblemAsync(await client.PostAsJsonAsync("/api/feature-groups", bad), HttpStatusCode.BadRequest);
        var errors = problem["errors"]!.AsObject();
        Assert.Contains("name", errors.Select(e => e.Key));
        Assert.Contains("entity_keys", errors.Select(e => e.Key));
        Assert.Contains("'decimal' is not a feature type", errors["features[0].type"]![0]!.ToString());
    }

    [Fact]
    public async Task Group_UnknownOrUnauthenticated_Answers404And401()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var problem = await ProblemAsync(await client.GetAsync("/api/feature-groups/no_such_group"), HttpStatusCode.NotFound);
        Assert.Contains("no_such_group", (string)problem["detail"]!);
        using var anonymous = platform.CreateClient(ResourceNames.FeatureStore, authenticated: false);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/feature-groups")).StatusCode);
    }

    [Fact]
    public async Task OpenApiDocument_ListsEachOperationsProblemResponses_AndTheFileTypes()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var paths = (await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json")).GetProperty("paths");
        JsonElement Operation(string path, string method) =>
            (paths.TryGetProperty(path, out var item) || paths.TryGetProperty(path + "/", out item) ? item : throw new Xunit.Sdk.XunitException($"{path} is not in the document"))
                .GetProperty(method);
        string[] Responses(string path, string method) => [.. Operation(path, method).GetProperty("responses").EnumerateObject().Select(r => r.Name)];

        Assert.Superset(new HashSet<string> { "200", "400", "404", "413", "415" }, Responses("/api/feature-groups/{name}/files", "post").ToHashSet());
        Assert.Superset(new HashSet<string> { "200", "400", "404", "413" }, Responses("/api/feature-groups/{name}/records", "post").ToHashSet());
        Assert.Superset(new HashSet<string> { "202", "400", "404" }, Responses("/api/feature-groups/{name}/imports", "post").ToHashSet());
        Assert.Superset(new HashSet<string> { "201", "400", "409" }, Responses("/api/feature-groups", "post").ToHashSet());
        Assert.Superset(new HashSet<string> { "200", "400", "404", "409" }, Responses("/api/feature-groups/{name}", "put").ToHashSet());
        Assert.Superset(new HashSet<string> { "200", "404" }, Responses("/api/feature-groups/{name}", "get").ToHashSet());
        Assert.Superset(new HashSet<string> { "204", "404" }, Responses("/api/feature-groups/{name}", "delete").ToHashSet());
        Assert.Superset(new HashSet<string> { "200", "404" }, Responses("/api/feature-groups/{name}/statistics", "get").ToHashSet());
        Assert.Superset(new HashSet<string> { "200", "400", "404", "413" }, Responses("/api/online/features", "post").ToHashSet());
        Assert.Superset(new HashSet<string> { "201", "202", "400", "404" }, Responses("/api/training-sets", "post").ToHashSet());
        Assert.Superset(new HashSet<string> { "200", "404" }, Responses("/api/jobs/{id}", "get").ToHashSet());
        Assert.Superset(new HashSet<string> { "200", "404" }, Responses("/api/jobs/{id}/cancel", "post").ToHashSet());

        var fileTypes = Operation("/api/feature-groups/{name}/files", "post").GetProperty("requestBody").GetProperty("content")
            .EnumerateObject().Select(c => c.Name).ToList();
        Assert.Contains("text/csv", fileTypes);
        Assert.Contains("application/vnd.apache.parquet", fileTypes);
    }
}
