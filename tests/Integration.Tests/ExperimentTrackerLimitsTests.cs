using System.Net;
using System.Text.Json;

namespace Mlops.Tests;

/// <summary>
/// MLflow's length limits on every stored string: one character over is INVALID_PARAMETER_VALUE naming the field and the
/// limit, exactly the limit is stored and read back intact. The values are random and partly multi-byte, so they do not
/// compress: a whole-value btree index refused them (a 500) well below the limits.
/// </summary>
public sealed partial class ExperimentTrackerTests
{
    [Fact]
    public async Task ExperimentName_OnCreateAndRename_AtMostMlflowsLimit()
    {
        var atLimit = Incompressible(500);
        Assert.Contains("Experiment name", await AssertTooLongAsync("experiments/create", new { name = atLimit + "x" }, 500));
        var id = await CreateExperimentAsync(atLimit);
        Assert.Equal(atLimit, (await GetAsync($"experiments/get?experiment_id={id}")).GetProperty("experiment").GetProperty("name").GetString());

        var other = await CreateExperimentAsync(Unique("rename-long"));
        Assert.Contains("Experiment name", await AssertTooLongAsync("experiments/update", new { experiment_id = other, new_name = Incompressible(501) }, 500));
        var renamed = Incompressible(500);
        await PostAsync("experiments/update", new { experiment_id = other, new_name = renamed });
        Assert.Equal(renamed, (await GetAsync($"experiments/get?experiment_id={other}")).GetProperty("experiment").GetProperty("name").GetString());
    }

    [Fact]
    public async Task ExperimentTagValue_AtMostMlflowsLimit()
    {
        var id = await CreateExperimentAsync(Unique("exp-tag-long"));
        Assert.Contains("Tag value for 'note'", await AssertTooLongAsync("experiments/set-experiment-tag", new { experiment_id = id, key = "note", value = Incompressible(5001) }, 5000));
        var value = Incompressible(5000);
        await PostAsync("experiments/set-experiment-tag", new { experiment_id = id, key = "note", value });
        Assert.Equal(value, Tag((await GetAsync($"experiments/get?experiment_id={id}")).GetProperty("experiment"), "note"));
    }

    [Fact]
    public async Task RunName_OnCreateAndUpdate_AtMostTheTagLimit()
    {
        // At the limit first: a whole-value index on the mlflow.runName tag refused these (500).
        var experiment = await CreateExperimentAsync(Unique("run-name-long"));
        var name = Incompressible(8000);
        var runId = (await PostAsync("runs/create", new { experiment_id = experiment, run_name = name })).GetProperty("run").GetProperty("info").GetProperty("run_id").GetString()!;
        var run = await GetRunAsync(runId);
        Assert.Equal(name, run.GetProperty("info").GetProperty("run_name").GetString());
        Assert.Equal(name, Tag(run.GetProperty("data"), "mlflow.runName"));
        var renamed = Incompressible(8000);
        await PostAsync("runs/update", new { run_id = runId, run_name = renamed });
        Assert.Equal(renamed, (await GetRunAsync(runId)).GetProperty("info").GetProperty("run_name").GetString());

        Assert.Contains("Run name", await AssertTooLongAsync("runs/create", new { experiment_id = experiment, run_name = Incompressible(8001) }, 8000));
        Assert.Contains("Run name", await AssertTooLongAsync("runs/update", new { run_id = runId, run_name = Incompressible(8001) }, 8000));
        Assert.Equal(renamed, (await GetRunAsync(runId)).GetProperty("info").GetProperty("run_name").GetString());
    }

