using System.Globalization;
using Backstay.Core.Model;

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
    /// <summary>A release that did not go out as asked: shown in red until a later release succeeds.</summary>
    public bool IsIncident => State is ReleaseState.RolledBack or ReleaseState.RollbackFailed or ReleaseState.Failed;

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
        return $"r{Revision} {what} {Ago(now - At)}" + (string.IsNullOrWhiteSpace(Reason) ? "" : $": {Reason.Trim()}");
    }

    private static string Ago(TimeSpan span) => span.TotalSeconds switch
    {
        < 1 => "just now",
        < 60 => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalSeconds} s ago"),
        < 3600 => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalMinutes} min ago"),
        < 172_800 => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalHours} h ago"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalDays} days ago"),
    };
}
