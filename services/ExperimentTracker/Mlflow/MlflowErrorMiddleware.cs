using System.Text.Json;

namespace Mlops.ExperimentTracker.Mlflow;

/// <summary>
/// Local to the MLflow API: errors come back in MLflow's format (<c>error_code</c>, <c>message</c>) rather than the
/// platform's ProblemDetails, because MLflow clients parse that format to raise their own exceptions.
/// </summary>
public static class MlflowErrorMiddleware
{
    public const string ApiPrefix = "/api/2.0/mlflow";

    public static IApplicationBuilder UseMlflowErrors(this IApplicationBuilder app) =>
        app.UseWhen(context => context.Request.Path.StartsWithSegments(ApiPrefix), branch => branch.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (Exception e) when (Translate(e) is { } error && !context.Response.HasStarted)
            {
                context.Response.Clear();
                context.Response.StatusCode = error.StatusCode;
                await context.Response.WriteAsJsonAsync(new MlflowError(error.ErrorCode, error.Message), MlflowJson.Options);
            }
        }));

    // Framework binding errors (a query parameter that is not a number, an oversized body) are the caller's too.
    private static MlflowException? Translate(Exception e) => e switch
    {
        MlflowException m => m,
        BadHttpRequestException b when b.StatusCode == StatusCodes.Status413PayloadTooLarge => null,
        BadHttpRequestException b => MlflowException.Invalid(b.InnerException is JsonException j ? $"{b.Message} {j.Message}" : b.Message),
        _ => null,
    };
}

public sealed record MlflowError(string ErrorCode, string Message);
