using Microsoft.Extensions.DependencyInjection;

namespace Mlops.SageMaker;

public static class SageMakerServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="SageMakerClient"/> configured from the <c>SageMaker</c> section (ServiceUrl, Region, AccessKey,
    /// SecretKey): the local training service in development, real SageMaker when ServiceUrl is empty; and
    /// <see cref="ITrainingJobs"/> configured from the <c>Training</c> section (TrainerImage, RoleArn, OutputPath, …).
    /// </summary>
    public static IServiceCollection AddSageMakerClient(this IServiceCollection services)
    {
        services.AddOptions<SageMakerOptions>().BindConfiguration(SageMakerOptions.Section)
            .Validate(o => string.IsNullOrEmpty(o.AccessKey) == string.IsNullOrEmpty(o.SecretKey),
                "SageMaker:AccessKey and SageMaker:SecretKey go together (or both stay empty for the AWS credentials chain).")
            .Validate(o => string.IsNullOrWhiteSpace(o.ServiceUrl) || Uri.TryCreate(o.ServiceUrl, UriKind.Absolute, out _),
                "SageMaker:ServiceUrl must be an absolute URL.")
            .ValidateOnStart();
        services.AddHttpClient<SageMakerClient>();
        services.AddOptions<TrainingOptions>().BindConfiguration(TrainingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddTransient<ITrainingJobs, TrainingJobs>();
        return services;
    }
}
