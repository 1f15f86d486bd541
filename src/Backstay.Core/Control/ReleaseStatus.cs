using System.Globalization;
using Backstay.Core.Model;
using Backstay.Core.Ports;

namespace Backstay.Core.Control;

/// <summary>What a service's latest release came to.</summary>
public enum ReleaseState
{
    InProgress,
    Succeeded,
    RolledBack,
    RollbackFailed,
    Failed,
    Stopped,
}

/// <summary>
/// A service's latest release (its newest deployment of a new revision) and what became of it. A rolled-back release
/// stays an incident until a later release succeeds: the rollback deployment that undid it succeeding is not the
/// release succeeding, and the overview and `status` must not show it green.
/// </summary>
public sealed record ReleaseStatus(ReleaseState State, int Revision, string DeploymentId, string? Reason, DateTimeOffset At)
{
    /// <summary>The type of the event, on the release's own deployment, that records a person's acknowledgement.</summary>
    public const string AcknowledgedEvent = "Acknowledged";

    /// <summary>Who acknowledged this release's incident, when and why; null while nobody has.</summary>
    public Acknowledgement? Acknowledged { get; init; }

    /// <summary>A release that did not go out as asked: shown in red until a later release succeeds or a person acknowledges it.</summary>
    public bool IsIncident => WentWrong && Acknowledged is null;

    /// <summary>Rolled back or failed, acknowledged or not: what may be acknowledged.</summary>
    public bool WentWrong => State is ReleaseState.RolledBack or ReleaseState.RollbackFailed or ReleaseState.Failed;

    /// <summary>
    /// The service's latest release as <see cref="Of"/> derives it, with its acknowledgement read from the release
    /// deployment's events (only when it went wrong: one more read then, none otherwise).
    /// </summary>
    public static async Task<ReleaseStatus?> ReadAsync(IStateStore store, string service, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        return await OfAsync(await store.ListDeploymentsAsync(service, 20, cancellationToken), store.ListEventsAsync, cancellationToken);
    }

    /// <param name="newestFirst">The service's deployments, newest first (a few are enough).</param>
    /// <param name="eventsOf">Reads a deployment's events after a sequence number (the store's or the control plane's).</param>
    public static async Task<ReleaseStatus?> OfAsync(IReadOnlyList<Deployment> newestFirst,
        Func<string, long, CancellationToken, Task<IReadOnlyList<DeploymentEvent>>> eventsOf, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(eventsOf);
        if (Of(newestFirst) is not { WentWrong: true } status)
        {
            return Of(newestFirst);
        }

        var events = await eventsOf(status.DeploymentId, 0, cancellationToken);
        return events.LastOrDefault(e => e.Type == AcknowledgedEvent && e.At >= status.At) is { } acknowledged
            ? status with { Acknowledged = Acknowledgement.FromEvent(acknowledged) }
            : status;
    }

    /// <param name="newestFirst">The service's deployments, newest first (a few are enough).</param>
    public static ReleaseStatus? Of(IReadOnlyList<Deployment> newestFirst)
    {
        ArgumentNullException.ThrowIfNull(newestFirst);
        var release = newestFirst.FirstOrDefault(d => d.Kind == DeploymentKind.Deploy);
        if (release is null)
        {
            return null;
        }

        // A person who rolled a succeeded release back undid it as surely as the engine would have.
        var undoneByHand = newestFirst.TakeWhile(d => d.Id != release.Id)
            .LastOrDefault(d => d is { Kind: DeploymentKind.Rollback, State: DeploymentState.Succeeded } && d.StableRevision == release.TargetRevision);
        if (release.State == DeploymentState.Succeeded && undoneByHand is not null)
        {
            return new ReleaseStatus(ReleaseState.RolledBack, release.TargetRevision, release.Id, undoneByHand.Reason, undoneByHand.FinishedAt ?? undoneByHand.UpdatedAt);
        }

        var state = release.State switch
        {
            DeploymentState.Succeeded => ReleaseState.Succeeded,
            DeploymentState.RolledBack => ReleaseState.RolledBack,
            DeploymentState.RollbackFailed => ReleaseState.RollbackFailed,
            DeploymentState.Failed => ReleaseState.Failed,
            DeploymentState.Stopped => ReleaseState.Stopped,
            _ => ReleaseState.InProgress,
        };
        return new ReleaseStatus(state, release.TargetRevision, release.Id, state == ReleaseState.Succeeded ? null : release.Reason,
            release.FinishedAt ?? release.UpdatedAt);
    }

    /// <summary>"r3 rolled back 10 s ago: analysis failed: error rate 28.6% > 5%".</summary>
    public string Describe(DateTimeOffset now)
    {
        var what = State switch
        {
            ReleaseState.InProgress => "in progress",
            ReleaseState.Succeeded => "succeeded",
            ReleaseState.RolledBack => "rolled back",
            ReleaseState.RollbackFailed => "failed and its rollback failed",
            ReleaseState.Failed => "failed",
            _ => "stopped",
        };
        var acknowledged = Acknowledged is { } a
            ? $" (acknowledged by {a.By} {Ago(now - a.At)}" + (string.IsNullOrWhiteSpace(a.Note) ? ")" : $": {a.Note.Trim()})")
            : "";
        return $"r{Revision} {what} {Ago(now - At)}" + (string.IsNullOrWhiteSpace(Reason) ? "" : $": {Reason.Trim()}") + acknowledged;
    }

    internal static string Ago(TimeSpan span) => span.TotalSeconds switch
    {
        < 1 => "just now",
        < 60 => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalSeconds} s ago"),
        < 3600 => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalMinutes} min ago"),
        < 172_800 => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalHours} h ago"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalDays} days ago"),
    };
}

/// <summary>A person's word that they know about a release that went wrong: it stops being shown as an open incident.</summary>
public sealed record Acknowledgement(string By, DateTimeOffset At, string? Note)
{
    /// <summary>The event that records it on the release's deployment (its data holds who and the note).</summary>
    public DeploymentEvent ToEvent(string deploymentId) => new()
    {
        DeploymentId = deploymentId,
        At = At,
        Type = ReleaseStatus.AcknowledgedEvent,
        Message = $"acknowledged by {By}" + (string.IsNullOrWhiteSpace(Note) ? "" : $": {Note.Trim()}"),
        DataJson = BackstayJson.Serialize(new Data(By, Note), CoreJson.Plain),
    };

    internal static Acknowledgement FromEvent(DeploymentEvent e)
    {
        var data = e.DataJson is null ? null : BackstayJson.Deserialize<Data>(e.DataJson, CoreJson.Plain);
        return new Acknowledgement(data?.By ?? "someone", e.At, data?.Note);
    }

    /// <summary>The acknowledgement event's data: members as declared ("By", "Note").</summary>
    internal sealed record Data(string By, string? Note);
}
