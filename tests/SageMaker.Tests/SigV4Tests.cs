using System.Text;

namespace Mlops.SageMaker.Tests;

/// <summary>
/// AWS's Signature Version 4 test suite (aws-sig-v4-test-suite, formerly in the AWS General Reference): credentials
/// AKIDEXAMPLE, region us-east-1, service "service", 2015-08-30T12:36:00Z, host example.amazonaws.com.
/// </summary>
public sealed class SigV4Tests
{
    private const string AccessKey = "AKIDEXAMPLE";
    private const string SecretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    private static readonly DateTimeOffset Time = new(2015, 8, 30, 12, 36, 0, TimeSpan.Zero);

    private static SigV4Signature Sign(string method, string path, (string, string)[] query, (string, string)[] headers, string body = "") =>
        SigV4.Sign(new SigV4Request(method, path,
                query.Select(q => new KeyValuePair<string, string>(q.Item1, q.Item2)).ToList(),
                headers.Append(("Host", "example.amazonaws.com")).Append(("X-Amz-Date", "20150830T123600Z"))
                    .Select(h => new KeyValuePair<string, string>(h.Item1, h.Item2)).ToList(),
                SigV4.Sha256Hex(Encoding.UTF8.GetBytes(body))),
            AccessKey, SecretKey, "us-east-1", "service", Time);

    [Fact]
    public void GetVanilla()
    {
        var signature = Sign("GET", "/", [], []);
        Assert.Equal("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + SigV4.EmptyPayloadSha256,
            signature.CanonicalRequest);
        Assert.Equal("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, " +
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", signature.Authorization);
    }

    [Fact]
    public void GetVanillaQueryOrderKeyCase_SortsParameters() =>
        Assert.Equal("b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            Sign("GET", "/", [("Param2", "value2"), ("Param1", "value1")], []).Signature);

    [Fact]
    public void PostVanilla() =>
        Assert.Equal("5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b", Sign("POST", "/", [], []).Signature);

    [Fact]
    public void PostVanillaQuery() =>
        Assert.Equal("28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11", Sign("POST", "/", [("Param1", "value1")], []).Signature);

    [Fact]
    public void PostHeaderKeyCase_LowerCasesNames() =>
        Assert.Equal("c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
            Sign("POST", "/", [], [("MY-HEADER1", "value1")]).Signature);

    [Fact]
    public void PostHeaderValueCase_KeepsValueCase() =>
        Assert.Equal("cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
            Sign("POST", "/", [], [("My-Header1", "VALUE1")]).Signature);

    [Fact]
    public void GetHeaderValueTrim_TrimsAndFoldsSpaces()
    {
        var signature = Sign("GET", "/", [], [("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")]);
        Assert.Equal("host;my-header1;my-header2;x-amz-date", signature.SignedHeaders);
        Assert.Equal("acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736", signature.Signature);
    }

    [Fact]
    public void PostXWwwFormUrlencoded_SignsTheBodyHash()
    {
        var signature = Sign("POST", "/", [], [("Content-Type", "application/x-www-form-urlencoded")], "Param1=value1");
        Assert.Equal("POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n" +
            "content-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e", signature.CanonicalRequest);
        Assert.Equal("AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n" +
            "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281", signature.StringToSign);
        Assert.Equal("ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a", signature.Signature);
    }

    [Fact]
    public void SigningKey_MatchesTheDocumentedDerivation() =>
        // The worked example of the SigV4 documentation (service iam).
        Assert.Equal("c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9",
            Convert.ToHexStringLower(SigV4.SigningKey(SecretKey, "20150830", "us-east-1", "iam")));

    [Fact]
    public void ParseAuthorization_ReadsScopeHeadersAndSignature()
    {
        var parsed = SigV4.ParseAuthorization(Sign("GET", "/", [], []).Authorization)!;
        Assert.Equal(("AKIDEXAMPLE", "20150830", "us-east-1", "service"), (parsed.AccessKey, parsed.Date, parsed.Region, parsed.Service));
        Assert.Equal(["host", "x-amz-date"], parsed.SignedHeaders);
        Assert.Equal("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", parsed.Signature);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer abc")]
    [InlineData("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service, SignedHeaders=host, Signature=00")]
    [InlineData("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00")]
    public void ParseAuthorization_RefusesOtherShapes(string? header) => Assert.Null(SigV4.ParseAuthorization(header));
}
