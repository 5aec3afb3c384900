using System.Runtime.CompilerServices;
using Mlops.Trainer.Model;

namespace Mlops.Serving.Features.Inference;

/// <summary>
/// The explainer of each loaded package, built on the first <c>explain=true</c> request that reaches it (binding the
/// feature contribution calculation costs milliseconds, and most packages are never asked), and kept as long as the package.
/// </summary>
public static class Explainers
{
    private sealed record Entry(ModelExplainer? Explainer, string? Reason);

    private static readonly ConditionalWeakTable<ModelPackage, Lazy<Entry>> Table = [];

    /// <summary>The package's explainer; a 400 naming the model and why when it has none.</summary>
    public static ModelExplainer For(ModelPackage package, string model, string version)
    {
        var entry = Table.GetValue(package, p => new Lazy<Entry>(() =>
        {
            try
            {
                return new Entry(ModelExplainer.TryCreate(p, out var reason), reason);
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or NotSupportedException or InvalidCastException)
            {
                return new Entry(null, $"the feature contribution calculation does not bind to it ({e.Message})");
            }
        })).Value;
        return entry.Explainer ?? throw ProblemException.BadRequest($"Model '{model}' version {version} cannot explain its predictions: {entry.Reason}.");
    }
}
