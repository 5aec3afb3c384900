using System.Diagnostics;
using System.Text.Json.Nodes;
using Amazon.CDK;
using Amazon.CDK.Assertions;
using Mlops.Deploy.Stacks;

namespace Mlops.Deploy.Tests;

/// <summary>
/// The platform synthesized once for the whole test run (jsii's start-up and a synth take seconds): the dev defaults,
/// plus the two values only an operator knows. Gives both CDK's assertion templates and the raw JSON templates,
/// whose cross-stack references the tests follow.
/// </summary>
public sealed class SynthesizedPlatform : IDisposable
{
    public const string Domain = "mlops.example.com";
    public const string Certificate = "arn:aws:acm:us-east-1:123456789012:certificate/0b1d2c3e-aaaa-bbbb-cccc-123456789012";

    private readonly string _outdir = Path.Combine(Path.GetTempPath(), "mlops-deploy-tests-" + Guid.NewGuid().ToString("N"));

    public DeploySettings Settings { get; }
    public PlatformStacks Stacks { get; }
    public IReadOnlyDictionary<string, Template> Templates { get; }
    public IReadOnlyDictionary<string, JsonObject> Json { get; }
    public TimeSpan SynthTime { get; }

    public SynthesizedPlatform()
    {
        var watch = Stopwatch.StartNew();
        var app = new App(new AppProps
        {
            Outdir = _outdir,
            Context = new Dictionary<string, object>
            {
                [DeploySettings.Keys.DomainName] = Domain,
                [DeploySettings.Keys.CertificateArn] = Certificate,
            },
        });
        Settings = DeploySettings.FromContext(app.Node);
        Stacks = PlatformApp.Build(app, Settings);
        var assembly = app.Synth();
        Json = Stacks.All.ToDictionary(s => s.StackName,
            s => JsonNode.Parse(File.ReadAllText(Path.Combine(assembly.Directory, s.TemplateFile)))!.AsObject());
        Templates = Stacks.All.ToDictionary(s => s.StackName, s => Template.FromStack(s));
        SynthTime = watch.Elapsed;
    }

    public Template TemplateOf(Stack stack) => Templates[stack.StackName];

    /// <summary>Every resource of <paramref name="type"/> in every stack.</summary>
    public IEnumerable<CfnResource> Resources(string type) =>
        from stack in Json
        from resource in stack.Value["Resources"]!.AsObject()
        where (string?)resource.Value!["Type"] == type
        select new CfnResource(stack.Key, resource.Key, resource.Value!.AsObject());

    public CfnResource Resource(string stack, string logicalId) =>
        new(stack, logicalId, Json[stack]["Resources"]![logicalId]?.AsObject()
            ?? throw new InvalidOperationException($"Stack {stack} has no resource {logicalId}."));

    public string LogicalId(Stack stack, Constructs.IConstruct construct) => stack.GetLogicalId((CfnElement)construct.Node.DefaultChild!);

    public CfnResource TaskDefinition(string service) =>
        Resources("AWS::ECS::TaskDefinition").Single(t => (string?)t.Properties["Family"] == $"{Settings.Prefix}-{service}");

    public CfnResource EcsService(string service) =>
        Resources("AWS::ECS::Service").Single(s => (string?)s.Properties["ServiceName"] == service);

    public CfnResource TaskRole(string service) => Target(Stacks.Services.StackName, TaskDefinition(service).Properties["TaskRoleArn"])!;

    public JsonObject AppContainer(string service) =>
        TaskDefinition(service).Properties["ContainerDefinitions"]!.AsArray()
            .Single(c => (string?)c!["Name"] == ServicesStack.AppContainer)!.AsObject();

    /// <summary>The statements of the policies attached to <paramref name="role"/>.</summary>
    public IEnumerable<JsonNode> PoliciesOf(CfnResource role) =>
        from policy in Resources("AWS::IAM::Policy")
        where policy.Properties["Roles"]!.AsArray().Any(r => Target(policy.Stack, r)?.LogicalId == role.LogicalId)
        from statement in policy.Properties["PolicyDocument"]!["Statement"]!.AsArray()
        select statement!;

    /// <summary>A string-or-list IAM field (Action, Resource) as strings, references rendered.</summary>
    public static IEnumerable<string> Strings(JsonNode? node) => node switch
    {
        JsonArray a => a.Select(x => x!.ToString()),
        null => [],
        _ => [node.ToString()],
    };

    /// <summary>
    /// The resource a reference points at — a Ref or Fn::GetAtt in the same stack, or an Fn::ImportValue of another
    /// stack's export — or null if <paramref name="value"/> is no reference.
    /// </summary>
    public CfnResource? Target(string stack, JsonNode? value)
    {
        if (value is not JsonObject o)
            return null;
        if (o["Ref"] is JsonValue r)
            return Resource(stack, (string)r!);
        if (o["Fn::GetAtt"] is JsonArray a)
            return Resource(stack, (string)a[0]!);
        if (o["Fn::ImportValue"] is JsonValue i)
        {
            var name = (string)i!;
            foreach (var (other, template) in Json)
                foreach (var output in template["Outputs"]?.AsObject() ?? new JsonObject())
                    if ((string?)output.Value!["Export"]?["Name"] == name)
                        return Target(other, output.Value["Value"]);
            throw new InvalidOperationException($"No stack exports {name}.");
        }
        return null;
    }

    /// <summary>
    /// A value as one string with references spelled <c>${Ref:Id}</c>, <c>${GetAtt:Id.Attr}</c> (imports followed),
    /// and Fn::Join joined: ARNs and connection strings become comparable text.
    /// </summary>
    public string Render(string stack, JsonNode? value)
    {
        switch (value)
        {
            case null:
                return "";
            case JsonValue v:
                return v.ToString();
            case JsonArray list:
                return string.Join(",", list.Select(x => Render(stack, x)));
            case JsonObject o when o["Fn::Join"] is JsonArray join:
                return string.Join((string)join[0]!, join[1]!.AsArray().Select(x => Render(stack, x)));
            case JsonObject o when o["Ref"] is JsonValue r && ((string)r!).StartsWith("AWS::", StringComparison.Ordinal):
                return "${" + (string)r! + "}";
            case JsonObject o when o["Fn::ImportValue"] is not null:
                foreach (var (other, template) in Json)
                    foreach (var output in template["Outputs"]?.AsObject() ?? new JsonObject())
                        if ((string?)output.Value!["Export"]?["Name"] == (string?)o["Fn::ImportValue"])
                            return Render(other, output.Value["Value"]);
                throw new InvalidOperationException($"No stack exports {o["Fn::ImportValue"]}.");
            case JsonObject o when o["Ref"] is JsonValue r:
                return "${Ref:" + (string)r! + "}";
            case JsonObject o when o["Fn::GetAtt"] is JsonArray a:
                return "${GetAtt:" + (string)a[0]! + "." + (string)a[1]! + "}";
            default:
                return value.ToJsonString();
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_outdir, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>One resource of a synthesized template.</summary>
public sealed record CfnResource(string Stack, string LogicalId, JsonObject Body)
{
    public string Type => (string)Body["Type"]!;
    public JsonObject Properties => Body["Properties"]?.AsObject() ?? new JsonObject();
}

[CollectionDefinition(Name)]
public sealed class PlatformCollection : ICollectionFixture<SynthesizedPlatform>
{
    public const string Name = "synthesized platform";
}
