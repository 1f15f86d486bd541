using Backstay.Core.Analysis;
using System.Text.Json.Serialization;
using Backstay.Cli.Runtime;

namespace Backstay.Cli.Infrastructure;

/// <summary>The stable JSON shapes of `--output json`.</summary>
internal static class Reports
{
    /// <summary>
    /// The `schemaVersion` every `--output json` document carries (schema/output/*.schema.json). Raise it only for an
    /// incompatible change (a documented field removed, renamed, retyped or given another meaning); new optional fields
    /// do not raise it, and readers ignore fields they do not know.
    /// </summary>
    public const int SchemaVersion = 1;

    public static readonly JsonSerializerOptions Json = new(BackstayJson.Options)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        TypeInfoResolver = CliJson.Resolver,
    };

    /// <summary>The outcome word of `--output json` and of the tables; "Drift" for a deployment stopped because the platform differs from the record.</summary>
    public static string Outcome(Deployment d, bool drift) => drift && d.State == DeploymentState.Stopped ? "Drift" : Outcome(d);

    public static string Outcome(Deployment d) => d.State switch
    {
        DeploymentState.Succeeded => "Succeeded",
        DeploymentState.RolledBack => "RolledBack",
        DeploymentState.Paused => "Paused",
        DeploymentState.Stopped => "Stopped",
        DeploymentState.Failed or DeploymentState.RollbackFailed => "Failed",
        _ => "InProgress",
    };

    /// <summary>The exit code for the deployment's outcome: 9 for a deployment stopped for drift, as the README's table says.</summary>
    public static int ExitCode(Deployment d, bool drift) => drift && d.State == DeploymentState.Stopped ? ExitCodes.Drift : ExitCode(d);

    public static int ExitCode(Deployment d) => d.State switch
    {
        DeploymentState.Succeeded => ExitCodes.Succeeded,
        DeploymentState.RolledBack => ExitCodes.RolledBack,
        DeploymentState.Paused => ExitCodes.Paused,
        DeploymentState.Stopped => ExitCodes.Stopped,
        DeploymentState.Failed or DeploymentState.RollbackFailed => ExitCodes.Failed,
        _ => ExitCodes.Succeeded,
    };

    /// <summary>What differed from the record when drift stopped the deployment (its Drift event); empty when it did not.</summary>
    public static async Task<IReadOnlyList<string>> DriftOfAsync(IControlPlane store, Deployment d, CancellationToken cancellationToken)
    {
        if (d.State != DeploymentState.Stopped)
        {
            return [];
        }

        var found = (await store.ListEventsAsync(d.Id, 0, cancellationToken)).LastOrDefault(e => e.Type == DriftDetector.EventType);
        if (found?.DataJson is not { } data)
        {
            return found is null ? [] : [found.Message];
        }

        using var document = JsonDocument.Parse(data);
        return document.RootElement.TryGetProperty("differences", out var differences) && differences.ValueKind == JsonValueKind.Array
            ? differences.EnumerateArray().Select(e => e.GetString() ?? "").ToList()
            : [found.Message];
    }

    /// <summary>The figures an event carries: weights moved, a failure's first error and verdict time, drift found, a restart's gap.</summary>
    private static JsonElement? EventData(DeploymentEvent e)
    {
        if (e.DataJson is null)
        {
            return null;
        }

        using var document = JsonDocument.Parse(e.DataJson);
        return document.RootElement.Clone();
    }

    /// <summary>The last HAProxy restart recorded in a deployment's timeline, if any.</summary>
    public static async Task<EventReport?> LastHaproxyRestartAsync(IControlPlane store, string deploymentId, CancellationToken cancellationToken)
    {
        var restart = (await store.ListEventsAsync(deploymentId, 0, cancellationToken)).LastOrDefault(e => e.Type == PlatformEventRecorder.HaproxyRestarted);
        return restart is null ? null : new EventReport(restart.DeploymentId, restart.At, restart.Type, restart.Message, EventData(restart));
    }

    /// <param name="apiCalls">The platform calls this process made for the deployment (ECS), or null.</param>
    public static async Task<DeploymentReport> BuildAsync(IControlPlane store, Deployment d, bool withEvents, CancellationToken cancellationToken, ApiCallsReport? apiCalls = null)
    {
        var events = new List<EventReport>();
        DateTimeOffset? firstErrorAt = null;
        DateTimeOffset? verdictAt = null;
        if (withEvents)
        {
            var ids = new List<string> { d.Id };
            if (d.RolledBackBy is { } rb)
            {
                ids.Add(rb);
            }

            foreach (var id in ids)
            {
                foreach (var e in await store.ListEventsAsync(id, 0, cancellationToken))
                {
                    events.Add(new EventReport(e.DeploymentId, e.At, e.Type, e.Message, EventData(e)));
                    if (e.Type == "Failed" && e.DataJson is not null && firstErrorAt is null)
                    {
                        using var doc = JsonDocument.Parse(e.DataJson);
                        if (doc.RootElement.TryGetProperty("firstErrorAt", out var fe) && fe.ValueKind == JsonValueKind.String)
                        {
                            firstErrorAt = fe.GetDateTimeOffset();
                        }

                        if (doc.RootElement.TryGetProperty("verdictAt", out var va) && va.ValueKind == JsonValueKind.String)
                        {
                            verdictAt ??= va.GetDateTimeOffset();
                        }
                    }
                }
            }

            events.Sort((a, b) => a.At.CompareTo(b.At));
        }

        var analysis = await AnalysisOfAsync(store, d, cancellationToken);

        // From the first failed request when the platform saw one; from the failure verdict otherwise (an alarm, a hook, a person).
        long? tts = d.SafeAt is { } safe && (firstErrorAt ?? verdictAt) is { } first ? (long)Math.Max(0, (safe - first).TotalMilliseconds) : null;
        var drift = await DriftOfAsync(store, d, cancellationToken);
        return new DeploymentReport(d.Id, d.Service, d.Kind.ToString(), d.TargetRevision, d.StableRevision, d.Strategy, Outcome(d, drift.Count > 0), d.State.ToString(),
            d.Trigger.ToString(), d.Reason, d.RollbackOf, d.RolledBackBy, d.CurrentStep, d.TotalSteps, d.TargetWeight,
            d.CreatedAt, d.FinishedAt, tts, firstErrorAt, d.SafeAt, d.RequestedBy, apiCalls, drift, events)
        {
            WarmRevision = d.WarmRevision,
            WarmUntil = d.WarmUntil,
            WarmEndedAt = d.WarmEndedAt,
            Analysis = analysis,
        };
    }

    /// <summary>The analysis checks an event carries (Failed, AnalysisPassed, AnalysisFailedPaused, AnalysisAccepted), or none.</summary>
    public static IReadOnlyList<AnalysisCheck> ChecksOf(EventReport e) =>
        e.Data is { ValueKind: JsonValueKind.Object } data && data.TryGetProperty("checks", out var checks) && checks.ValueKind == JsonValueKind.Array
            ? checks.Deserialize(CliJsonContext.Default.IReadOnlyListAnalysisCheck) ?? []
            : [];

    /// <summary>
    /// The analysis verdict that decided the deployment, with its numbers: the failure's when analysis failed it, else the
    /// latest verdict an event recorded (an analysis step passing, a failure held for a person), else the background
    /// analysis's last reading; null when analysis judged nothing.
    /// </summary>
    private static async Task<AnalysisReport?> AnalysisOfAsync(IControlPlane store, Deployment d, CancellationToken cancellationToken)
    {
        foreach (var e in (await store.ListEventsAsync(d.Id, 0, cancellationToken)).Reverse())
        {
            if (e.DataJson is null || !e.DataJson.Contains("\"checks\"", StringComparison.Ordinal))
            {
                continue;
            }

            using var document = JsonDocument.Parse(e.DataJson);
            if (document.RootElement.TryGetProperty("checks", out var checks) && checks.ValueKind == JsonValueKind.Array
                && checks.Deserialize(CliJsonContext.Default.IReadOnlyListAnalysisCheck) is { Count: > 0 } list)
            {
                var verdict = e.Type == "Failed" ? nameof(Verdict.Fail)
                    : document.RootElement.TryGetProperty("verdict", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : nameof(Verdict.Pass);
                return new AnalysisReport(verdict, e.Type, e.At, e.Message, list);
            }
        }

        return DeploymentProgress.Parse(d.ProgressJson)?.Analysis is { } reading
            ? new AnalysisReport(reading.Verdict.ToString(), "progress", reading.At, reading.Reason, reading.Checks)
            : null;
    }
}