    [Fact]
    public async Task RunTagAndParamValues_InEveryWritePath_AtMostMlflowsLimits_AndSearchableByValue()
    {
        // At the limit first: whole-value (key, value) indexes refused these (500).
        var experiment = await CreateExperimentAsync(Unique("values-long"));
        var runId = await CreateRunAsync(experiment);
        var (tag, param, batchTag, batchParam, createTag) = (Incompressible(8000), Incompressible(6000), Incompressible(8000), Incompressible(6000), Incompressible(8000));
        await PostAsync("runs/set-tag", new { run_id = runId, key = "note", value = tag });
        await PostAsync("runs/log-parameter", new { run_id = runId, key = "config", value = param });
        await PostAsync("runs/log-batch", new { run_id = runId, tags = new[] { new { key = "b", value = batchTag } }, @params = new[] { new { key = "b", value = batchParam } } });
        var tagged = (await PostAsync("runs/create", new { experiment_id = experiment, tags = new[] { new { key = "c", value = createTag } } }))
            .GetProperty("run").GetProperty("info").GetProperty("run_id").GetString()!;
        var data = (await GetRunAsync(runId)).GetProperty("data");
        Assert.Equal(tag, Tag(data, "note"));
        Assert.Equal(param, Param(data, "config"));
        Assert.Equal(batchTag, Tag(data, "b"));
        Assert.Equal(batchParam, Param(data, "b"));
        Assert.Equal(createTag, Tag((await GetRunAsync(tagged)).GetProperty("data"), "c"));

        // The (key, value prefix) indexes still find a run by a whole long value, and order runs by one.
        var found = await PostAsync("runs/search", new { experiment_ids = new[] { experiment }, filter = $"params.config = '{param}' AND tags.note = '{tag}'" });
        Assert.Equal([runId], Names(found, "runs", r => r.GetProperty("info").GetProperty("run_id").GetString()));
        var ordered = await PostAsync("runs/search", new { experiment_ids = new[] { experiment }, order_by = new[] { "tags.note DESC" } });
        Assert.Equal([runId, tagged], Names(ordered, "runs", r => r.GetProperty("info").GetProperty("run_id").GetString()));

        // One character over: refused, naming the field and the limit, and nothing changes.
        var other = await CreateRunAsync(experiment);
        Assert.Contains("Tag value for 'note'", await AssertTooLongAsync("runs/set-tag", new { run_id = other, key = "note", value = Incompressible(8001) }, 8000));
        Assert.Contains("Param value for 'config'", await AssertTooLongAsync("runs/log-parameter", new { run_id = other, key = "config", value = Incompressible(6001) }, 6000));
        Assert.Contains("Tag value for 'b'", await AssertTooLongAsync("runs/log-batch",
            new { run_id = other, tags = new[] { new { key = "b", value = Incompressible(8001) } } }, 8000));
        Assert.Contains("Param value for 'b'", await AssertTooLongAsync("runs/log-batch",
            new { run_id = other, @params = new[] { new { key = "b", value = Incompressible(6001) } } }, 6000));
        Assert.Contains("Tag value for 'c'", await AssertTooLongAsync("runs/create",
            new { experiment_id = experiment, tags = new[] { new { key = "c", value = Incompressible(8001) } } }, 8000));
        Assert.Contains("Tag key", await AssertTooLongAsync("runs/set-tag", new { run_id = other, key = new string('k', 251), value = "v" }, 250));
        var unchanged = (await GetRunAsync(other)).GetProperty("data");
        Assert.Null(Tag(unchanged, "note"));
        Assert.Null(Param(unchanged, "config"));
        Assert.Null(Param(unchanged, "b"));
    }

    [Fact]
    public async Task RegistryNamesAliasesAndTags_AtMostMlflowsLimits()
    {
        Assert.Contains("Registered model name", await AssertTooLongAsync("registered-models/create", new { name = Incompressible(251) }, 250));
        var name = Incompressible(250);
        Assert.Equal(name, (await PostAsync("registered-models/create", new { name })).GetProperty("registered_model").GetProperty("name").GetString());
        Assert.Contains("Registered model name", await AssertTooLongAsync("registered-models/rename", new { name, new_name = Incompressible(251) }, 250));

        Assert.Contains("Tag value for 'card'", await AssertTooLongAsync("registered-models/set-tag", new { name, key = "card", value = Incompressible(5001) }, 5000));
        var card = Incompressible(5000);
        await PostAsync("registered-models/set-tag", new { name, key = "card", value = card });
        Assert.Equal(card, Tag((await GetAsync($"registered-models/get?name={Uri.EscapeDataString(name)}")).GetProperty("registered_model"), "card"));

        await PostAsync("model-versions/create", new { name, source = "s3://bucket/model" });
        Assert.Contains("Tag value for 'gate'", await AssertTooLongAsync("model-versions/set-tag", new { name, version = "1", key = "gate", value = Incompressible(5001) }, 5000));
        Assert.Contains("Registered model alias name", await AssertTooLongAsync("registered-models/alias", new { name, alias = new string('a', 256), version = "1" }, 255));
        var alias = new string('a', 255);
        await PostAsync("registered-models/alias", new { name, alias, version = "1" });
        Assert.Equal("1", (await GetAsync($"registered-models/alias?name={Uri.EscapeDataString(name)}&alias={alias}")).GetProperty("model_version").GetProperty("version").GetString());
    }

    [Fact]
    public async Task LogInputs_AFeatureGroupNameOverItsLimit_IsInvalidParameterValue()
    {
        var runId = await CreateRunAsync(await CreateExperimentAsync(Unique("inputs-long")));
        var source = JsonSerializer.Serialize(new { snapshot_id = "s", feature_groups = new[] { new { name = Incompressible(251), version = 1 } } });
        Assert.Contains("feature_groups[0].name", await AssertTooLongAsync("runs/log-inputs",
            new { run_id = runId, datasets = new[] { new { dataset = new { name = "fs", digest = "d", source_type = "mlops-feature-store", source } } } }, 250));
    }

    /// <returns>The error's message, which names the limit.</returns>
    private async Task<string> AssertTooLongAsync(string path, object body, int limit)
    {
        var message = await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post(path, body));
        Assert.Contains($"exceeded length limit of {limit}", message);
        return message;
    }

    // Letters, digits and multi-byte letters in random order (no quotes: the values go into search filters too).
    private static string Incompressible(int length)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_. äöüßéñçøåæœ漢字仮名ひらがなカタカナ";
        return string.Create(length, Random.Shared, (span, random) =>
        {
            for (var i = 0; i < span.Length; i++)
                span[i] = alphabet[random.Next(alphabet.Length)];
        });
    }
}
