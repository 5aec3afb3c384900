using Mlops.ExperimentTracker.Mlflow;

namespace Mlops.ExperimentTracker.Features.Search;

/// <summary>MLflow's ViewType: which lifecycle stages a search returns (ACTIVE_ONLY by default).</summary>
public static class ViewType
{
    public static string[] LifecycleStages(string? viewType, string parameter) => (viewType ?? "ACTIVE_ONLY").ToUpperInvariant() switch
    {
        "ACTIVE_ONLY" or "1" => ["active"],
        "DELETED_ONLY" or "2" => ["deleted"],
        "ALL" or "3" => ["active", "deleted"],
        _ => throw MlflowException.Invalid($"Invalid value '{viewType}' for parameter '{parameter}': use ACTIVE_ONLY, DELETED_ONLY or ALL."),
    };
}
