using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Backstay.Server.Api;

/// <summary>The kinds of the error body, one per way a request can be refused.</summary>
internal static class ErrorKind
{
    public const string Invalid = "invalid";
    public const string Conflict = "conflict";
    public const string Drift = "drift";
    public const string NotFound = "notFound";
    public const string Forbidden = "forbidden";
    public const string Unauthorized = "unauthorized";
    public const string Internal = "internal";
}

/// <summary>A refusal with its HTTP status and kind, turned into the error body by <see cref="ApiErrors"/>.</summary>
internal sealed class ApiException(int status, string kind, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string Kind { get; } = kind;
}

/// <summary>The error body: `{"error": "...", "kind": "...", "activeDeploymentId"?: "..."}`.</summary>
internal sealed record ApiErrorBody(string Error, string Kind, string? ActiveDeploymentId = null);

internal static class ApiErrors
{
    public static async Task WriteAsync(HttpContext context, int status, string kind, string message, string? activeDeploymentId = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        await JsonSerializer.SerializeAsync(context.Response.Body, new ApiErrorBody(message, kind, activeDeploymentId), ApiJson.ErrorOptions, context.RequestAborted);
    }
}
