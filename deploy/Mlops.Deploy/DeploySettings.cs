using System.Globalization;
using System.Text.RegularExpressions;
using Constructs;

namespace Mlops.Deploy;

/// <summary>A context value that is missing or invalid; its message names the value and the valid choices.</summary>
public sealed class DeployConfigurationException(string message) : Exception(message);

/// <summary>A Fargate task size: CPU units and memory (MiB), one of the combinations Fargate accepts.</summary>
public sealed record TaskSize(int Cpu, int MemoryMiB);

/// <summary>
/// What can differ between deployments, read from CDK context (<c>-c key=value</c> or deploy/cdk.json). Every value
/// but the two that name things only the operator knows (domain and certificate) has a default per environment.
/// </summary>
public sealed partial record DeploySettings(
    string Environment,
    string DomainName,
    string CertificateArn,
    bool MultiAz,
    string ServiceSize,
    int DesiredCount,
    int ServingMaxCount,
    string DbInstanceType,
    int DbStorageGiB,
    int BackupRetentionDays,
    string BrokerInstanceType,
    int LogRetentionDays,
    string ImageTag)
{
    public static readonly string[] Environments = ["dev", "staging", "prod"];

    public static readonly IReadOnlyDictionary<string, TaskSize> ServiceSizes = new Dictionary<string, TaskSize>
    {
        ["small"] = new(512, 1024),
        ["medium"] = new(1024, 2048),
        ["large"] = new(2048, 4096),
    };

    // Graviton (arm64) classes: the services' images are built for linux-arm64 too; t4g for dev, m/r for load.
    public static readonly string[] DbInstanceTypes = ["t4g.micro", "t4g.small", "t4g.medium", "t4g.large", "m6g.large", "m6g.xlarge", "r6g.large", "r6g.xlarge"];
    // mq.t3.micro runs only as a single instance; a Multi-AZ (cluster) broker needs an m5.
    public static readonly string[] BrokerInstanceTypes = ["mq.t3.micro", "mq.m5.large", "mq.m5.xlarge"];
    // The retentions CloudWatch Logs accepts that make sense for service logs.
    public static readonly int[] LogRetentions = [7, 14, 30, 90, 180, 365];

    /// <summary>The context keys, for messages and the README.</summary>
    public static class Keys
    {
        public const string Environment = "environment";
        public const string DomainName = "domainName";
        public const string CertificateArn = "certificateArn";
        public const string MultiAz = "multiAz";
        public const string ServiceSize = "serviceSize";
        public const string DesiredCount = "desiredCount";
        public const string ServingMaxCount = "servingMaxCount";
        public const string DbInstanceType = "dbInstanceType";
        public const string DbStorageGiB = "dbStorageGiB";
        public const string BackupRetentionDays = "backupRetentionDays";
        public const string BrokerInstanceType = "brokerInstanceType";
        public const string LogRetentionDays = "logRetentionDays";
        public const string ImageTag = "imageTag";
    }

    public bool IsProduction => Environment == "prod";
    public TaskSize TaskSize => ServiceSizes[ServiceSize];
    /// <summary>The prefix of every stack and physical name, e.g. <c>mlops-dev</c>.</summary>
    public string Prefix => $"mlops-{Environment}";
    /// <summary>The CloudWatch log group of a service (or of the collectors' metrics), e.g. <c>/mlops/dev/serving</c>.</summary>
    public string LogGroupName(string name) => $"/mlops/{Environment}/{name}";

    /// <summary>Reads and validates the context of <paramref name="node"/>; throws <see cref="DeployConfigurationException"/> on the first bad value.</summary>
    public static DeploySettings FromContext(Node node) => From(key => node.TryGetContext(key));

    /// <summary>Reads and validates settings from any lookup (the context, or a dictionary in tests).</summary>
    public static DeploySettings From(Func<string, object?> lookup)
    {
        string? Raw(string key) => lookup(key) switch
        {
            null => null,
            string s => s.Trim(),
            bool b => b ? "true" : "false",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            var other => other.ToString(),
        };

        var environment = Choice(Keys.Environment, Raw(Keys.Environment) ?? "dev", Environments);
        var prod = environment == "prod";
        var staging = environment == "staging";

        var domain = Raw(Keys.DomainName) is { Length: > 0 } d ? d
            : throw Missing(Keys.DomainName, "the DNS domain the services are published under (https://<service>.<domainName>), e.g. mlops.example.com");
        if (!DnsName().IsMatch(domain))
            throw new DeployConfigurationException($"Context value {Keys.DomainName}='{domain}' is not a DNS domain name: give lowercase labels of letters, digits and hyphens separated by dots, e.g. mlops.example.com.");
        var certificate = Raw(Keys.CertificateArn) is { Length: > 0 } c ? c
            : throw Missing(Keys.CertificateArn, $"the ARN of an ACM certificate for *.{domain} in the deployment's region (arn:aws:acm:<region>:<account>:certificate/<id>)");
        if (!CertificateArnPattern().IsMatch(certificate))
            throw new DeployConfigurationException($"Context value {Keys.CertificateArn}='{certificate}' is not an ACM certificate ARN: give arn:aws:acm:<region>:<account>:certificate/<id>.");

        var multiAz = Boolean(Keys.MultiAz, Raw(Keys.MultiAz), prod);
        var size = Choice(Keys.ServiceSize, Raw(Keys.ServiceSize) ?? (prod ? "medium" : "small"), [.. ServiceSizes.Keys]);
        var desired = Integer(Keys.DesiredCount, Raw(Keys.DesiredCount), multiAz ? 2 : 1, 1, 10);
        var servingMax = Integer(Keys.ServingMaxCount, Raw(Keys.ServingMaxCount), Math.Max(desired, prod ? 10 : 4), desired, 20);
        var dbType = Choice(Keys.DbInstanceType, Raw(Keys.DbInstanceType) ?? (prod ? "m6g.large" : staging ? "t4g.medium" : "t4g.micro"), DbInstanceTypes);
        var storage = Integer(Keys.DbStorageGiB, Raw(Keys.DbStorageGiB), prod ? 100 : 20, 20, 1000);
        var backups = Integer(Keys.BackupRetentionDays, Raw(Keys.BackupRetentionDays), prod ? 30 : 7, 1, 35);
        var brokerType = Choice(Keys.BrokerInstanceType, Raw(Keys.BrokerInstanceType) ?? (multiAz ? "mq.m5.large" : "mq.t3.micro"), BrokerInstanceTypes);
        if (multiAz && brokerType == "mq.t3.micro")
            throw new DeployConfigurationException($"Context value {Keys.BrokerInstanceType}='mq.t3.micro' cannot run a Multi-AZ broker ({Keys.MultiAz}=true): choose one of mq.m5.large, mq.m5.xlarge.");
        var retention = Integer(Keys.LogRetentionDays, Raw(Keys.LogRetentionDays), prod ? 365 : 30, LogRetentions.Min(), LogRetentions.Max());
        if (!LogRetentions.Contains(retention))
            throw new DeployConfigurationException($"Context value {Keys.LogRetentionDays}='{retention}' is not valid: choose one of {string.Join(", ", LogRetentions)}.");
        var tag = Raw(Keys.ImageTag) ?? "latest";
        if (!ImageTagPattern().IsMatch(tag))
            throw new DeployConfigurationException($"Context value {Keys.ImageTag}='{tag}' is not a container image tag: give 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'.");

        return new(environment, domain, certificate, multiAz, size, desired, servingMax, dbType, storage, backups, brokerType, retention, tag);
    }

    private static DeployConfigurationException Missing(string key, string what) =>
        new($"Context value {key} is missing: give {what} (cdk deploy -c {key}=...).");

    private static string Choice(string key, string value, IReadOnlyCollection<string> choices) =>
        choices.Contains(value, StringComparer.Ordinal) ? value
            : throw new DeployConfigurationException($"Context value {key}='{value}' is not valid: choose one of {string.Join(", ", choices)}.");

    private static bool Boolean(string key, string? value, bool fallback) => value switch
    {
        null => fallback,
        "true" => true,
        "false" => false,
        _ => throw new DeployConfigurationException($"Context value {key}='{value}' is not valid: choose one of true, false."),
    };

    private static int Integer(string key, string? value, int fallback, int min, int max)
    {
        if (value is null)
            return fallback;
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
            throw new DeployConfigurationException($"Context value {key}='{value}' is out of range: choose a whole number from {min} to {max}.");
        return n;
    }

    [GeneratedRegex("^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$")]
    private static partial Regex DnsName();
    [GeneratedRegex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$")]
    private static partial Regex CertificateArnPattern();
    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex ImageTagPattern();
}
