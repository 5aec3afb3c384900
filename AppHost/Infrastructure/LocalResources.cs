namespace Mlops.AppHost.Infrastructure;

/// <summary>PostgreSQL run by the AppHost as a process (eng/local/postgres.sh).</summary>
public sealed class LocalPostgresResource(string name, string command, string workingDirectory, ParameterResource password)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";
    public ParameterResource Password { get; } = password;
    public EndpointReference Endpoint => new(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"Host=127.0.0.1;Port={Endpoint.Property(EndpointProperty.Port)};Username=postgres;Password={Password}");
}

/// <summary>RabbitMQ run by the AppHost as a process (eng/local/rabbitmq.sh).</summary>
public sealed class LocalRabbitMqResource(string name, string command, string workingDirectory, ParameterResource user, ParameterResource password)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";
    public ParameterResource User { get; } = user;
    public ParameterResource Password { get; } = password;
    public EndpointReference Endpoint => new(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"amqp://{User}:{Password}@127.0.0.1:{Endpoint.Property(EndpointProperty.Port)}");
}
