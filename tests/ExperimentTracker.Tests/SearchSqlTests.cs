using Mlops.ExperimentTracker.Features.Search;
using Mlops.ExperimentTracker.Mlflow;

namespace Mlops.ExperimentTracker.Tests;

public sealed class SearchSqlTests
{
    [Fact]
    public void CompileRuns_MetricFilterAndOrder_ReadTheRunsLatestValuesWithParameters()
    {
        var search = SearchSql.CompileRuns("metrics.acc > 0.5", ["metrics.acc DESC"]);

        Assert.Equal(" AND (r.latest_metrics -> @p0 ->> 2)::double precision > @p1", search.Conditions);
        Assert.Equal("", search.Joins);
        Assert.Equal(
            "((r.latest_metrics -> @p2 ->> 2)::double precision = 'NaN') NULLS LAST, (r.latest_metrics -> @p2 ->> 2)::double precision DESC, r.start_time DESC, r.run_id",
            search.OrderBy);
        Assert.Null(search.OrderedByKey);
        Assert.Equal(["acc", 0.5, "acc"], search.Parameters.Select(p => p.Value));
    }

    [Theory]
    [InlineData("params.`learning rate`", "params", "ASC")]
    [InlineData("tags.team ASC", "tags", "ASC")]
    public void CompileRuns_OneKeyOrder_CanWalkThatKeysIndex(string orderBy, string table, string direction)
    {
        var search = SearchSql.CompileRuns("metrics.loss < 1", [orderBy]);

        Assert.Equal(new KeyOrder(table, "@p2", direction), search.OrderedByKey);
        var sql = SearchSql.RunsPageByKey(search.OrderedByKey!, "r.run_id", "r.experiment_id = ANY(@experiments)" + search.Conditions);
        Assert.Contains($"FROM {table} k JOIN runs r ON r.run_id = k.run_id", sql);
        Assert.Contains($"ORDER BY left(k.value, 200) {direction}, k.value {direction}, r.start_time DESC, r.run_id", sql);
        Assert.Contains($"ORDER BY page.part, page.sort_value {direction}, page.start_time DESC, page.run_id", sql);
        Assert.DoesNotContain("acc", sql);
        Assert.DoesNotContain("team", sql);
    }

    [Theory]
    [InlineData("metrics.acc DESC|metrics.loss ASC")]
    [InlineData("metrics.acc DESC")]
    [InlineData("start_time DESC")]
    [InlineData("")]
    public void CompileRuns_OtherOrders_JoinEveryRun(string orderBy) =>
        Assert.Null(SearchSql.CompileRuns(null, orderBy.Split('|', StringSplitOptions.RemoveEmptyEntries)).OrderedByKey);

    [Fact]
    public void CompileExperiments_TagOrder_IsNotARunsPage() =>
        Assert.Null(SearchSql.CompileExperiments(null, ["tags.team DESC"]).OrderedByKey);

    [Fact]
    public void CompileModelVersions_TagsMatchOnNameAndVersion_RunIdIn_VersionOrder()
    {
        var search = SearchSql.CompileModelVersions("name = 'm' AND run_id IN ('a', 'b') AND tags.gate = 'ok'", ["version_number ASC", "tags.gate DESC"]);

        Assert.Equal(
            " AND v.name = @p0 AND v.run_id = ANY(@p1)" +
            " AND EXISTS (SELECT 1 FROM model_version_tags x WHERE x.name = v.name AND x.version = v.version AND x.key = @p2 AND left(x.value, 200) = left(@p3, 200) AND x.value = @p3)",
            search.Conditions);
        Assert.Equal(" LEFT JOIN model_version_tags o0 ON o0.name = v.name AND o0.version = v.version AND o0.key = @p4", search.Joins);
        Assert.Equal("v.version ASC NULLS LAST, o0.value DESC NULLS LAST, v.name, v.version DESC", search.OrderBy);
        Assert.Equal("v.last_updated_timestamp DESC, v.name, v.version DESC", SearchSql.CompileModelVersions(null, null).OrderBy);
        Assert.Contains("metrics", Assert.Throws<MlflowException>(() => SearchSql.CompileModelVersions("metrics.acc > 1", null)).Message);
    }

    [Fact]
    public void CompileRuns_NoFilterNoOrder_IsNewestFirst()
    {
        var search = SearchSql.CompileRuns(null, null);
        Assert.Equal("", search.Conditions);
        Assert.Equal("", search.Joins);
        Assert.Equal("r.start_time DESC, r.run_id", search.OrderBy);
        Assert.Empty(search.Parameters);
    }

    [Theory]
    [InlineData("params.x = '''; DROP TABLE runs; --'")]
    [InlineData("tags.\"x'; DELETE FROM runs; --\" = 'a'")]
    [InlineData("tags.`a\"b` LIKE '%\\'")]
    [InlineData("attributes.run_name IN ('a''); DROP TABLE runs; --', 'b')")]
    public void CompileRuns_HostileValuesAndKeys_NeverReachTheSqlText(string filter)
    {
        var search = SearchSql.CompileRuns(filter, ["tags.`x; DROP TABLE runs` DESC"]);
        var sql = search.Joins + search.Conditions + search.OrderBy;
        Assert.DoesNotContain("DROP", sql);
        Assert.DoesNotContain("DELETE", sql);
        Assert.DoesNotContain("'a", sql);
        Assert.DoesNotContain("%", sql);
        Assert.Contains("@p", sql);
    }

