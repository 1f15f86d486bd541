using System.Text.Json.Serialization;
using Backstay.Core.Model;
using Backstay.Core.Spec;

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
    public const string UnsupportedMediaType = "unsupportedMediaType";
    public const string Internal = "internal";
}

/// <summary>A refusal with its HTTP status and kind, turned into the error body by <see cref="ApiErrors"/>.</summary>
internal sealed class ApiException(int status, string kind, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string Kind { get; } = kind;
}

/// <summary>One problem of a spec sent to the API: the key as in backstay.yaml and what is wrong and what would be right.</summary>
internal sealed record SpecProblem(string Key, string Message);

/// <summary>
/// The error body, an RFC 9457 problem document (`application/problem+json`): type, title, status and detail, plus
/// `error` (the same words as detail) and `kind`, which clients of earlier versions read, and when they apply
/// `activeDeploymentId`, and a spec's `errors` (the first 50) with `errorCount`.
/// </summary>
internal sealed record ApiErrorBody(string Error, string Kind, string? ActiveDeploymentId = null)
{
    public const string ContentType = "application/problem+json; charset=utf-8";

    [JsonPropertyOrder(-4)]
    public string Type => "urn:backstay:problem:" + Kind;

    [JsonPropertyOrder(-3)]
    public string Title => Kind switch
    {
        ErrorKind.Invalid => "The request is not valid",
        ErrorKind.Conflict => "The service has a deployment in progress",
        ErrorKind.Drift => "The platform differs from the record",
        ErrorKind.NotFound => "Not found",
        ErrorKind.Forbidden => "Not allowed",
        ErrorKind.Unauthorized => "A token is needed",
        ErrorKind.UnsupportedMediaType => "The body is not JSON",
        _ => "The controller failed",
    };

    [JsonPropertyOrder(-2)]
    public int Status { get; init; }

    [JsonPropertyOrder(-1)]
    public string Detail => Error;

    public IReadOnlyList<SpecProblem>? Errors { get; init; }

    public int? ErrorCount { get; init; }
}

/// <summary>A spec sent to the API was refused by the spec reader; carries its problems for the error body.</summary>
internal sealed class SpecRefusedException(SpecException inner)
    : Exception("The spec is not valid:" + Environment.NewLine + SpecException.Describe(inner.Errors), inner)
{
    public IReadOnlyList<SpecProblem> Problems { get; } = inner.Errors.Take(SpecException.MaxShown).Select(e => new SpecProblem("spec." + e.Key, e.Message)).ToList();

    public int Count { get; } = inner.Errors.Count;
}

internal static class ApiErrors
{
    public static async Task WriteAsync(HttpContext context, int status, string kind, string message, string? activeDeploymentId = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        await WriteAsync(context, new ApiErrorBody(message, kind, activeDeploymentId) { Status = status });
    }

    public static async Task WriteAsync(HttpContext context, ApiErrorBody body)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(body);
        context.Response.StatusCode = body.Status;
        context.Response.ContentType = ApiErrorBody.ContentType;
        context.Response.Headers.CacheControl = "no-store";
        await JsonSerializer.SerializeAsync(context.Response.Body, body, BackstayJson.TypeInfo<ApiErrorBody>(ApiJson.ErrorOptions), context.RequestAborted);
    }

    /// <summary>The same body as a result, for endpoints that answer a refusal themselves.</summary>
    public static IResult Result(int status, string kind, string message) =>
        Results.Json(new ApiErrorBody(message, kind) { Status = status }, BackstayJson.TypeInfo<ApiErrorBody>(ApiJson.ErrorOptions), ApiErrorBody.ContentType, status);
}
