using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Backstay.Core.Engine;
using Backstay.Core.Model;

namespace Backstay.Server.Api;

/// <summary>The API's JSON: the Core records exactly as the CLI's `--output json` writes them, so a client reads them back into the same types.</summary>
internal static class ApiJson
{
    /// <summary>The server's types (ServerJsonContext), then the Core records: both generated at build time, no reflection.</summary>
    public static readonly IJsonTypeInfoResolver Resolver = JsonTypeInfoResolver.Combine(ServerJsonContext.Default, BackstayJson.Options.TypeInfoResolver);

    public static readonly JsonSerializerOptions Options = new(BackstayJson.Options)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        TypeInfoResolver = Resolver,
    };

    /// <summary>
    /// Request bodies are read strictly: a field the body type does not have, a number for an enum, a number in
    /// quotes, null for a value that may not be null or a field given twice is refused, never guessed at.
    /// </summary>
    /// <remarks>
    /// Enums are read by name only, never as numbers: one strict converter per enum a body can hold (the non-generic
    /// converter needs run-time code generation). A body with an enum of another type names it here; a test checks it.
    /// </remarks>
    public static readonly JsonSerializerOptions RequestOptions = new(JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = Resolver,
        Converters =
        {
            new JsonStringEnumConverter<Trigger>(namingPolicy: null, allowIntegerValues: false),
            new JsonStringEnumConverter<ResetMode>(namingPolicy: null, allowIntegerValues: false),
            new JsonStringEnumConverter<Security.Role>(namingPolicy: null, allowIntegerValues: false),
            new JsonStringEnumConverter<Core.Releases.ReleaseOnFailure>(namingPolicy: null, allowIntegerValues: false),
        },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        AllowDuplicateProperties = false,
        MaxDepth = 32,
    };

    /// <summary>Options for the error body, which leaves out what does not apply.</summary>
    public static readonly JsonSerializerOptions ErrorOptions = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        TypeInfoResolver = Resolver,
    };

    public static IResult Ok<T>(T value, int status = StatusCodes.Status200OK) =>
        Results.Json(value, BackstayJson.TypeInfo<T>(Options), contentType: "application/json; charset=utf-8", statusCode: status);

    /// <summary>
    /// Reads a JSON body. No body gives the fallback (or a 400 when a body is needed); a body that is not declared
    /// as JSON is a 415; JSON that does not fit the type exactly is a 400 that names the problem.
    /// </summary>
    public static async Task<T> ReadAsync<T>(HttpRequest request, T? fallback, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(request);
        var hasBody = request.ContentLength > 0 || (request.ContentLength is null && request.Headers.ContainsKey("Transfer-Encoding"));
        if (!hasBody)
        {
            return fallback ?? throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid,
                $"{request.Method} {request.Path} needs a JSON body (Content-Type: application/json).");
        }

        if (!IsJson(request.ContentType))
        {
            throw new ApiException(StatusCodes.Status415UnsupportedMediaType, ErrorKind.UnsupportedMediaType,
                $"{request.Method} {request.Path} takes a JSON body sent as Content-Type: application/json, got {(string.IsNullOrEmpty(request.ContentType) ? "no Content-Type" : $"'{Printable(request.ContentType)}'")}.");
        }

        // Outside the try: a body type the contexts do not name is the server's fault, not the client's.
        var typeInfo = BackstayJson.TypeInfo<T>(RequestOptions);
        T? value;
        try
        {
            value = await JsonSerializer.DeserializeAsync(request.Body, typeInfo, cancellationToken);
        }
        catch (JsonException ex)
        {
            // Some of the serializer's messages (a required member missing) leave out where; the path says it.
            var where = ex.Path is { Length: > 1 } path && !ex.Message.Contains(path, StringComparison.Ordinal) ? $" (at {path})" : "";
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid,
                $"The request body is not valid for {request.Method} {request.Path}: {Printable(ex.Message)}{Printable(where)}");
        }
        catch (NotSupportedException ex)
        {
            // A polymorphic step without its "type", or a type the serializer cannot make from this JSON.
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid,
                $"The request body is not valid for {request.Method} {request.Path}: {Printable(ex.Message)}");
        }
        catch (ArgumentException ex)
        {
            // Two keys of one dictionary that differ only in ways the dictionary does not keep apart.
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid,
                $"The request body is not valid for {request.Method} {request.Path}: {Printable(ex.Message)}");
        }

        // A body of `null` is a body: it is refused, never taken for no body (which an action may accept).
        return value ?? throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid,
            $"{request.Method} {request.Path} needs a JSON object as its body, not null.");
    }

    private static bool IsJson(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType) || !Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            return false;
        }

        var type = media.MediaType.Value ?? "";
        var charset = media.Charset.Value;
        return (type.Equals("application/json", StringComparison.OrdinalIgnoreCase) || type.EndsWith("+json", StringComparison.OrdinalIgnoreCase))
            && (charset is null || charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>What a client sent goes back into messages and logs: cut it short and without control characters.</summary>
    internal static string Printable(string text)
    {
        var cut = text.Length > 300 ? text[..300] + "..." : text;
        return string.Create(cut.Length, cut, (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                span[i] = char.IsControl(source[i]) ? ' ' : source[i];
            }
        });
    }
}
