using Amazon.CDK;

namespace Mlops.Deploy.Tests;

// In the platform's collection: jsii's runtime is one per process, and these tests create an App too.
[Collection(PlatformCollection.Name)]
public sealed class SettingsTests
{
    private static readonly Dictionary<string, object> Required = new()
    {
        [DeploySettings.Keys.DomainName] = SynthesizedPlatform.Domain,
        [DeploySettings.Keys.CertificateArn] = SynthesizedPlatform.Certificate,
    };

    private static DeploySettings Read(params (string Key, object Value)[] values)
    {
        var context = new Dictionary<string, object>(Required);
        foreach (var (key, value) in values)
            context[key] = value;
        return DeploySettings.From(key => context.GetValueOrDefault(key));
    }

    [Fact]
    public void Defaults_AreSafe_ForEveryEnvironment()
    {
        var dev = Read();
        Assert.Equal("dev", dev.Environment);
        Assert.False(dev.MultiAz);
        Assert.Equal("mq.t3.micro", dev.BrokerInstanceType);

        var prod = Read((DeploySettings.Keys.Environment, "prod"));
        Assert.True(prod.MultiAz);
        Assert.Equal("mq.m5.large", prod.BrokerInstanceType);
        Assert.True(prod.DesiredCount >= 2);
        Assert.Equal(30, prod.BackupRetentionDays);
    }

    [Fact]
    public void Values_FromTheCommandLineAndFromCdkJson_ReadAlike()
    {
        Assert.Equal(Read((DeploySettings.Keys.MultiAz, true), (DeploySettings.Keys.DesiredCount, 3)),
            Read((DeploySettings.Keys.MultiAz, "true"), (DeploySettings.Keys.DesiredCount, "3")));
    }

    [Theory]
    [InlineData(DeploySettings.Keys.Environment, "qa", "environment='qa'", "dev, staging, prod")]
    [InlineData(DeploySettings.Keys.ServiceSize, "huge", "serviceSize='huge'", "small, medium, large")]
    [InlineData(DeploySettings.Keys.DesiredCount, "0", "desiredCount='0'", "from 1 to 10")]
    [InlineData(DeploySettings.Keys.DesiredCount, "many", "desiredCount='many'", "from 1 to 10")]
    [InlineData(DeploySettings.Keys.DbStorageGiB, "5000", "dbStorageGiB='5000'", "from 20 to 1000")]
    [InlineData(DeploySettings.Keys.MultiAz, "yes", "multiAz='yes'", "true, false")]
    [InlineData(DeploySettings.Keys.DbInstanceType, "db.x1e.32xlarge", "dbInstanceType='db.x1e.32xlarge'", "t4g.micro")]
    [InlineData(DeploySettings.Keys.LogRetentionDays, "10", "logRetentionDays='10'", "7, 14, 30, 90, 180, 365")]
    [InlineData(DeploySettings.Keys.DomainName, "Not A Domain", "domainName='Not A Domain'", "mlops.example.com")]
    [InlineData(DeploySettings.Keys.CertificateArn, "my-cert", "certificateArn='my-cert'", "arn:aws:acm:")]
    [InlineData(DeploySettings.Keys.ImageTag, "-bad tag", "imageTag='-bad tag'", "128")]
    public void InvalidValue_FailsWithOneMessageNamingTheValueAndTheChoices(string key, string value, string named, string choices)
    {
        var e = Assert.Throws<DeployConfigurationException>(() => Read((key, value)));
        Assert.Contains(named, e.Message);
        Assert.Contains(choices, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void ServingMaximum_BelowTheDesiredCount_IsOutOfRange()
    {
        var e = Assert.Throws<DeployConfigurationException>(() => Read((DeploySettings.Keys.DesiredCount, "4"), (DeploySettings.Keys.ServingMaxCount, "2")));
        Assert.Contains("servingMaxCount='2'", e.Message);
        Assert.Contains("from 4 to 20", e.Message);
    }

    [Fact]
    public void MultiAzBroker_OnAnInstanceThatCannotCluster_IsRefused()
    {
        var e = Assert.Throws<DeployConfigurationException>(() => Read((DeploySettings.Keys.MultiAz, "true"), (DeploySettings.Keys.BrokerInstanceType, "mq.t3.micro")));
        Assert.Contains("mq.m5.large, mq.m5.xlarge", e.Message);
    }

    [Theory]
    [InlineData(DeploySettings.Keys.DomainName)]
    [InlineData(DeploySettings.Keys.CertificateArn)]
    public void MissingRequiredValue_FailsNamingIt(string key)
    {
        var context = new Dictionary<string, object>(Required);
        context.Remove(key);
        var e = Assert.Throws<DeployConfigurationException>(() => DeploySettings.From(k => context.GetValueOrDefault(k)));
        Assert.Contains($"Context value {key} is missing", e.Message);
    }

    [Fact]
    public void CdkContext_WithAnUnknownEnvironment_FailsBeforeAnyStackIsBuilt()
    {
        var app = new App(new AppProps { Context = new Dictionary<string, object>(Required) { [DeploySettings.Keys.Environment] = "qa" } });
        var e = Assert.Throws<DeployConfigurationException>(() => DeploySettings.FromContext(app.Node));
        Assert.Equal("Context value environment='qa' is not valid: choose one of dev, staging, prod.", e.Message);
    }
}
