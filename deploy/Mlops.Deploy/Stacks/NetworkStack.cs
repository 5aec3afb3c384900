using Amazon.CDK;
using Amazon.CDK.AWS.EC2;
using Amazon.CDK.AWS.ElasticLoadBalancingV2;
using Constructs;

namespace Mlops.Deploy.Stacks;

/// <summary>
/// The VPC over two Availability Zones: public subnets for the load balancer and NAT, private subnets (egress through
/// NAT) for the service tasks, isolated subnets for the database and the broker. Also the one security group every
/// service task wears, so the data stack can open PostgreSQL and RabbitMQ to it and to nothing else; and the
/// internet-facing load balancer (its listener and routes are the services stack's). The load balancer lives here, with
/// the security group it opens to the tasks, so that wiring stays inside one stack instead of a cycle between two.
/// </summary>
public sealed class NetworkStack : Stack
{
    public const string PublicSubnets = "public";
    public const string ServiceSubnets = "services";
    public const string DataSubnets = "data";

    public Vpc Vpc { get; }
    public SecurityGroup ServiceTasks { get; }
    public ApplicationLoadBalancer LoadBalancer { get; }

    public NetworkStack(Construct scope, string id, DeploySettings settings, IStackProps props) : base(scope, id, props)
    {
        Vpc = new Vpc(this, "Vpc", new VpcProps
        {
            IpAddresses = IpAddresses.Cidr("10.40.0.0/16"),
            MaxAzs = 2,
            // One NAT gateway is the largest fixed cost of a small deployment; production pays for one per zone so a
            // zone outage does not cut the other zone's tasks off from ECR, SageMaker and Secrets Manager.
            NatGateways = settings.MultiAz ? 2 : 1,
            SubnetConfiguration =
            [
                new SubnetConfiguration { Name = PublicSubnets, SubnetType = SubnetType.PUBLIC, CidrMask = 24 },
                new SubnetConfiguration { Name = ServiceSubnets, SubnetType = SubnetType.PRIVATE_WITH_EGRESS, CidrMask = 20 },
                new SubnetConfiguration { Name = DataSubnets, SubnetType = SubnetType.PRIVATE_ISOLATED, CidrMask = 24 },
            ],
        });
        // S3 traffic (the lake, artifacts, capture) stays off the NAT gateway: a gateway endpoint is free.
        Vpc.AddGatewayEndpoint("S3", new GatewayVpcEndpointOptions
        {
            Service = GatewayVpcEndpointAwsService.S3,
            Subnets = [new SubnetSelection { SubnetType = SubnetType.PRIVATE_WITH_EGRESS }],
        });

        ServiceTasks = new SecurityGroup(this, "ServiceTasks", new SecurityGroupProps
        {
            Vpc = Vpc,
            Description = "Every Mlops.Aspire service task: the only source the database and the broker accept",
            AllowAllOutbound = true,
        });
        // Services call each other directly by their Cloud Map names, on the container port.
        ServiceTasks.AddIngressRule(ServiceTasks, Port.Tcp(ServicesStack.ContainerPort), "Service-to-service calls (Cloud Map)");

        LoadBalancer = new ApplicationLoadBalancer(this, "PublicLoadBalancer", new ApplicationLoadBalancerProps
        {
            Vpc = Vpc,
            InternetFacing = true,
            VpcSubnets = new SubnetSelection { SubnetGroupName = PublicSubnets },
            DropInvalidHeaderFields = true,
        });
        // Where *.<domainName> must point (CNAME or alias record) after the first deploy.
        _ = new CfnOutput(this, "LoadBalancerDnsName", new CfnOutputProps
        {
            Value = LoadBalancer.LoadBalancerDnsName,
            Description = "Point *.<domainName> here",
        });
    }
}
