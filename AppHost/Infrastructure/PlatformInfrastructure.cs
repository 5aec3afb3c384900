namespace Mlops.AppHost.Infrastructure;

/// <summary>How services reach S3: an endpoint (emulator) or real AWS (endpoint null).</summary>
public sealed record S3Connection(IResourceBuilder<IResourceWithEndpoints>? Emulator, EndpointReference? Endpoint, string Region,
    string? AccessKey, IResourceBuilder<ParameterResource>? SecretKey);

/// <summary>The infrastructure a mode produced; every mode yields the same shape, so services are wired once.</summary>
public sealed record PlatformInfrastructure(
    InfrastructureMode Mode,
    IResourceBuilder<IResourceWithConnectionString> Postgres,
    IResourceBuilder<IResourceWithConnectionString> Messaging,
    S3Connection S3);

/// <summary>The platform API key every service accepts, and the administrator key its administrative operations need.</summary>
public sealed record PlatformKeys(IResourceBuilder<ParameterResource> ApiKey, IResourceBuilder<ParameterResource> AdminKey);
