using System.Text.Json;
using Backstay.Core.Analysis;
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
    public static string Serialize(IEventData data) => JsonSerializer.Serialize(data, Json.GetTypeInfo(data.GetType()));

    /// <summary>
    /// What <see cref="Recorder.EventAsync"/> takes as data: only the records below, so that an anonymous type (which no
    /// generated context can name, and which would fail at run time) does not compile.
    /// </summary>
    internal interface IEventData;

    internal sealed record RolloutStarted(string RolloutId) : IEventData;

    internal sealed record RolloutProgress(int Running, int Desired, int FailedTasks) : IEventData;

    /// <param name="Weights">Production traffic by revision number.</param>
    internal sealed record TrafficWeights(Dictionary<string, int> Weights) : IEventData;

    internal sealed record Drift(IReadOnlyList<string> Differences) : IEventData;

    internal sealed record Failure(DateTimeOffset? FirstErrorAt, DateTimeOffset VerdictAt) : IEventData
    {
        /// <summary>The numbers of the analysis verdict that failed the deployment, when analysis did.</summary>
        public IReadOnlyList<AnalysisCheck>? Checks { get; init; }
    }

    /// <summary>An analysis verdict's numbers: AnalysisPassed, AnalysisFailedPaused, AnalysisAcknowledged.</summary>
    internal sealed record AnalysisEvidence(string Verdict, IReadOnlyList<AnalysisCheck> Checks) : IEventData;

    /// <summary>A blue/green deployment keeps its previous revision warm (KeepingWarm).</summary>
    internal sealed record WarmWindowOpened(int WarmRevision, DateTimeOffset WarmUntil) : IEventData;
}