    [Fact]
    public void CompileRuns_Like_DisablesTheEscapeCharacter()
    {
        var search = SearchSql.CompileRuns("tags.path LIKE 'C:\\%'", null);
        Assert.EndsWith("x.value LIKE @p1 ESCAPE '')", search.Conditions);
        Assert.Equal("C:\\%", search.Parameters[1].Value);
    }

    [Fact]
    public void CompileRuns_AttributeInAndNumeric_CompileToColumns()
    {
        var search = SearchSql.CompileRuns("status NOT IN ('KILLED') and created >= 10 and end_time < 20", ["attributes.end_time"]);
        Assert.Equal(" AND NOT (r.status = ANY(@p0)) AND r.start_time >= @p1 AND r.end_time < @p2", search.Conditions);
        Assert.Equal("r.end_time ASC NULLS LAST, r.start_time DESC, r.run_id", search.OrderBy);
        Assert.Equal(new[] { "KILLED" }, search.Parameters[0].Value);
    }

    [Theory]
    [InlineData("metrics.acc LIKE '0.9%'", "Invalid comparator 'LIKE' for metrics.acc")]
    [InlineData("metrics.acc = 'high'", "expected a number, got the string 'high'")]
    [InlineData("params.lr = 0.01", "expected a quoted string ('...'), got the number 0.01")]
    [InlineData("params.lr > '0.01'", "Invalid comparator '>' for params.lr")]
    [InlineData("params.lr IN ('a')", "Invalid comparator 'IN' for params.lr")]
    [InlineData("attributes.color = 'red'", "Invalid attribute key 'color'")]
    [InlineData("start_time > 'yesterday'", "expected a number")]
    [InlineData("status > 'A'", "Invalid comparator '>' for attributes.status")]
    public void CompileRuns_UnsupportedComparisons_FailClearly(string filter, string expected)
    {
        var error = Assert.Throws<MlflowException>(() => SearchSql.CompileRuns(filter, null));
        Assert.Equal(MlflowException.InvalidParameterValue, error.ErrorCode);
        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData("attributes.color")]
    [InlineData("attributes.status sideways")]
    public void CompileRuns_BadOrderBy_Fails(string orderBy) =>
        Assert.Throws<MlflowException>(() => SearchSql.CompileRuns(null, [orderBy]));

    [Fact]
    public void CompileRuns_NullOrderByEntry_Fails() =>
        Assert.Contains("order_by", Assert.Throws<MlflowException>(() => SearchSql.CompileRuns(null, [null!])).Message);

    [Fact]
    public void CompileRuns_TooManyClauses_Fails()
    {
        var filter = string.Join(" AND ", Enumerable.Range(0, SearchSql.MaxFilterClauses + 1).Select(i => $"metrics.m{i} > 0"));
        var error = Assert.Throws<MlflowException>(() => SearchSql.CompileRuns(filter, null));
        Assert.Contains("at most 100", error.Message);
    }

    [Fact]
    public void CompileExperiments_NameAndTags()
    {
        var search = SearchSql.CompileExperiments("name LIKE 'exp-%' AND tags.team = 'ml'", ["name ASC"]);
        Assert.Equal(
            " AND e.name LIKE @p0 ESCAPE '' AND EXISTS (SELECT 1 FROM experiment_tags x WHERE x.experiment_id = e.experiment_id AND x.key = @p1 AND left(x.value, 200) = left(@p2, 200) AND x.value = @p2)",
            search.Conditions);
        Assert.Equal("e.name ASC NULLS LAST, e.experiment_id", search.OrderBy);
    }

    [Theory]
    [InlineData("metrics.acc > 1", "metrics are not searchable")]
    [InlineData("params.lr = 'a'", "params are not searchable")]
    [InlineData("status = 'FINISHED'", "Invalid attribute key 'status'")]
    public void CompileExperiments_RunOnlyKeys_Fail(string filter, string expected)
    {
        var error = Assert.Throws<MlflowException>(() => SearchSql.CompileExperiments(filter, null));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void CompileRegisteredModels_NameTagsAndTimestampOrder()
    {
        var search = SearchSql.CompileRegisteredModels("name ILIKE '%delay%' AND tags.owner != 'x'", ["timestamp DESC"]);
        Assert.Equal(
            " AND m.name ILIKE @p0 ESCAPE '' AND EXISTS (SELECT 1 FROM registered_model_tags x WHERE x.name = m.name AND x.key = @p1 AND x.value <> @p2)",
            search.Conditions);
        Assert.Equal("m.last_updated_timestamp DESC NULLS LAST, m.name", search.OrderBy);
        Assert.Throws<MlflowException>(() => SearchSql.CompileRegisteredModels("metrics.acc > 1", null));
    }

    [Theory]
    [InlineData("not-base64!")]
    [InlineData("eyJvZmZzZXQiOiAtNX0=")] // {"offset": -5}
    [InlineData("bnVsbA==")] // null
    public void PageToken_Tampered_IsInvalidParameterValue(string token) =>
        Assert.Equal(MlflowException.InvalidParameterValue, Assert.Throws<MlflowException>(() => PageToken.Decode(token)).ErrorCode);

    [Fact]
    public void PageToken_RoundTrips() => Assert.Equal(2000, PageToken.Decode(PageToken.Encode(2000)));
}
