using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Backstay.Core.Model;

namespace Backstay.Server.Api;

/// <summary>The API's JSON: the Core records exactly as the CLI's `--output json` writes them, so a client reads them back into the same types.</summary>
internal static class ApiJson
{
    public static readonly JsonSerializerOptions Options = new(BackstayJson.Options)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Options for the error body, which leaves out an absent activeDeploymentId.</summary>
    public static readonly JsonSerializerOptions ErrorOptions = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static IResult Ok<T>(T value, int status = StatusCodes.Status200OK) =>
        Results.Json(value, Options, contentType: "application/json; charset=utf-8", statusCode: status);

    /// <summary>Reads a JSON body; an empty body gives the fallback, bad JSON a 400 that names the problem.</summary>
    public static async Task<T> ReadAsync<T>(HttpRequest request, T? fallback, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ContentLength == 0 || (request.ContentLength is null && !request.Headers.ContainsKey("Transfer-Encoding")))
        {
            return fallback ?? throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, $"{request.Method} {request.Path} needs a JSON body.");
        }

        try
        {
            return await JsonSerializer.DeserializeAsync<T>(request.Body, Options, cancellationToken)
                ?? fallback
                ?? throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, $"{request.Method} {request.Path} needs a JSON body, not null.");
        }
        catch (JsonException ex)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, $"The request body is not valid for {request.Method} {request.Path}: {ex.Message}");
        }
    }
}
