using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Mlops.ServiceDefaults.Auth;

/// <summary>Declares the bearer API key in every OpenAPI document so Scalar and generated clients send it.</summary>
internal sealed class BearerSecuritySchemeTransformer : IOpenApiDocumentTransformer
{
    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "The platform API key (the AppHost's api-key parameter).",
        };
        document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] }];
        return Task.CompletedTask;
    }
}
