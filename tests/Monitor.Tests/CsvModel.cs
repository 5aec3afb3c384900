using Mlops.Trainer;
using Mlops.Trainer.Model;
using Mlops.Trainer.SageMaker;
using Mlops.Trainer.Samples;

namespace Mlops.Monitor.Tests;

/// <summary>A small model trained by the real trainer in a temporary folder from CSV train and validation channels, loaded as Serving loads it.</summary>
public sealed class CsvModel : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("monitor-model-").FullName;

    public CsvModel(string trainCsv, string validationCsv, IReadOnlyDictionary<string, string> hyperparameters)
    {
        var layout = new TrainingLayout(root);
        foreach (var (channel, csv) in new[] { ("train", trainCsv), ("validation", validationCsv) })
        {
            Directory.CreateDirectory(layout.ChannelDirectory(channel));
            File.WriteAllText(Path.Combine(layout.ChannelDirectory(channel), $"{channel}.csv"), csv);
        }
        FlightsSample.WriteConfig(layout, hyperparameters, new Dictionary<string, ChannelConfig>());
        Result = new TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync().GetAwaiter().GetResult();
        PackageJson = File.ReadAllText(Path.Combine(layout.ModelDirectory, ModelManifest.FileName));
        Package = ModelPackage.Load(layout.ModelDirectory);
    }

    public TrainingResult Result { get; }

    /// <summary>package.json as the trainer wrote it.</summary>
    public string PackageJson { get; }

    public ModelPackage Package { get; }

    public void Dispose()
    {
        Package.Dispose();
        try { Directory.Delete(root, recursive: true); } catch (IOException) { }
    }
}
