using Mlops.ServiceDefaults.Errors;
using Mlops.ServiceDefaults.Idempotency;

namespace Mlops.Serving.Tests;

/// <summary>The Idempotency-Key rules every service applies (ServiceDefaults; Serving's deployments are one user).</summary>
public sealed class IdempotencyKeyTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void Read_NoKey_IsNull(string? header) => Assert.Null(IdempotencyKey.Read(header));

    [Fact]
    public void Read_UpTo255Characters_IsTheKey_Longer_Is400NamingTheHeader()
    {
        var longest = new string('k', 255);
        Assert.Equal(longest, IdempotencyKey.Read(longest));
        var problem = Assert.Throws<ProblemException>(() => IdempotencyKey.Read(longest + "k"));
        Assert.Equal(400, problem.Status);
        Assert.Contains("Idempotency-Key", problem.Message);
        Assert.Contains("256", problem.Message);
        Assert.True(((IDictionary<string, string[]>)problem.Extensions!["errors"]!).ContainsKey("Idempotency-Key"));
    }

    [Fact]
    public void Reused_Is409NamingTheKeyAndWhatItStarted()
    {
        var problem = IdempotencyKey.Reused("k1", "deployment dep-1", "the same body");
        Assert.Equal(409, problem.Status);
        Assert.Contains("'k1'", problem.Message);
        Assert.Contains("deployment dep-1", problem.Message);
    }

    [Fact]
    public void Hash_IsTheSha256OfTheText() =>
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", IdempotencyKey.Hash("abc"));
}
