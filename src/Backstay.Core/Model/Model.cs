using System.Text.Json;
using System.Text.Json.Serialization;

namespace Backstay.Core.Model;

/// <summary>The state of a deployment, as DESIGN.md names them.</summary>
public enum DeploymentState
{
    Pending,
    InProgress,
    Paused,
    Succeeded,
    RollingBack,
    RolledBack,
    RollbackFailed,
    Failed,
    Stopped,
}

/// <summary>Which states a deployment is still going on in.</summary>
public static class DeploymentStates
{
    /// <summary>Pending, in progress, paused or rolling back: not finished.</summary>
    public static bool IsActive(this DeploymentState state) =>
        state is DeploymentState.Pending or DeploymentState.InProgress or DeploymentState.Paused or DeploymentState.RollingBack;
}

/// <summary>What a deployment does: move to a new revision, undo another deployment, or re-sync.</summary>
public enum DeploymentKind
{
    Deploy,
    Rollback,
    Reset,
}

/// <summary>Who or what started a deployment.</summary>
public enum Trigger
{
    User,
    Ci,
    AutomaticRollback,
    ManualRollback,
    Reset,
}

/// <summary>Where a step of the journal stands.</summary>
public enum StepPhase
{
    NotStarted,
    Started,
    Completed,
}

/// <summary>A service Backstay deploys, with the spec it was last deployed from.</summary>
public sealed record ServiceRecord
{
    public required string Name { get; init; }
    public required string Platform { get; init; }
    public int? StableRevision { get; init; }
    public int DesiredCount { get; init; }
    public string SpecJson { get; set; } = "{}";
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>Git provenance of a revision.</summary>
public sealed record Provenance
{
    public string? Commit { get; init; }
    public string? Message { get; init; }
    public string? Author { get; init; }
    public string? Branch { get; init; }
    public bool Dirty { get; init; }
}

/// <summary>An immutable, numbered snapshot of what runs.</summary>
public sealed record Revision
{
    public required string Service { get; init; }
    public int Number { get; init; }
    public required string Image { get; init; }
    public string? Digest { get; init; }
    public IReadOnlyDictionary<string, string> Env { get; set; } = new Dictionary<string, string>();
    public int Port { get; init; }
    public string TaskJson { get; set; } = "{}";
    public Provenance Provenance { get; set; } = new();
    public DateTimeOffset CreatedAt { get; init; }
    public bool Removed { get; init; }
}

/// <summary>One move of a service from a stable revision to a target revision.</summary>
public sealed record Deployment
{
    public required string Id { get; init; }
    public required string Service { get; init; }
    public DeploymentKind Kind { get; init; }
    public Trigger Trigger { get; init; }
    public required string Strategy { get; init; }
    public int? StableRevision { get; init; }
    public int TargetRevision { get; init; }
    public DeploymentState State { get; init; }
    public int CurrentStep { get; init; }
    public StepPhase StepPhase { get; init; }
    public int TotalSteps { get; init; }

    /// <summary>Instances of the stable revision before the deployment began; a rollback restores this count.</summary>
    public int StableCountBefore { get; init; }

    /// <summary>Production weight (percent) on the target revision, as last set.</summary>
    public int TargetWeight { get; init; }
    public bool TestTrafficOnTarget { get; init; }
    public string? RollbackOf { get; init; }
    public string? RolledBackBy { get; init; }
    public string? Reason { get; init; }

    /// <summary>
    /// The plan (strategy steps and analysis settings) this deployment follows, as JSON text: how the store keeps it.
    /// Documents (the API, `--output json`) carry it as the object <see cref="Plan"/>, never as a string.
    /// </summary>
    [JsonIgnore]
    public string PlanJson { get; set; } = "{}";

    /// <summary>The plan as a JSON object, as documents carry it: <c>"plan": {"spec": ..., "actions": [...]}</c>. It reads and writes <see cref="PlanJson"/>.</summary>
    public JsonElement Plan
    {
        get => JsonElementOf(PlanJson) ?? JsonElementOf("{}")!.Value;
        init => PlanJson = value.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null ? "{}" : value.GetRawText();
    }

    public string? Owner { get; init; }

    /// <summary>
    /// Latest live figures (traffic split, healthy instances, error rate) as JSON text, refreshed while it runs: how the
    /// store keeps them. Documents carry them as the object <see cref="Progress"/>.
    /// </summary>
    [JsonIgnore]
    public string? ProgressJson { get; init; }

