using System.Text.Json;
using System.Text.Json.Serialization;

namespace Backstay.Platform.Ecs.Aws;

/// <summary>Serializer settings of the JSON 1.1 services: camelCase members (ECS, ECR) or PascalCase (Application Auto Scaling).</summary>
internal static class AwsJson
{
    public static readonly JsonSerializerOptions CamelCase = Create(JsonNamingPolicy.CamelCase);

    public static readonly JsonSerializerOptions PascalCase = Create(null);

    private static JsonSerializerOptions Create(JsonNamingPolicy? naming) => new()
    {
        PropertyNamingPolicy = naming,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNameCaseInsensitive = true,
        Converters = { new EpochSecondsConverter() },
    };

    /// <summary>JSON 1.1 services send timestamps as seconds since the epoch, with a fraction.</summary>
    private sealed class EpochSecondsConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.String
                ? DateTimeOffset.Parse(reader.GetString()!, System.Globalization.CultureInfo.InvariantCulture)
                : DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(reader.GetDouble() * 1000));

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
            writer.WriteNumberValue(value.ToUnixTimeMilliseconds() / 1000.0);
    }
}
