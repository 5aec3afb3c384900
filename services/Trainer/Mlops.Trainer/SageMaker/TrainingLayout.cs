namespace Mlops.Trainer.SageMaker;

/// <summary>
/// The directory tree of a SageMaker training container, rooted at /opt/ml in a real job and at any
/// folder when run locally (PipelineRunner, tests).
/// </summary>
public sealed record TrainingLayout(string Root)
{
    public const string DefaultRoot = "/opt/ml";

    public string ConfigDirectory => Path.Combine(Root, "input", "config");

    public string HyperparametersPath => Path.Combine(ConfigDirectory, "hyperparameters.json");

    public string InputDataConfigPath => Path.Combine(ConfigDirectory, "inputdataconfig.json");

    public string ResourceConfigPath => Path.Combine(ConfigDirectory, "resourceconfig.json");

    public string DataDirectory => Path.Combine(Root, "input", "data");

    public string ModelDirectory => Path.Combine(Root, "model");

    public string OutputDirectory => Path.Combine(Root, "output");

    public string FailurePath => Path.Combine(OutputDirectory, "failure");

    public string OutputDataDirectory => Path.Combine(OutputDirectory, "data");

    public string ChannelDirectory(string channel) => Path.Combine(DataDirectory, channel);
}
