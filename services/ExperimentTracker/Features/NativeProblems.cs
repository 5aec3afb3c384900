using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Mlops.ExperimentTracker.Features;

/// <summary>
/// Problem results of the tracker's native endpoints, typed so each handler's <c>Results&lt;…&gt;</c> names them and the
/// OpenAPI document lists them (MLflow's routes answer in MLflow's error format instead).
/// </summary>
public static class NativeProblems
{
    public static NotFound<ProblemDetails> NotFound(string title, string detail) =>
        TypedResults.NotFound(new ProblemDetails
        {
            Status = StatusCodes.Status404NotFound, Title = title, Detail = detail, Type = "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        });
}
