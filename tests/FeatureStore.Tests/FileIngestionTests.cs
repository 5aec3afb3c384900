using Mlops.FeatureStore.Features.Ingestion;

namespace Mlops.FeatureStore.Tests;

public sealed class FileIngestionTests
{
    [Theory]
    [InlineData("application/vnd.apache.parquet", "parquet")]
    [InlineData("application/x-parquet", "parquet")]
    [InlineData("text/csv", "csv")]
    [InlineData("TEXT/CSV; charset=UTF-8", "csv")]
    [InlineData("application/csv; header=present", "csv")]
    public void FormatOf_AcceptedTypes_NameTheFormat(string contentType, string format) =>
        Assert.Equal(format, FileIngestion.FormatOf(contentType, out _));

    [Theory]
    [InlineData(null, "The request has no Content-Type")]
    [InlineData("application/json", "Content-Type 'application/json' is not supported")]
    [InlineData("text/csv; charset=windows-1252", "charset 'windows-1252' is not supported")]
    [InlineData("not a media type", "Content-Type 'not a media type' is not supported")]
    public void FormatOf_OtherTypes_SayWhyAndWhatToSend(string? contentType, string refusal)
    {
        Assert.Null(FileIngestion.FormatOf(contentType, out var why));
        Assert.Contains(refusal, why);
        Assert.Contains("text/csv", why);
        Assert.Contains("application/vnd.apache.parquet", why);
    }
}
