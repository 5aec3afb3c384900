using Microsoft.Extensions.Configuration;

namespace Mlops.AppHost.Infrastructure;

/// <summary>
/// Where training jobs run: the local SageMaker-compatible training service (endpoint and its SigV4 key pair), or, with no
/// <see cref="Service"/>, real SageMaker in <see cref="Region"/> with the AWS credentials chain.
/// </summary>
public sealed record TrainingJobs(IResourceBuilder<ProjectResource>? Service, string Region, string TrainerImage,
    IResourceBuilder<ParameterResource>? AccessKey, IResourceBuilder<ParameterResource>? SecretKey);

/// <summary>Composes the training-job API for the infrastructure mode, as PostgreSQL, RabbitMQ and S3 are.</summary>
public static class TrainingJobsExtensions
{
    /// <summary>External mode: the SageMaker region (default: the S3 region) and the trainer's image in ECR.</summary>
    public const string SageMakerRegionKey = "Infrastructure:SageMakerRegion";
    public const string TrainerImageKey = "Infrastructure:TrainerImage";

    /// <summary>The trainer's image name in the local service's image map (emulators/TrainingService/appsettings.json).</summary>
    public const string LocalTrainerImage = "mlops-trainer:latest";

    /// <summary>
    /// Adds the local training service (LocalProcesses and Containers modes), keeping its jobs under the data folder; in
    /// External mode adds nothing and points clients at SageMaker.
    /// </summary>
    public static TrainingJobs AddTrainingJobs(this IDistributedApplicationBuilder builder, PlatformInfrastructure infrastructure)
    {
        if (infrastructure.Mode == InfrastructureMode.External)
            return new TrainingJobs(null, builder.Configuration[SageMakerRegionKey] ?? infrastructure.S3.Region,
                builder.Configuration[TrainerImageKey] ?? LocalTrainerImage, null, null);

        var repoRoot = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
        var data = builder.Configuration[InfrastructureExtensions.DataDirectoryKey] ?? Path.Combine(repoRoot, ".mlops-data");
        // The access key id is an identifier, not a secret; the secret key is generated once and kept in user secrets.
        var accessKey = builder.AddParameter(ResourceNames.TrainingServiceAccessKey, "mlops-local");
        var secretKey = builder.AddSecret(ResourceNames.TrainingServiceSecretKey);
        var service = builder.AddProject<Projects.TrainingService>(ResourceNames.TrainingService)
            .WithEnvironment("TrainingService__AccessKey", accessKey)
            .WithEnvironment("TrainingService__SecretKey", secretKey)
            .WithEnvironment("TrainingService__Region", infrastructure.S3.Region)
            .WithEnvironment("TrainingService__StateDirectory", Path.Combine(Path.GetFullPath(data), "training-service"))
            .WithS3(infrastructure.S3)
            .WithHttpHealthCheck("/health");
        return new TrainingJobs(service, infrastructure.S3.Region, LocalTrainerImage, accessKey, secretKey);
    }

    /// <summary>Gives a service the SageMaker client's configuration (<c>SageMaker__*</c>) and the trainer image, with the wait.</summary>
    public static IResourceBuilder<ProjectResource> WithTrainingJobs(this IResourceBuilder<ProjectResource> service, TrainingJobs training)
    {
        service.WithEnvironment("SageMaker__Region", training.Region)
            .WithEnvironment("Training__TrainerImage", training.TrainerImage);
        if (training.Service is not null)
            service.WithEnvironment("SageMaker__ServiceUrl", training.Service.GetEndpoint("http"))
                .WithEnvironment("SageMaker__AccessKey", training.AccessKey!)
                .WithEnvironment("SageMaker__SecretKey", training.SecretKey!)
                .WaitFor(training.Service);
        return service;
    }
}