/// <summary>An analysis verdict with the numbers of each check behind it (sample sizes, rates, test, statistic, threshold).</summary>
/// <param name="Source">Where it was recorded: the event type (Failed, AnalysisPassed, AnalysisFailedPaused, AnalysisAccepted) or "progress" (the background analysis's last reading).</param>
internal sealed record AnalysisReport(string Verdict, string Source, DateTimeOffset At, string Reason, IReadOnlyList<AnalysisCheck> Checks);

/// <param name="Data">The event's figures, for the events that carry some (e.g. gapMs of HaproxyRestarted).</param>
internal sealed record EventReport(string DeploymentId, DateTimeOffset At, string Type, string Message, JsonElement? Data = null);

internal sealed record DeploymentReport(
    string Id,
    string Service,
    string Kind,
    int Revision,
    int? StableRevision,
    string Strategy,
    string Outcome,
    string State,
    string Trigger,
    string? Reason,
    string? RollbackOf,
    string? RolledBackBy,
    int CurrentStep,
    int TotalSteps,
    int TargetWeight,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt,
    long? TimeToSafetyMs,
    DateTimeOffset? FirstErrorAt,
    DateTimeOffset? SafeAt,
    string? RequestedBy,
    ApiCallsReport? ApiCalls,
    IReadOnlyList<string> Drift,
    IReadOnlyList<EventReport> Events)
{
    /// <summary>The version of this document's shape (schema/output/deployment-report.schema.json); first, so a reader sees it first.</summary>
    [JsonPropertyOrder(-1)]
    public int SchemaVersion => Reports.SchemaVersion;

    /// <summary>The revision that served before: in a rollback, the failed one (which `stableRevision` also names, for older scripts).</summary>
    public int? FromRevision => StableRevision;

    /// <summary>The revision this deployment brings to production: in a rollback, the one it restores.</summary>
    public int ToRevision => Revision;

    /// <summary>Blue/green with keepPreviousFor: the previous revision while it is still kept warm (running, without traffic), else null.</summary>
    public int? WarmRevision { get; init; }

    /// <summary>Until when the previous revision is kept warm (null when the deployment kept nothing warm).</summary>
    public DateTimeOffset? WarmUntil { get; init; }

    /// <summary>When the warm window ended (the previous revision retired, or taken over by a rollback); null while it lasts.</summary>
    public DateTimeOffset? WarmEndedAt { get; init; }

    /// <summary>The analysis verdict that decided the deployment, with its numbers; null when analysis judged nothing.</summary>
    public AnalysisReport? Analysis { get; init; }

    /// <summary>The human line for a deployment that succeeded with its previous revision warm, or null.</summary>
    public string? WarmLine(string? keepFor) => WarmRevision is { } warm && WarmUntil is { } until
        ? $"revision {warm} stays warm until {until.ToLocalTime():HH:mm:ss}{(keepFor is null ? "" : $" (keepPreviousFor {keepFor})")}; `backstay continue --full {Id}` ends it now"
        : null;
}

