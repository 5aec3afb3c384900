namespace Mlops.Deploy;

/// <summary>
/// Settings the deployment provides beyond <see cref="PlatformSettings"/> (what the AppHost's External mode gives):
/// where SageMaker training jobs run from and write to, and the capture bucket. No service reads them yet; the names
/// follow the options classes that will (SageMakerOptions' <c>SageMaker</c> section, StorageOptions' <c>Storage</c>).
/// </summary>
public static class ProductionSettings
{
    public const string SageMakerRegion = "SageMaker__Region";
    public const string SageMakerExecutionRoleArn = "SageMaker__ExecutionRoleArn";
    public const string SageMakerTrainingImage = "SageMaker__TrainingImage";
    public const string SageMakerOutputPath = "SageMaker__OutputPath";
    public const string CaptureBucket = "Storage__CaptureBucket";

    /// <summary>The pipeline runner's URL of a service its steps call (its <c>Services</c> section: FeatureStore, ExperimentTracker, Serving, Monitor).</summary>
    public static string RunnerServiceUrl(string service) => $"Services__{service}";
}
