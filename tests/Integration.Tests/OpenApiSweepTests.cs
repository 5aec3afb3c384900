using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mlops.Tests;

/// <summary>
/// Every operation of every service's OpenAPI document, called with hostile values: very long strings, wrong types,
/// arrays for objects, traversal and injection text, NUL characters, malformed bodies. No answer may be a 5xx, and every
/// refusal must say why (ProblemDetails, or MLflow's error format under MLflow's routes), so no future endpoint can
/// regress. Requests carry the platform API key: administrative operations answer 403 to it, which is part of the sweep.
/// </summary>
public sealed class OpenApiSweepTests(PlatformFixture platform, ITestOutputHelper output)
{
    private static readonly string LongText = new('x', 10_000);

    // Repeated characters compress, and PostgreSQL compresses index entries: only text that does not compress shows an
    // index's size limit (~2.7 kB per entry).
    private static readonly string IncompressibleText = string.Concat(Enumerable.Range(0, 120).Select(i => Guid.NewGuid().ToString("N")));

    /// <summary>Strings no handler expects; each is tried in every path and query parameter.</summary>
    private static readonly string[] HostileStrings =
    [
        new string('x', 3_000),
        LongText,
        IncompressibleText,
        new string('\u00e9', 3_000),
        "../../../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "' OR '1'='1'; DROP TABLE runs; --",
        "\0",
        "nul\0inside",
        "-1",
        "99999999999999999999999999",
        "NaN",
        "{\"$ne\": null}",
        "<script>alert(1)</script>",
        " ",
        "\ud83d\ude80\u202e",
    ];

    public static TheoryData<string> Services() => new(PlatformFixture.Services);