/// <summary>The AWS API calls one CLI process sent while it ran a deployment (every attempt, retries included), by "service:Operation".</summary>
internal sealed record ApiCallsReport(int Total, IReadOnlyDictionary<string, int> ByOperation)
{
    public static ApiCallsReport From(IReadOnlyDictionary<string, int> calls) =>
        new(calls.Values.Sum(), new SortedDictionary<string, int>(calls.ToDictionary(), StringComparer.Ordinal));

    /// <summary>These calls and others the same process sent for the same deployment (image resolution).</summary>
    public ApiCallsReport Plus(IReadOnlyDictionary<string, int> more)
    {
        var all = new Dictionary<string, int>(ByOperation, StringComparer.Ordinal);
        foreach (var (operation, count) in more)
        {
            all[operation] = all.GetValueOrDefault(operation) + count;
        }

        return From(all);
    }
}

/// <summary>A service's latest release as `status` reports it: what it came to, since when, why, and in words.</summary>
internal sealed record ReleaseReport(ReleaseState State, int Revision, string DeploymentId, string? Reason, DateTimeOffset At, bool Incident, string Summary,
    Acknowledgement? Acknowledged)
{
    public static ReleaseReport From(ReleaseStatus release, DateTimeOffset now) =>
        new(release.State, release.Revision, release.DeploymentId, release.Reason, release.At, release.IsIncident, release.Describe(now), release.Acknowledged);
}
