using Mlops.ExperimentTracker.Features.Search;
using Mlops.ExperimentTracker.Mlflow;

namespace Mlops.ExperimentTracker.Tests;

public sealed class SearchParserTests
{
    [Fact]
    public void ParseFilter_EveryEntityAndComparator_BuildsClauses()
    {
        var clauses = SearchParser.ParseFilter(
            "metrics.acc >= 0.9 and params.lr = '0.01' AND tags.\"mlflow.user\" LIKE 'ann%' and attributes.status IN ('FINISHED', \"FAILED\") and run_name ILIKE '%x%'");

        Assert.Equal(5, clauses.Count);
        Assert.Equal(new FilterClause(new Identifier(EntityType.Metric, "acc"), ">=", 0.9), clauses[0]);
        Assert.Equal(new FilterClause(new Identifier(EntityType.Param, "lr"), "=", "0.01"), clauses[1]);
        Assert.Equal(new FilterClause(new Identifier(EntityType.Tag, "mlflow.user"), "LIKE", "ann%"), clauses[2]);
        Assert.Equal(new Identifier(EntityType.Attribute, "status"), clauses[3].Identifier);
        Assert.Equal("IN", clauses[3].Comparator);
        Assert.Equal(["FINISHED", "FAILED"], (IReadOnlyList<string>)clauses[3].Value);
        Assert.Equal(new FilterClause(new Identifier(EntityType.Attribute, "run_name"), "ILIKE", "%x%"), clauses[4]);
    }

    [Theory]
    [InlineData("metric.loss < -1.5e-3", EntityType.Metric, "loss", "<", -1.5e-3)]
    [InlineData("metrics.`val loss` != 2", EntityType.Metric, "val loss", "!=", 2.0)]
    [InlineData("metrics.\"val-loss\" <> 2", EntityType.Metric, "val-loss", "!=", 2.0)]
    [InlineData("  attr.start_time   >   1700000000000  ", EntityType.Attribute, "start_time", ">", 1700000000000.0)]
    public void ParseFilter_AliasesQuotedKeysAndNumbers(string filter, EntityType type, string key, string comparator, double value)
    {
        var clause = Assert.Single(SearchParser.ParseFilter(filter));
        Assert.Equal(new FilterClause(new Identifier(type, key), comparator, value), clause);
    }

    [Fact]
    public void ParseFilter_DoubledQuoteInsideString_IsOneQuote()
    {
        var clause = Assert.Single(SearchParser.ParseFilter("params.note = 'it''s'"));
        Assert.Equal("it's", clause.Value);
    }

    [Fact]
    public void ParseFilter_InjectionAttempt_StaysInsideTheValue()
    {
        var clause = Assert.Single(SearchParser.ParseFilter("params.x = '''; DROP TABLE runs; --'"));
        Assert.Equal("'; DROP TABLE runs; --", clause.Value);
    }

    [Theory]
    [InlineData("params.x = 'a'; DROP TABLE runs", "expected AND")]
    [InlineData("params.x = 'unbalanced", "unterminated quoted string")]
    [InlineData("tags.\"unbalanced = 'a'", "unterminated quoted string")]
    [InlineData("params.x = 'a' OR params.y = 'b'", "OR is not supported")]
    [InlineData("foo.x = 'a'", "unknown entity type 'foo'")]
    [InlineData("metrics.acc ~ 1", "expected a comparator")]
    [InlineData("metrics.acc == 1", "expected a value")]
    [InlineData("metrics.acc > ", "expected a value")]
    [InlineData("metrics. > 1", "expected a key after 'metrics.'")]
    [InlineData("= 1", "expected an identifier")]
    [InlineData("metrics.acc > 1 AND", "expected an identifier")]
    [InlineData("metrics.acc > 1e999", "is not a number")]
    [InlineData("metrics.acc > 1.2.3", "is not a number")]
    [InlineData("attributes.status IN 'FINISHED'", "parenthesised list")]
    [InlineData("attributes.status IN ('A' 'B')", "expected ',' or ')'")]
    [InlineData("attributes.status IN ()", "expected a quoted string in the IN list")]
    [InlineData("tags.`` = 'a'", "must not be empty")]
    public void ParseFilter_MalformedInput_FailsWithInvalidParameterValue(string filter, string expected)
    {
        var error = Assert.Throws<MlflowException>(() => SearchParser.ParseFilter(filter));
        Assert.Equal(MlflowException.InvalidParameterValue, error.ErrorCode);
        Assert.Equal(400, error.StatusCode);
        Assert.Contains(expected, error.Message);
        Assert.Contains(filter, error.Message);
    }

    [Theory]
    [InlineData("metrics.acc DESC", EntityType.Metric, "acc", false)]
    [InlineData("params.`learning rate` asc", EntityType.Param, "learning rate", true)]
    [InlineData("start_time", EntityType.Attribute, "start_time", true)]
    public void ParseOrderBy_KeyAndDirection(string orderBy, EntityType type, string key, bool ascending) =>
        Assert.Equal(new OrderClause(new Identifier(type, key), ascending), SearchParser.ParseOrderBy(orderBy));

    [Theory]
    [InlineData("metrics.acc DOWN", "expected ASC or DESC")]
    [InlineData("metrics.acc DESC; DROP TABLE runs", "expected the end")]
    [InlineData("", "expected an identifier")]
    public void ParseOrderBy_Malformed_Fails(string orderBy, string expected)
    {
        var error = Assert.Throws<MlflowException>(() => SearchParser.ParseOrderBy(orderBy));
        Assert.Contains("order_by", error.Message);
        Assert.Contains(expected, error.Message);
    }
}
