using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Backstay.Core.Model;

/// <summary>The one JSON shape of Backstay's records: web naming, enums as their names. Stores, plans, the API and the CLI share it.</summary>
/// <remarks>
/// Every options object of Backstay resolves its types from source-generated contexts (<see cref="JsonSerializerContext"/>),
/// never by reflection, so the CLI publishes as a native binary (Native AOT) and a normal build reports reflection-based
/// JSON as an error (IL2026/IL3050). Serialize through <see cref="Serialize{T}"/> and <see cref="Deserialize{T}"/> with
/// the options that give the shape; a type none of their contexts names fails at run time with NotSupportedException:
/// add it to the context (here BackstayJsonContext.cs).
/// </remarks>
public static class BackstayJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = BackstayJsonContext.Default,
    };

    /// <summary>The serializer's contract for <typeparamref name="T"/> under these options, from their source-generated contexts.</summary>
    public static JsonTypeInfo<T> TypeInfo<T>(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));
    }

    public static string Serialize<T>(T value, JsonSerializerOptions options) => JsonSerializer.Serialize(value, TypeInfo<T>(options));

    public static T? Deserialize<T>(string json, JsonSerializerOptions options) => JsonSerializer.Deserialize(json, TypeInfo<T>(options));
}
