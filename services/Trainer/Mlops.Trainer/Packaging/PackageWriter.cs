using System.Text.Json;
using Microsoft.ML;
using Mlops.Trainer.Featurization;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Trainer.Packaging;

/// <summary>The parts of the manifest the job knows before the package is written.</summary>
public sealed record ModelManifestDraft(
    ProblemType Problem,
    string Algorithm,
    string Label,
    int Seed,
    IReadOnlyDictionary<string, string> Hyperparameters,
    IReadOnlyList<string>? Classes,
    IReadOnlyDictionary<string, ChannelDigest> TrainingData,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Metrics,
    double? DecisionThreshold,
    RecordedImportance? FeatureImportance = null);

/// <summary>Writes model/: model.zip, model.onnx when the converter supports every step, and package.json.</summary>
public static class PackageWriter
{
    public static ModelManifest Write(MLContext ml, string directory, ITransformer model, FeaturePlan plan, ModelManifestDraft draft)
    {
        Directory.CreateDirectory(directory);

        // The saved input schema is the feature columns only: that is what Serving must supply.
        var inputView = new TableDataView(new DataTable([.. plan.Inputs.Select(c => c.Select([]))]));
        ml.Model.Save(model, inputView.Schema, Path.Combine(directory, ModelManifest.ModelFileName));
        var onnx = ExportOnnx(ml, directory, model, inputView);

        var manifest = new ModelManifest(
            ModelManifest.CurrentFormatVersion,
            TrainingJob.Version,
            draft.Problem,
            draft.Algorithm,
            draft.Label,
            draft.Seed,
            draft.Hyperparameters,
            [.. plan.Inputs.Select(c => new SchemaColumn(c.Name, c.Kind.ToString().ToLowerInvariant()))],
            OutputSchema(draft.Problem),
            draft.Classes,
            plan.Treatments,
            draft.TrainingData,
            draft.Metrics,
            onnx,
            DateTimeOffset.UtcNow,
            draft.DecisionThreshold,
            draft.FeatureImportance);
        File.WriteAllText(Path.Combine(directory, ModelManifest.FileName), JsonSerializer.Serialize(manifest, ModelManifest.Json));
        return manifest;
    }

    private static IReadOnlyList<SchemaColumn> OutputSchema(ProblemType problem) => problem switch
    {
        ProblemType.Binary =>
        [
            new(ModelPackage.PredictedLabelColumn, "boolean"), new(ModelPackage.ScoreColumn, "number"), new(ModelPackage.ProbabilityColumn, "number"),
        ],
        ProblemType.Multiclass => [new(ModelPackage.PredictedLabelColumn, "text"), new(ModelPackage.ScoreColumn, "vector<number>")],
        _ => [new(ModelPackage.ScoreColumn, "number")],
    };

    /// <summary>
    /// Microsoft.ML.OnnxConverter exports most built-in transforms and learners; a custom mapping (timestamp
    /// parts) or an unsupported learner makes it throw, and then the package says why instead of shipping a
    /// partial file. The export is an extra: whatever it throws must not fail a job whose model is already saved.
    /// </summary>
    private static OnnxExport ExportOnnx(MLContext ml, string directory, ITransformer model, IDataView input)
    {
        var path = Path.Combine(directory, ModelManifest.OnnxFileName);
        try
        {
            using (var stream = File.Create(path))
            {
                ml.Model.ConvertToOnnx(model, input, stream);
            }

            return new OnnxExport(ModelManifest.OnnxFileName, "exported");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            File.Delete(path);
            return new OnnxExport(null, "not_supported", $"{e.GetType().Name}: {e.Message}");
        }
    }
}
