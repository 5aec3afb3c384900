using Mlops.ExperimentTracker.Features.Artifacts;
using Mlops.ExperimentTracker.Mlflow;

namespace Mlops.ExperimentTracker.Tests;

public sealed class ArtifactPathTests
{
    [Theory]
    [InlineData("1/abc/artifacts/model/MLmodel", "1/abc/artifacts/model/MLmodel")]
    [InlineData("1/abc/artifacts/model/", "1/abc/artifacts/model")]
    [InlineData("1/abc/artifacts%2Fmodel%2fMLmodel", "1/abc/artifacts/model/MLmodel")]
    [InlineData("1/abc/artifacts/100% done.txt", "1/abc/artifacts/100% done.txt")]
    [InlineData("1/abc/artifacts/..data/file..txt", "1/abc/artifacts/..data/file..txt")]
    public void SafePaths_AreKeptAsObjectKeys(string path, string key) => Assert.Equal(key, ArtifactPath.Validate(path));

    [Theory]
    [InlineData("../escape", "'.' and '..'")]
    [InlineData("1/a/../../escape", "'.' and '..'")]
    [InlineData("1/./a", "'.' and '..'")]
    [InlineData("1/%2e%2e/escape", "'.' and '..'")]
    [InlineData("1/%252e%252e/escape", "'.' and '..'")]
    [InlineData("1/%25252e%25252e/escape", "'.' and '..'")]
    [InlineData("1/..%2Fescape", "'.' and '..'")]
    [InlineData("1/..%252Fescape", "'.' and '..'")]
    [InlineData("/etc/passwd", "relative")]
    [InlineData("%2Fetc/passwd", "relative")]
    [InlineData("~/x", "relative")]
    [InlineData("C:/Windows", "drive letter")]
    [InlineData("1/a\\..\\b", "backslashes")]
    [InlineData("1/a%5Cb", "backslashes")]
    [InlineData("1/a\u0000b", "control characters")]
    [InlineData("1/a%00b", "control characters")]
    [InlineData("1//b", "empty segments")]
    public void HostilePaths_AreInvalidParameterValue(string path, string reason)
    {
        var error = Assert.Throws<MlflowException>(() => ArtifactPath.Validate(path));
        Assert.Equal(MlflowException.InvalidParameterValue, error.ErrorCode);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void TooLongOrMissing_IsInvalid()
    {
        Assert.Contains("at most 1024", Assert.Throws<MlflowException>(() => ArtifactPath.Validate(new string('a', 1025))).Message);
        Assert.Contains("'path'", Assert.Throws<MlflowException>(() => ArtifactPath.Validate(null)).Message);
        Assert.Equal("", ArtifactPath.ValidateOptional(null));
        Assert.Equal("", ArtifactPath.ValidateOptional("/"));
    }
}
