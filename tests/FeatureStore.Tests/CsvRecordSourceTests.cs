using System.Text;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Ingestion;
using Mlops.ServiceDefaults.Errors;

namespace Mlops.FeatureStore.Tests;

/// <summary>The CSV reader: RFC 4180 quoting, and every structural fault refused with its line instead of guessed around.</summary>
public sealed class CsvRecordSourceTests
{
    private static readonly GroupSchema Schema = GroupSchema.For(new FeatureGroup("visits", 1, null, null, [],
        [new EntityKey("user_id", FeatureTypes.Int64)], "ts", null,
        [new FeatureDefinition("page", FeatureTypes.String), new FeatureDefinition("score", FeatureTypes.Double)]));

    private static Stream Bytes(string text) => new MemoryStream(Encoding.UTF8.GetBytes(text));

    /// <summary>Every record, in schema order (user_id, ts, page, score).</summary>
    private static List<object?[]> ReadAll(Stream csv)
    {
        var source = new CsvRecordSource(csv, Schema);
        var rows = new List<object?[]>();
        var problems = new ProblemList();
        for (var raw = new object?[Schema.Columns.Length]; source.Read(raw, rows.Count, problems); raw = new object?[Schema.Columns.Length])
            rows.Add(raw);
        Assert.Equal(0, problems.Count);
        return rows;
    }

    private static List<object?[]> ReadAll(string text) => ReadAll(Bytes(text));

    private static ProblemException Refused(string text) => Assert.Throws<ProblemException>(() => ReadAll(text));

    [Fact]
    public void Read_QuotedFields_AreUnquotedWithDoubledQuotesAndLineBreaksKept()
    {
        var rows = ReadAll("ts,user_id,page,score\r\n2024-01-01,1,\"a, \"\"quoted\"\"\r\nvalue\",1.5\r\n2024-01-02,2,plain,\n");
        Assert.Equal(2, rows.Count);
        Assert.Equal(["1", "2024-01-01", "a, \"quoted\"\r\nvalue", "1.5"], rows[0]);
        Assert.Equal(["2", "2024-01-02", "plain", null], rows[1]);
    }

    [Fact]
    public void Read_EmptyUnquotedIsNull_QuotedEmptyIsTheEmptyString_BlankLinesAndBomAreSkipped()
    {
        var rows = ReadAll(Bytes("\uFEFFuser_id,ts,page\n\n1,2024-01-01,\"\"\n\r\n2,2024-01-02,\n"));
        Assert.Equal(["1", "2024-01-01", "", null], rows[0]);
        Assert.Equal(["2", "2024-01-02", null, null], rows[1]);
    }

    [Fact]
    public void Read_LastRecordWithoutLineEnd_IsRead() =>
        Assert.Equal(["7", "2024-01-01", "x", "2"], ReadAll("user_id,ts,page,score\n7,2024-01-01,x,2").Single());

    [Theory]
    [InlineData("user_id,ts,page\n1,2024-01-01,a\n2,2024-01-02,b,extra\n", 3, 3, 4)]
    [InlineData("user_id,ts,page\n1,2024-01-01,a\n\n2,2024-01-02\n", 4, 3, 2)]
    [InlineData("user_id,ts,page\n1,\"2024-01-01\",\"multi\nline\"\n2,x,y,z\n", 4, 3, 4)]
    public void Read_RaggedRecord_IsRefusedNamingTheLineAndTheCounts(string csv, long line, int expected, int actual)
    {
        var e = Refused(csv);
        Assert.Equal(400, e.Status);
        Assert.Contains($"line {line} has {actual} field(s) but the header has {expected}", e.Message);
        Assert.Equal(line, e.Extensions!["line"]);
        Assert.Equal(expected, e.Extensions["expected_fields"]);
        Assert.Equal(actual, e.Extensions["actual_fields"]);
    }

    [Fact]
    public void Read_UnterminatedQuote_IsRefusedNamingTheLineItOpensOn()
    {
        var e = Refused("user_id,ts,page\n1,2024-01-01,ok\n2,2024-01-02,\"never closed\n3,2024-01-03,c\n");
        Assert.Contains("the quoted field 3 that opens on line 3 is never closed", e.Message);
        Assert.Equal(3L, e.Extensions!["line"]);
    }

    [Theory]
    [InlineData("user_id,ts,page\n1,2024-01-01,\"a\"b\n", "line 2: the quoted field 3 is followed by 'b'")]
    [InlineData("user_id,ts,page\n1,2024-01-01,a\"b\n", "line 2: field 3 has a '\"' but is not quoted")]
    public void Read_StrayQuote_IsRefusedNamingTheLine(string csv, string message) => Assert.Contains(message, Refused(csv).Message);

    [Fact]
    public void Read_InvalidUtf8_IsRefusedNamingTheLineAndField_InAValueAndInTheHeader()
    {
        var value = new MemoryStream([.. "user_id,ts,page\n1,2024-01-01,r"u8, 0xE9, .. "in\n"u8]);
        var e = Assert.Throws<ProblemException>(() => ReadAll(value));
        Assert.Contains("line 2, field 3 (column 'page') is not valid UTF-8", e.Message);

        var header = new MemoryStream([.. "user_id,ts,p"u8, 0xFF, .. "ge\n"u8]);
        e = Assert.Throws<ProblemException>(() => ReadAll(header));
        Assert.Contains("line 1, field 3 (the header) is not valid UTF-8", e.Message);
    }

    [Fact]
    public void Header_UnknownDuplicatedAndMissingColumns_AreNamed()
    {
        var e = Refused("user_id,page,page,seats\n");
        Assert.Contains("Unknown columns: 'seats'", e.Message);
        Assert.Contains("Columns named more than once: 'page'", e.Message);
        Assert.Contains("Missing key or event-time columns: 'ts'", e.Message);
    }

    [Fact]
    public void Header_EmptyFile_IsRefused() => Assert.Contains("The CSV file is empty", Refused("").Message);

    [Fact]
    public void Read_LargeFile_CrossesBufferBoundariesIntact()
    {
        var text = new StringBuilder("user_id,ts,page,score\n");
        for (var i = 0; i < 20_000; i++)
            text.Append(i).Append(",2024-01-01,\"").Append(new string('x', i % 50)).Append("\"\"y\",").Append((i * 0.5).ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
        var rows = ReadAll(text.ToString());
        Assert.Equal(20_000, rows.Count);
        Assert.Equal(["19999", "2024-01-01", new string('x', 19999 % 50) + "\"y", (19999 * 0.5).ToString(System.Globalization.CultureInfo.InvariantCulture)], rows[^1]);
    }
}
