namespace Backstay.Core.Releases;

/// <summary>What a release does when one of its services fails.</summary>
public enum ReleaseOnFailure
{
    /// <summary>Every service of the release that has moved goes back to the revision it had before the release, in reverse dependency order.</summary>
    RollbackAll,

    /// <summary>Only the failed service goes back (its own rollback); the services that depend on it are not started, the others go on.</summary>
    RollbackFailed,

    /// <summary>Nothing more starts and nothing is rolled back until a person answers: `continue` (as rollbackFailed) or `rollback` (as rollbackAll).</summary>
    Pause,
}

/// <summary>Where a release stands; its finished values are its outcome.</summary>
public enum ReleasePhase
{
    InProgress,

    /// <summary>A service failed and the release waits for a person (onFailure: pause).</summary>
    Paused,

    /// <summary>Putting every service that moved back on its previous revision.</summary>
    RollingBack,

    /// <summary>A stop was asked: deployments in progress stop at their next safe point, nothing more starts.</summary>
    Stopping,

    Succeeded,
    RolledBack,
    Failed,
    Stopped,
}

/// <summary>Where one service of a release stands.</summary>
public enum ReleaseMemberState
{
    /// <summary>Not started: waiting for the services it depends on.</summary>
    Waiting,

    Deploying,

    /// <summary>Its deployment is paused (a pause step or a hook awaiting approval).</summary>
    Paused,

    Succeeded,

    /// <summary>Its deployment failed and is being rolled back or was (the service is on its previous revision once its own rollback ends).</summary>
    Failed,

    /// <summary>Being put back on the revision it had before the release.</summary>
    RollingBack,

    /// <summary>Back on the revision it had before the release.</summary>
    RolledBack,

    /// <summary>Could not be put back: the service needs a person (its reason says why).</summary>
    RollbackFailed,

    Stopped,

    /// <summary>Never started: the release failed or stopped first. Nothing of it was touched.</summary>
    Skipped,
}

/// <summary>One service of a release: what it deploys, what it waits for, and how far it got.</summary>
public sealed record ReleaseMember
{
    public required string Service { get; init; }

    public IReadOnlyList<string> DependsOn { get; set; } = [];

    /// <summary>The platform it runs on (every service of a release runs on the same one).</summary>
    public required string Platform { get; init; }

    /// <summary>The spec it deploys with, as the service record keeps it.</summary>
    public required string SpecJson { get; init; }

    /// <summary>The revision the release deploys, recorded when the release started.</summary>
    public required int ToRevision { get; init; }

    /// <summary>The revision it served before its deployment started (null before then, or for a service new with this release).</summary>
    public int? FromRevision { get; init; }

    public ReleaseMemberState State { get; set; } = ReleaseMemberState.Waiting;

    public string? DeploymentId { get; init; }

    /// <summary>The deployment that put it back on <see cref="FromRevision"/> when the release was rolled back and its own deployment had not.</summary>
    public string? RollbackDeploymentId { get; init; }

    /// <summary>True once the release asked its deployment in progress to roll back (so it is asked once).</summary>
    public bool RollbackRequested { get; init; }

    public string? Reason { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>Moved: its deployment was started, so a rollback of the release may have to put it back.</summary>
    public bool Moved => DeploymentId is not null;
}

/// <summary>
/// A coordinated release of several services: one id, one timeline (the events kept under its id), one outcome.
/// The engine moves it on from what its services' deployments show (<see cref="ReleaseCoordinator"/>).
/// </summary>
public sealed record Release
{
    public required string Id { get; init; }

    /// <summary>The name the release file gives (`release:`).</summary>
    public required string Name { get; init; }

    public ReleaseOnFailure OnFailure { get; set; } = ReleaseOnFailure.RollbackAll;

    public ReleasePhase Phase { get; set; } = ReleasePhase.InProgress;

    public required IReadOnlyList<ReleaseMember> Members { get; init; }

    /// <summary>Goes up by one with each write; a write made from an older read is refused (<see cref="Ports.IStateStore.UpdateReleaseAsync"/>).</summary>
    public long Version { get; init; }

    /// <summary>The service whose failure ended the release, if one did.</summary>
    public string? FailedService { get; init; }

    public string? Reason { get; init; }

    /// <summary>When the release saw its failing service's verdict (its deployment rolling back or failed), or when a rollback was asked.</summary>
    public DateTimeOffset? FailedAt { get; init; }

    /// <summary>When every service that moved was back on its previous revision.</summary>
    public DateTimeOffset? RestoredAt { get; init; }

    /// <summary>After a pause on failure was continued: go on as rollbackFailed does.</summary>
    public bool ContinuedAfterFailure { get; init; }

    public string? RequestedBy { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    public bool IsActive => Phase is ReleasePhase.InProgress or ReleasePhase.Paused or ReleasePhase.RollingBack or ReleasePhase.Stopping;

    public bool IsFinished => !IsActive;

    public ReleaseMember? Member(string service) => Members.FirstOrDefault(m => m.Service == service);

    /// <summary>
    /// Waiting for a person: paused on failure, or every service still going is paused and none can start. A command
    /// that waits for a release returns then, as `deploy` does at a pause.
    /// </summary>
    public bool WaitsForPerson =>
        Phase == ReleasePhase.Paused
        || (Phase == ReleasePhase.InProgress
            && Members.Any(m => m.State == ReleaseMemberState.Paused)
            && Members.All(m => m.State is not (ReleaseMemberState.Deploying or ReleaseMemberState.Waiting)
                || (m.State == ReleaseMemberState.Waiting && m.DependsOn.Any(d => Member(d)?.State != ReleaseMemberState.Succeeded))));

    /// <summary>Milliseconds from the failing service's verdict until every service that moved was back; null unless both are known.</summary>
    public long? TimeToRestoreMs => FailedAt is { } failed && RestoredAt is { } restored ? (long)(restored - failed).TotalMilliseconds : null;

    /// <summary>Release ids: "rel-" and nine characters, so they never look like a deployment's.</summary>
    public static string NewId() => "rel-" + System.Security.Cryptography.RandomNumberGenerator.GetString("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", 9);

    /// <summary>Release names follow the rules of service names (the file's `release:` key).</summary>
    public static bool IsValidName(string name) => Spec.SpecValues.IsServiceName(name);

    public static bool LooksLikeId(string value) => value.StartsWith("rel-", StringComparison.Ordinal);

    /// <summary>The id of the deployment the release starts for a service: derived from both, so a release resumed after a crash finds the one it started.</summary>
    public static string DeploymentIdFor(string releaseId, string service)
    {
        const string Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(releaseId + "/" + service));
        var chars = new char[9];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = Alphabet[hash[i] % Alphabet.Length];
        }

        return "d-" + new string(chars);
    }
}