    [Theory]
    [MemberData(nameof(Services))]
    public async Task EveryOperation_WithHostileInput_AnswersNo5xx_AndExplainsEveryRefusal(string service)
    {
        using var client = platform.CreateClient(service);
        client.Timeout = TimeSpan.FromSeconds(30);
        var document = JsonNode.Parse(await client.GetStringAsync("/openapi/v1.json"))!;
        var schemas = document["components"]?["schemas"]?.AsObject();

        var failures = new List<string>();
        var statuses = new SortedDictionary<int, int>();
        var operations = 0;
        foreach (var (pathTemplate, pathItem) in document["paths"]!.AsObject())
        {
            foreach (var (method, operationNode) in pathItem!.AsObject())
            {
                if (method is "parameters" or "summary" or "description" || operationNode is not JsonObject operation)
                    continue;
                operations++;
                var parameters = operation["parameters"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
                foreach (var request in Requests(method.ToUpperInvariant(), pathTemplate, parameters, operation["requestBody"], schemas))
                {
                    using var message = request.Build();
                    HttpResponseMessage response;
                    try
                    {
                        response = await client.SendAsync(message);
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        failures.Add($"{request.Describe()}: no answer ({e.Message})");
                        continue;
                    }
                    using (response)
                    {
                        var status = (int)response.StatusCode;
                        statuses[status] = statuses.GetValueOrDefault(status) + 1;
                        var body = await response.Content.ReadAsStringAsync();
                        if (status >= 500)
                            failures.Add($"{request.Describe()}: {status} {Shorten(body)}");
                        else if (status >= 400 && !Explains(pathTemplate, response, body))
                            failures.Add($"{request.Describe()}: {status} without an error body ({response.Content.Headers.ContentType}): {Shorten(body)}");
                    }
                }
            }
        }

        var sent = statuses.Values.Sum();
        output.WriteLine($"{service}: {operations} operations, {sent} requests; statuses: {string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}"))}");
        Assert.True(operations > 0, $"{service}'s OpenAPI document lists no operations.");
        Assert.True(failures.Count == 0, $"{failures.Count} of {sent} hostile requests to {service} failed:\n{string.Join("\n", failures.Take(40))}");
    }

    private static IEnumerable<SweepRequest> Requests(string method, string pathTemplate, List<JsonObject> parameters, JsonNode? requestBody,
        JsonObject? schemas)
    {
        var pathNames = parameters.Where(p => (string?)p["in"] == "path").Select(p => (string)p["name"]!).ToList();
        var queryNames = parameters.Where(p => (string?)p["in"] == "query").Select(p => (string)p["name"]!).ToList();
        var benign = pathNames.ToDictionary(n => n, _ => $"sweep-{Guid.NewGuid():N}");
        var (contentType, bodySchema) = BodyOf(requestBody);
        var validBody = bodySchema is null ? null : Example(bodySchema, schemas, 0, hostile: null)?.ToJsonString();

        // Each path parameter in turn takes each hostile value; the others stay benign.
        foreach (var name in pathNames)
            foreach (var value in HostileStrings)
                yield return new(method, pathTemplate, new Dictionary<string, string>(benign) { [name] = value }, [], contentType, validBody);

        // Each query parameter in turn, then all of them at once.
        foreach (var value in HostileStrings)
        {
            foreach (var name in queryNames)
                yield return new(method, pathTemplate, benign, [(name, value)], contentType, validBody);
            if (queryNames.Count > 1)
                yield return new(method, pathTemplate, benign, queryNames.Select(n => (n, value)).ToList(), contentType, validBody);
        }

        if (requestBody is null)
        {
            if (pathNames.Count == 0 && queryNames.Count == 0)
                yield return new(method, pathTemplate, benign, [], null, null);
            yield break;
        }

        // Malformed and mistyped bodies.
        string[] raw = ["", "{", "[]", "null", "\"text\"", "123", "true", "{\"a\":" + new string('[', 200) + new string(']', 200) + "}",
            "\u0000", "{\"name\":\"\\u0000\"}", "not json at all"];
        foreach (var body in raw)
            yield return new(method, pathTemplate, benign, [], contentType ?? "application/json", body);
        if (bodySchema is null)
            yield break;
        yield return new(method, pathTemplate, benign, [], contentType, validBody);
        // Every string in the body takes each hostile value in turn; then wrong types and hostile containers.
        foreach (var value in HostileStrings)
            yield return new(method, pathTemplate, benign, [], contentType, Example(bodySchema, schemas, 0, HostileLeaves(value))?.ToJsonString());
        foreach (var hostile in new Func<JsonNode?, string, JsonNode?>[] { WrongType, Containers })
            yield return new(method, pathTemplate, benign, [], contentType, Example(bodySchema, schemas, 0, hostile)?.ToJsonString());

        // One string at a time, so no other field's validation answers first: a long value must be refused or stored,
        // never reach a database limit.
        if (Example(bodySchema, schemas, 0, hostile: null) is { } valid)
            foreach (var leaf in StringLeaves(valid))
                foreach (var value in new[] { IncompressibleText, "nul\0inside" })
                {
                    var body = leaf.Length == 0 ? JsonValue.Create(value) : Replaced(valid.DeepClone(), leaf, JsonValue.Create(value));
                    yield return new(method, pathTemplate, benign, [], contentType, body.ToJsonString());
                }
    }

    private static IEnumerable<object[]> StringLeaves(JsonNode node, object[]? path = null)
    {
        path ??= [];
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, child) in o)
                    if (child is not null)
                        foreach (var leaf in StringLeaves(child, [.. path, key]))
                            yield return leaf;
                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                    if (a[i] is { } child)
                        foreach (var leaf in StringLeaves(child, [.. path, i]))
                            yield return leaf;
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                yield return path;
                break;
        }
    }

    private static JsonNode Replaced(JsonNode root, object[] path, JsonNode value)
    {
        var parent = path[..^1].Aggregate(root, (node, segment) => segment is int i ? node[i]! : node[(string)segment]!);
        if (path[^1] is int index)
            parent[index] = value;
        else
            parent[(string)path[^1]] = value;
        return root;
    }

    private static (string? ContentType, JsonNode? Schema) BodyOf(JsonNode? requestBody)
    {
        if (requestBody?["content"] is not JsonObject content || content.Count == 0)
            return (null, null);
        var json = content.FirstOrDefault(c => c.Key.Contains("json", StringComparison.OrdinalIgnoreCase));
        var chosen = json.Key is null ? content.First() : json;
        return (chosen.Key, chosen.Value?["schema"]);
    }

    // Every string leaf becomes the hostile text; numbers become extreme, booleans strings.
    private static Func<JsonNode?, string, JsonNode?> HostileLeaves(string text) => (example, type) => type switch
    {
        "string" => JsonValue.Create(text),
        "integer" or "number" => JsonValue.Create(1e308),
        "boolean" => JsonValue.Create("yes"),
        _ => example,
    };

    private static JsonNode? WrongType(JsonNode? example, string type) => type switch
    {
        "string" => JsonValue.Create(12345),
        "integer" or "number" => JsonValue.Create("not a number"),
        "boolean" => JsonValue.Create(1),
        "array" => new JsonObject { ["unexpected"] = "object" },
        "object" => new JsonArray("unexpected", "array"),
        _ => example,
    };

    private static JsonNode? Containers(JsonNode? example, string type) => type switch
    {
        "array" => new JsonArray(Enumerable.Range(0, 3).Select(_ => (JsonNode?)new JsonArray(JsonValue.Create(LongText))).ToArray()),
        "object" => new JsonObject { ["__proto__"] = new JsonObject { ["admin"] = true }, ["constructor"] = "x" },
        "string" => JsonValue.Create("; rm -rf / #"),
        _ => JsonValue.Create(-1),
    };

    /// <summary>A value for <paramref name="schema"/>; with <paramref name="hostile"/>, every leaf is passed through it.</summary>
    private static JsonNode? Example(JsonNode? schema, JsonObject? schemas, int depth, Func<JsonNode?, string, JsonNode?>? hostile)
    {
        if (schema is null || depth > 6)
            return null;
        if ((string?)schema["$ref"] is { } reference)
            return Example(schemas?[reference.Split('/')[^1]], schemas, depth + 1, hostile);
        var type = TypeOf(schema);
        JsonNode? value = type switch
        {
            "object" => ObjectExample(schema, schemas, depth, hostile),
            "array" => new JsonArray(Example(schema["items"], schemas, depth + 1, hostile)),
            "integer" => JsonValue.Create(1),
            "number" => JsonValue.Create(1.5),
            "boolean" => JsonValue.Create(true),
            _ => JsonValue.Create($"sweep-{Guid.NewGuid():N}"),
        };
        return hostile is null || type is "object" && depth == 0 ? value : hostile(value, type);
    }

    private static JsonObject ObjectExample(JsonNode schema, JsonObject? schemas, int depth, Func<JsonNode?, string, JsonNode?>? hostile)
    {
        var result = new JsonObject();
        if (schema["properties"] is JsonObject properties)
            foreach (var (name, property) in properties)
                result[name] = Example(property, schemas, depth + 1, hostile);
        else if (schema["additionalProperties"] is JsonObject additional)
            result["key"] = Example(additional, schemas, depth + 1, hostile);
        return result;
    }

    private static string TypeOf(JsonNode schema) => schema["type"] switch
    {
        JsonValue v => (string)v!,
        JsonArray a => a.Select(t => (string?)t).FirstOrDefault(t => t is not "null") ?? "string",
        _ => schema["properties"] is not null ? "object" : schema["items"] is not null ? "array" : "string",
    };

    // A refusal names its reason: ProblemDetails (status and title), or MLflow's error_code and message on its routes.
    private static bool Explains(string pathTemplate, HttpResponseMessage response, string body)
    {
        if (body.Length == 0)
            return false;
        try
        {
            var json = JsonDocument.Parse(body).RootElement;
            if (json.ValueKind != JsonValueKind.Object)
                return false;
            var problem = json.TryGetProperty("status", out _) && json.TryGetProperty("title", out _)
                && response.Content.Headers.ContentType?.MediaType == "application/problem+json";
            if (!pathTemplate.StartsWith("/api/2.0/mlflow", StringComparison.Ordinal))
                return problem;
            // MLflow's routes answer in MLflow's format, except what Kestrel refuses before any route is known (it closes
            // the connection after those): a URL too long, a NUL in the path.
            return json.TryGetProperty("error_code", out _) && json.TryGetProperty("message", out _)
                || problem && response.Headers.ConnectionClose == true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";

    private sealed record SweepRequest(string Method, string PathTemplate, IReadOnlyDictionary<string, string> PathValues,
        IReadOnlyList<(string Name, string Value)> Query, string? ContentType, string? Body)
    {
        public HttpRequestMessage Build()
        {
            var path = PathValues.Aggregate(PathTemplate, (p, v) => p.Replace("{" + v.Key + "}", Uri.EscapeDataString(v.Value))
                .Replace("{*" + v.Key + "}", Uri.EscapeDataString(v.Value)).Replace("{**" + v.Key + "}", Uri.EscapeDataString(v.Value)));
            var query = Query.Count == 0 ? "" : "?" + string.Join("&", Query.Select(q => $"{Uri.EscapeDataString(q.Name)}={Uri.EscapeDataString(q.Value)}"));
            var message = new HttpRequestMessage(new HttpMethod(Method), path + query);
            if (Body is not null)
            {
                var content = new ByteArrayContent(Encoding.UTF8.GetBytes(Body));
                content.Headers.TryAddWithoutValidation("Content-Type", ContentType ?? "application/json");
                message.Content = content;
            }
            return message;
        }

        public string Describe()
        {
            var detail = PathValues.Values.Concat(Query.Select(q => $"{q.Name}=" + q.Value)).Append(Body ?? "")
                .Where(v => !v.StartsWith("sweep-", StringComparison.Ordinal) && v.Length > 0).Select(v => v.Length > 40 ? v[..40] + "…" : v);
            return $"{Method} {PathTemplate} [{string.Join(" | ", detail).Replace("\0", "\\0")}]";
        }
    }
}
