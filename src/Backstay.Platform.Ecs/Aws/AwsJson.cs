using System.Text.Json;
using System.Text.Json.Serialization;
using Backstay.Platform.Ecs.Aws.ApplicationAutoScaling;
using Backstay.Platform.Ecs.Aws.Ecr;

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
        TypeInfoResolver = AwsJsonContext.Default,
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

/// <summary>
/// The requests and answers of the JSON 1.1 services, generated at build time (the naming comes from the options above).
/// A new operation's request and response types are named here.
/// </summary>
[JsonSerializable(typeof(CreateServiceRequest))]
[JsonSerializable(typeof(CreateTaskSetRequest))]
[JsonSerializable(typeof(DeleteServiceRequest))]
[JsonSerializable(typeof(DeleteTaskSetRequest))]
[JsonSerializable(typeof(DeregisterTaskDefinitionRequest))]
[JsonSerializable(typeof(DescribeImagesRequest))]
[JsonSerializable(typeof(DescribeImagesResponse))]
[JsonSerializable(typeof(DescribeScalableTargetsRequest))]
[JsonSerializable(typeof(DescribeScalableTargetsResponse))]
[JsonSerializable(typeof(DescribeServicesRequest))]
[JsonSerializable(typeof(DescribeServicesResponse))]
[JsonSerializable(typeof(DescribeTaskDefinitionRequest))]
[JsonSerializable(typeof(DescribeTaskSetsRequest))]
[JsonSerializable(typeof(DescribeTaskSetsResponse))]
[JsonSerializable(typeof(DescribeTasksRequest))]
[JsonSerializable(typeof(DescribeTasksResponse))]
[JsonSerializable(typeof(EmptyResponse))]
[JsonSerializable(typeof(ListTaskDefinitionsRequest))]
[JsonSerializable(typeof(ListTaskDefinitionsResponse))]
[JsonSerializable(typeof(ListTasksRequest))]
[JsonSerializable(typeof(ListTasksResponse))]
[JsonSerializable(typeof(RegisterScalableTargetRequest))]
[JsonSerializable(typeof(RegisterScalableTargetResponse))]
[JsonSerializable(typeof(RegisterTaskDefinitionRequest))]
[JsonSerializable(typeof(ServiceResponse))]
[JsonSerializable(typeof(TagResourceRequest))]
[JsonSerializable(typeof(TaskDefinitionResponse))]
[JsonSerializable(typeof(TaskDefinition))]
[JsonSerializable(typeof(TaskSetResponse))]
[JsonSerializable(typeof(UntagResourceRequest))]
[JsonSerializable(typeof(UpdateServicePrimaryTaskSetRequest))]
[JsonSerializable(typeof(UpdateServiceRequest))]
[JsonSerializable(typeof(UpdateTaskSetRequest))]
internal sealed partial class AwsJsonContext : JsonSerializerContext;
