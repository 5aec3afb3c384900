using Amazon.CDK;
using Amazon.CDK.Assertions;

namespace Mlops.Deploy.Tests;

/// <summary>The prod defaults: the Multi-AZ switch on everything that has one, and the data kept on deletion.</summary>
[Collection(PlatformCollection.Name)]
public sealed class ProductionTests
{
    // One more synth (a few seconds), of the production environment's defaults.
    private static readonly Lazy<PlatformStacks> Prod = new(() =>
    {
        var app = new App(new AppProps
        {
            Outdir = Path.Combine(Path.GetTempPath(), "mlops-deploy-tests-prod-" + Guid.NewGuid().ToString("N")),
            Context = new Dictionary<string, object>
            {
                [DeploySettings.Keys.Environment] = "prod",
                [DeploySettings.Keys.DomainName] = SynthesizedPlatform.Domain,
                [DeploySettings.Keys.CertificateArn] = SynthesizedPlatform.Certificate,
            },
        });
        return PlatformApp.Build(app, DeploySettings.FromContext(app.Node));
    });

    [Fact]
    public void Prod_RunsDatabaseBrokerAndNatInEveryZone_AndKeepsTheDatabase()
    {
        var data = Template.FromStack(Prod.Value.Data);
        data.HasResource("AWS::RDS::DBInstance", Match.ObjectLike(new Dictionary<string, object>
        {
            ["DeletionPolicy"] = "Retain",
            ["Properties"] = Match.ObjectLike(new Dictionary<string, object> { ["MultiAZ"] = true, ["DeletionProtection"] = true }),
        }));
        data.HasResourceProperties("AWS::AmazonMQ::Broker", Match.ObjectLike(new Dictionary<string, object>
        {
            ["DeploymentMode"] = "CLUSTER_MULTI_AZ",
            ["HostInstanceType"] = "mq.m5.large",
        }));
        Template.FromStack(Prod.Value.Network).ResourceCountIs("AWS::EC2::NatGateway", 2);
        Template.FromStack(Prod.Value.Services).AllResourcesProperties("AWS::ECS::Service",
            Match.ObjectLike(new Dictionary<string, object> { ["DesiredCount"] = 2 }));
    }
}
