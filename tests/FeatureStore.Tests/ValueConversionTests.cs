using System.Text.Json;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Ingestion;

namespace Mlops.FeatureStore.Tests;

public sealed class ValueConversionTests
{
    private static SchemaColumn Feature(string type, FeatureConstraints? constraints = null, int? dimension = null) =>
        new("f", type, ColumnRole.Feature, new FeatureDefinition("f", type, Constraints: constraints, Dimension: dimension));

    private static object? Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Theory]
    [InlineData("int64", "42", 42L)]
    [InlineData("double", "1.5", 1.5)]
    [InlineData("string", "\"SFO\"", "SFO")]
    [InlineData("bool", "true", true)]
    public void Convert_GoodJson_GivesTheStoredValue(string type, string json, object expected)
    {
        Assert.Null(GroupSchema.Convert(Feature(type), Json(json), out var value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("int64", "1.5", "is not an integer")]
    [InlineData("int64", "\"12\"", "expected an integer, got a string")]
    [InlineData("double", "\"x\"", "expected a number")]
    [InlineData("string", "3", "expected a string, got a number")]
    [InlineData("bool", "1", "expected true or false")]
    [InlineData("timestamp", "\"yesterday\"", "is not a timestamp")]
    [InlineData("float_vector", "[1, \"a\"]", "element 1 is a string")]
    public void Convert_WrongJsonType_SaysWhy(string type, string json, string reason) =>
        Assert.Contains(reason, GroupSchema.Convert(Feature(type), Json(json), out _));

    [Fact]
    public void Convert_Constraints_AreChecked()
    {
        var bounded = Feature(FeatureTypes.Int64, new FeatureConstraints(Min: 0, Max: 10));
        Assert.Contains("below the minimum", GroupSchema.Convert(bounded, Json("-1"), out _));
        Assert.Contains("above the maximum", GroupSchema.Convert(bounded, Json("11"), out _));
        Assert.Null(GroupSchema.Convert(bounded, Json("10"), out _));

        var allowed = Feature(FeatureTypes.String, new FeatureConstraints(AllowedValues: ["a", "b"]));
        Assert.Contains("not an allowed value", GroupSchema.Convert(allowed, "c", out _));
        var pattern = Feature(FeatureTypes.String, new FeatureConstraints(Pattern: "^[A-Z]{3}$"));
        Assert.Contains("does not match the pattern", GroupSchema.Convert(pattern, "sfo", out _));
        var notNull = Feature(FeatureTypes.Double, new FeatureConstraints(NotNull: true));
        Assert.Contains("not-null", GroupSchema.Convert(notNull, Json("null"), out _));
        Assert.Null(GroupSchema.Convert(Feature(FeatureTypes.Double), Json("null"), out var nothing));
        Assert.Null(nothing);
        Assert.Contains("dimension is 3", GroupSchema.Convert(Feature(FeatureTypes.FloatVector, dimension: 3), Json("[1, 2]"), out _));
        Assert.Contains("NUL", GroupSchema.Convert(Feature(FeatureTypes.String), "a\0b", out _));
    }

    [Fact]
    public void Convert_Timestamps_BecomeUtcMicroseconds()
    {
        var column = new SchemaColumn("t", FeatureTypes.Timestamp, ColumnRole.EventTime, null);
        Assert.Null(GroupSchema.Convert(column, Json("\"2001-01-01T10:00:00.1234567+02:00\""), out var value));
        Assert.Equal(new DateTime(2001, 1, 1, 8, 0, 0, DateTimeKind.Utc).AddTicks(1234560), value);
        Assert.Equal(DateTimeKind.Utc, ((DateTime)value!).Kind);
        // The flights JSON's own format, read as UTC.
        Assert.Null(GroupSchema.Convert(column, Json("\"2001/01/01 06:55\""), out var flights));
        Assert.Equal(new DateTime(2001, 1, 1, 6, 55, 0, DateTimeKind.Utc), flights);
        Assert.Contains("is required", GroupSchema.Convert(column, null, out _));
    }

    [Fact]
    public void Convert_CsvText_ParsesEachType()
    {
        Assert.Null(GroupSchema.Convert(Feature(FeatureTypes.Int64), "-7", out var l));
        Assert.Equal(-7L, l);
        Assert.Null(GroupSchema.Convert(Feature(FeatureTypes.FloatVector), "[0.5, 1]", out var v));
        Assert.Equal([0.5f, 1f], (float[])v!);
        Assert.Contains("not a finite number", GroupSchema.Convert(Feature(FeatureTypes.Double), "NaN", out _));
    }

    [Fact]
    public void EntityKey_CompositeKeys_AreJoinedUnambiguously()
    {
        Assert.Equal("SFO", GroupSchema.EntityKey(new object?[] { "SFO" }));
        Assert.Equal("SFO\u001f42", GroupSchema.EntityKey(new object?[] { "SFO", 42L }));
    }
}
