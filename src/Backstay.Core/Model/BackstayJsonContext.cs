using System.Text.Json;
using System.Text.Json.Serialization;
using Backstay.Core.Control;
using Backstay.Core.Engine;
using Backstay.Core.Engine.Steps;
using Backstay.Core.Spec;

namespace Backstay.Core.Model;

/// <summary>
/// The types <see cref="BackstayJson.Options"/> serializes (records, specs, plans, and what the API and the CLI return of
/// them), generated at build time: web naming, enums as their names. A record that goes into JSON through those options
/// is named here (its members come along); a list of it too when a list is written or read as a whole.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true)]
[JsonSerializable(typeof(ServiceSpec))]
[JsonSerializable(typeof(TaskSpec))]
[JsonSerializable(typeof(DeploymentPlan))]
[JsonSerializable(typeof(DeployRequest))]
[JsonSerializable(typeof(Releases.Release))]
[JsonSerializable(typeof(IReadOnlyList<Releases.Release>))]
[JsonSerializable(typeof(Releases.ReleaseRequest))]
[JsonSerializable(typeof(ServiceRecord))]
[JsonSerializable(typeof(IReadOnlyList<ServiceRecord>))]
[JsonSerializable(typeof(Revision))]
[JsonSerializable(typeof(IReadOnlyList<Revision>))]
[JsonSerializable(typeof(Deployment))]
[JsonSerializable(typeof(IReadOnlyList<Deployment>))]
[JsonSerializable(typeof(List<Deployment>))]
[JsonSerializable(typeof(DeploymentEvent))]
[JsonSerializable(typeof(IReadOnlyList<DeploymentEvent>))]
[JsonSerializable(typeof(HookRun))]
[JsonSerializable(typeof(IReadOnlyList<HookRun>))]
[JsonSerializable(typeof(Observation))]
[JsonSerializable(typeof(ReleaseStatus))]
[JsonSerializable(typeof(DeploymentProgress))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(IReadOnlyDictionary<string, string>))]
[JsonSerializable(typeof(JsonElement))]
internal sealed partial class BackstayJsonContext : JsonSerializerContext;

/// <summary>
/// Core's own documents whose options predate <see cref="BackstayJson.Options"/> and keep their shape: journals, live
/// progress, hook and notification bodies, event data. Enums here are numbers, as they always were in these documents;
/// the naming comes from the options each is used with (web camelCase, or the names as declared).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(NativeRolloutJournal))]
[JsonSerializable(typeof(AdoptionJournal))]
[JsonSerializable(typeof(FailureJournal))]
[JsonSerializable(typeof(DeploymentProgress))]
[JsonSerializable(typeof(Hooks.HookContext))]
[JsonSerializable(typeof(Hooks.NotificationEvent))]
[JsonSerializable(typeof(Hooks.SlackMessage))]
[JsonSerializable(typeof(Acknowledgement.Data))]
[JsonSerializable(typeof(EventData.RolloutStarted))]
[JsonSerializable(typeof(EventData.RolloutProgress))]
[JsonSerializable(typeof(EventData.TrafficWeights))]
[JsonSerializable(typeof(EventData.Drift))]
[JsonSerializable(typeof(EventData.Failure))]
[JsonSerializable(typeof(EventData.AnalysisEvidence))]
[JsonSerializable(typeof(EventData.WarmWindowOpened))]
[JsonSerializable(typeof(JsonElement))]
internal sealed partial class CoreJsonContext : JsonSerializerContext;

/// <summary>
/// Options over <see cref="CoreJsonContext"/>. Kept out of the context class: the order in which the static fields of a
/// partial class's parts are set is not defined, and the generated part's must come before anything that reads Default.
/// </summary>
internal static class CoreJson
{
    /// <summary>Web naming (camelCase, case-insensitive reading, numbers from strings), enums as numbers.</summary>
    public static JsonSerializerOptions Web { get; } = new(JsonSerializerDefaults.Web) { TypeInfoResolver = CoreJsonContext.Default };

    /// <summary>The serializer's defaults (names as declared, case-sensitive), for documents written with them.</summary>
    public static JsonSerializerOptions Plain { get; } = new() { TypeInfoResolver = CoreJsonContext.Default };
}
