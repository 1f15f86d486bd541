using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Backstay.Cli.Commands;

namespace Backstay.Cli.Infrastructure;

/// <summary>
/// The CLI's own JSON types, generated at build time so that `backstay` publishes as a native binary: the `--output
/// json` documents (schema/output/*.schema.json) and the bodies sent to and read from a controller. The Core records
/// come from BackstayJson.Options' context. A document of a new shape is a record below and a line here (anonymous
/// types cannot be generated); <c>CliJsonContractTests</c> writes each with reflection turned off.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true)]
[JsonSerializable(typeof(DeploymentReport))]
[JsonSerializable(typeof(IReadOnlyList<Backstay.Core.Analysis.AnalysisCheck>))]
[JsonSerializable(typeof(List<DeploymentReport>))]
[JsonSerializable(typeof(RollbacksReport))]
[JsonSerializable(typeof(StatusReport))]
[JsonSerializable(typeof(List<RevisionReport>))]
[JsonSerializable(typeof(AcknowledgeReport))]
[JsonSerializable(typeof(ValidateReport))]
[JsonSerializable(typeof(ImportReport))]
[JsonSerializable(typeof(LoadReport))]
[JsonSerializable(typeof(DemoReport))]
[JsonSerializable(typeof(TokenCreatedReport))]
[JsonSerializable(typeof(List<TokenListReport>))]
[JsonSerializable(typeof(TokenRevokedReport))]
[JsonSerializable(typeof(RollbackRequestBody))]
[JsonSerializable(typeof(ContinueRequestBody))]
[JsonSerializable(typeof(StopRequestBody))]
[JsonSerializable(typeof(ResetRequestBody))]
[JsonSerializable(typeof(AcknowledgeRequestBody))]
[JsonSerializable(typeof(CreateTokenRequestBody))]
[JsonSerializable(typeof(IReadOnlyList<TokenListing>))]
[JsonSerializable(typeof(NewToken))]
[JsonSerializable(typeof(Dictionary<string, long>))]
[JsonSerializable(typeof(ReleaseView))]
[JsonSerializable(typeof(ReleasesReport))]
internal sealed partial class CliJsonContext : JsonSerializerContext;

/// <summary>Kept out of the context class, whose generated static fields must be set before anything reads Default.</summary>
internal static class CliJson
{
    /// <summary>The CLI's types first, then the Core records.</summary>
    public static IJsonTypeInfoResolver Resolver { get; } = JsonTypeInfoResolver.Combine(CliJsonContext.Default, BackstayJson.Options.TypeInfoResolver);
}

/// <summary>`rollback` of several services (schema/output/rollback.schema.json).</summary>
internal sealed record RollbacksReport(int SchemaVersion, List<DeploymentReport> Rollbacks);

/// <summary>`status` (schema/output/status.schema.json).</summary>
internal sealed record StatusReport(int SchemaVersion, bool ControllerRunning, List<StatusCommand.ServiceStatus> Services);

/// <summary>One element of `revisions` (schema/output/revisions.schema.json).</summary>
internal sealed record RevisionReport(int SchemaVersion, string Service, int Revision, string Image, string? Digest, IReadOnlyDictionary<string, string> Env,
    bool Stable, bool Removed, DateTimeOffset CreatedAt, Provenance Provenance);

/// <summary>`acknowledge` (schema/output/acknowledge.schema.json).</summary>
internal sealed record AcknowledgeReport(int SchemaVersion, string Service, ReleaseReport Release);

/// <summary>`validate` (schema/output/validate.schema.json).</summary>
internal sealed record ValidateReport(int SchemaVersion, string File, bool Valid, int ErrorCount, List<SpecError> Errors);

/// <summary>`import` (schema/output/import.schema.json).</summary>
internal sealed record ImportReport(int SchemaVersion, string Service, List<ImportedRevision> Revisions, int? StableRevision, string? Skipped, ImportedDeployment? Deployment);

internal sealed record ImportedRevision(int Number, string Image, string? Commit);

internal sealed record ImportedDeployment(string Id, string Kind, string State, int Step, int TotalSteps, int TargetRevision, int TargetWeight);

/// <summary>`history --releases` (schema/output/history.schema.json, its releases form).</summary>
internal sealed record ReleasesReport(int SchemaVersion, List<ReleaseView> Releases);

/// <summary>`load` (schema/output/load.schema.json).</summary>
internal sealed record LoadReport(int SchemaVersion, long Requests, long Failed, long Skipped);

/// <summary>`demo` (schema/output/demo.schema.json).</summary>
internal sealed record DemoReport(int SchemaVersion, List<DemoDeployment> Deployments);

internal sealed record DemoDeployment(string Id, int Revision, string Strategy, string Outcome, long Requests, long FailedRequests, long? TimeToSafetyMs);

/// <summary>`token create` (schema/output/token-create.schema.json).</summary>
internal sealed record TokenCreatedReport(int SchemaVersion, string Name, string Role, string Token);

/// <summary>One element of `token list` (schema/output/token-list.schema.json).</summary>
internal sealed record TokenListReport(int SchemaVersion, string Name, string Role, DateTimeOffset? CreatedAt, string? CreatedBy, bool Bootstrap);

/// <summary>`token revoke` (schema/output/token-revoke.schema.json).</summary>
internal sealed record TokenRevokedReport(int SchemaVersion, string? Name, bool Revoked);

/// <summary>Bodies the CLI sends to a controller's action routes.</summary>
internal sealed record RollbackRequestBody(int? ToRevision);

internal sealed record ContinueRequestBody(string? HookId, bool Full);

internal sealed record StopRequestBody(bool Rollback);

internal sealed record ResetRequestBody(string Mode);

internal sealed record AcknowledgeRequestBody(string? Note);

internal sealed record CreateTokenRequestBody(string Name, string Role);
