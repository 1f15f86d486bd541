using System.Text.Json;
using Backstay.Core.Model;

namespace Backstay.Core.Engine;

/// <summary>
/// The figures events carry in their data (<see cref="DeploymentEvent.DataJson"/>), as records: the serializer's contract
/// for each is generated at build time (CoreJsonContext), which anonymous types cannot have. A new kind of event data is
/// a record here and a line in CoreJsonContext.
/// </summary>
internal static class EventData
{
    /// <summary>Members camelCase, nulls written, enums as numbers: the shape event data has always had.</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        TypeInfoResolver = CoreJsonContext.Default,
    };

    /// <summary>The data's JSON, by its runtime type.</summary>
    public static string Serialize(object data) => JsonSerializer.Serialize(data, Json.GetTypeInfo(data.GetType()));

    internal sealed record RolloutStarted(string RolloutId);

    internal sealed record RolloutProgress(int Running, int Desired, int FailedTasks);

    /// <param name="Weights">Production traffic by revision number.</param>
    internal sealed record TrafficWeights(Dictionary<string, int> Weights);

    internal sealed record Drift(IReadOnlyList<string> Differences);

    internal sealed record Failure(DateTimeOffset? FirstErrorAt, DateTimeOffset VerdictAt);
}