    /// <summary>The live figures as a JSON object (<c>"progress": {"targetWeight": 50, ...}</c>), or null before there are any. It reads and writes <see cref="ProgressJson"/>.</summary>
    public JsonElement? Progress
    {
        get => JsonElementOf(ProgressJson);
        init => ProgressJson = value is { ValueKind: not (JsonValueKind.Undefined or JsonValueKind.Null) } given ? given.GetRawText() : null;
    }
    public string? RequestedBy { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>When the production weight of a rolled-back target first reached 0.</summary>
    public DateTimeOffset? SafeAt { get; init; }

    /// <summary>
    /// Blue/green with <c>keepPreviousFor</c>: the deployment succeeded with the previous revision (its
    /// <see cref="StableRevision"/>) kept running, without traffic, until this time, so that a rollback is a single
    /// switch. The engine retires it then (or at `continue --full`, a rollback or the next deployment) and sets
    /// <see cref="WarmEndedAt"/>. Null when nothing was kept warm.
    /// </summary>
    public DateTimeOffset? WarmUntil { get; init; }

    /// <summary>When the warm window of <see cref="WarmUntil"/> ended; null while the previous revision is still kept warm.</summary>
    public DateTimeOffset? WarmEndedAt { get; init; }

    /// <summary>The revision kept warm now: the previous one, while the window is open; null otherwise. Documents carry it (read only).</summary>
    public int? WarmRevision => WarmUntil is not null && WarmEndedAt is null && State == DeploymentState.Succeeded ? StableRevision : null;

    public bool IsActive => State.IsActive();

    public bool IsFinished => !IsActive;

    private static JsonElement? JsonElementOf(string? json) =>
        string.IsNullOrWhiteSpace(json) ? null : BackstayJson.Deserialize<JsonElement>(json, CoreJson.Plain);
}

/// <summary>One entry of a deployment's timeline.</summary>
public sealed record DeploymentEvent
{
    public long Sequence { get; init; }
    public required string DeploymentId { get; init; }
    public DateTimeOffset At { get; init; }
    public required string Type { get; init; }
    public required string Message { get; init; }
    public int? Step { get; init; }
    public string? DataJson { get; init; }
}

/// <summary>What a person or process asks of a running deployment.</summary>
public enum CommandKind
{
    Continue,
    ContinueFull,
    Rollback,
    Stop,
}

/// <summary>A request for a running deployment, written to the store so any process can answer.</summary>
public sealed record DeploymentCommand
{
    public long Id { get; init; }
    public required string DeploymentId { get; init; }
    public CommandKind Kind { get; init; }
    public string? HookId { get; init; }
    public string? RequestedBy { get; init; }
    public DateTimeOffset At { get; init; }
}

/// <summary>A journal record: the intent or the result of one step.</summary>
public sealed record JournalEntry
{
    public long Sequence { get; init; }
    public required string DeploymentId { get; init; }
    public int Step { get; init; }
    public StepPhase Phase { get; init; }
    public required string Action { get; init; }
    public string? DetailJson { get; init; }
    public DateTimeOffset At { get; init; }
}

/// <summary>The state of one hook run, as DESIGN.md names them.</summary>
public enum HookState
{
    Pending,
    InProgress,
    AwaitingAction,
    Succeeded,
    Failed,
    TimedOut,
}

/// <summary>One run of a lifecycle hook, kept in the history with its output.</summary>
public sealed record HookRun
{
    public required string Id { get; init; }
    public required string DeploymentId { get; init; }
    public required string Stage { get; init; }

    /// <summary>Position of the hook in its stage's list in the spec.</summary>
    public int Index { get; init; }

    /// <summary>exec, http or pause.</summary>
    public required string Kind { get; init; }
    public HookState State { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>When a pause hook applies its default action.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }
    public string? Output { get; init; }

    /// <summary>How a pause hook was answered: continue, rollback, or the default on timeout.</summary>
    public string? Answer { get; init; }
    public string? AnsweredBy { get; init; }

    /// <summary>The plan step the run belongs to: a stage such as AllowTraffic recurs at several steps.</summary>
    public int Step { get; init; }
}

/// <summary>What the platform showed for one service at a moment: each revision's instances and the production weights.</summary>
public sealed record Observation
{
    public required string Service { get; init; }
    public DateTimeOffset At { get; init; }
    public IReadOnlyList<ObservedSet> Sets { get; set; } = [];
    public IReadOnlyDictionary<int, int> ProductionWeights { get; set; } = new Dictionary<int, int>();

    /// <summary>Something on the platform other than Backstay sets the instance count (ECS: Application Auto Scaling).</summary>
    public bool AutoScaled { get; init; }
}

/// <summary>One revision's instances as observed.</summary>
public sealed record ObservedSet(int Revision, int Desired, int Running, int Healthy);

/// <summary>
/// One revision's figures at one evaluation of a running deployment, kept with the deployment so charts show its history
/// (stable against new) after a reload. Figures are over the analysis window ending at <see cref="At"/>; they are null
/// while the revision has no production traffic or the platform gives none.
/// </summary>
public sealed record SeriesPoint
{
    /// <summary>At most this many points are kept per deployment; a store drops those beyond it.</summary>
    public const int MaxPerDeployment = 20_000;

    /// <summary>Points per revision taken at the full rate before their spacing starts to grow (half an hour at 1 s).</summary>
    public const int PointsAtFullRate = 1800;

    /// <summary>Points of a revision are never closer together than this, however short the analysis interval.</summary>
    public static readonly TimeSpan MinimumSpacing = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How far apart the engine takes points: the analysis interval, at least <see cref="MinimumSpacing"/>, and
    /// growing with the deployment's age (age / <see cref="PointsAtFullRate"/>), so that a deployment paused for a day
    /// stays well under <see cref="MaxPerDeployment"/>.
    /// </summary>
    public static TimeSpan Spacing(TimeSpan interval, TimeSpan age)
    {
        var spacing = interval > MinimumSpacing ? interval : MinimumSpacing;
        var grown = age / PointsAtFullRate;
        return grown > spacing ? grown : spacing;
    }

    public required string DeploymentId { get; init; }
    public DateTimeOffset At { get; init; }
    public int Revision { get; init; }

    /// <summary>The revision's production weight (0 to 100) when the point was taken.</summary>
    public int Weight { get; init; }

    /// <summary>Requests in the analysis window.</summary>
    public long? Requests { get; init; }

    /// <summary>Failed requests over requests, 0 to 1.</summary>
    public double? ErrorRate { get; init; }
    public double? P50Ms { get; init; }
    public double? P90Ms { get; init; }
    public double? P95Ms { get; init; }
    public double? P99Ms { get; init; }
}
