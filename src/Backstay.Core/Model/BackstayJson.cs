using System.Text.Json;
using System.Text.Json.Serialization;

namespace Backstay.Core.Model;

/// <summary>The one JSON shape of Backstay's records: web naming, enums as their names. Stores, plans, the API and the CLI share it.</summary>
public static class BackstayJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };
}
