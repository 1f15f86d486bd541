using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Releases;

/// <summary>
/// Moves a release on, one short pass at a time, from what its services' deployments show in the store: starts each
/// service once those it depends on have passed, and when one fails does what the release's onFailure says. The
/// services' deployments are ordinary deployments that the engine runs; a pass only reads them and records requests.
/// Every pass can be repeated (deployment ids are derived from the release, a rollback already asked is found again),
/// so a controller killed at any point leaves a release the next one carries on.
/// </summary>
public sealed class ReleaseCoordinator(IStateStore store, TimeProvider time)
{
    private readonly DeploymentRequests _requests = new(store, time);

    /// <summary>
    /// One pass over a release; writes it back when anything changed and returns it as stored. When a request (a
    /// rollback, a stop) changed it meanwhile, this pass's write is refused and the next pass starts from the request.
    /// </summary>
    public async Task<Release> AdvanceAsync(Release release, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(release);
        var written = BackstayJson.Serialize(release, BackstayJson.Options);
        var next = await ReadDeploymentsAsync(release, cancellationToken);
        next = next.Phase switch
        {
            ReleasePhase.InProgress => await GoOnAsync(next, cancellationToken),
            ReleasePhase.RollingBack => await RollBackAsync(next, cancellationToken),
            ReleasePhase.Stopping => await StopAsync(next, cancellationToken),
            _ => next,
        };

        if (BackstayJson.Serialize(next, BackstayJson.Options) != written)
        {
            next = next with { UpdatedAt = time.GetUtcNow() };
            return await store.UpdateReleaseAsync(next, cancellationToken)
                ? next with { Version = next.Version + 1 }
                : await store.GetReleaseAsync(release.Id, cancellationToken) ?? release;
        }

        return next;
    }

    /// <summary>Brings each service that is going (deploying or paused) up to what its deployment shows.</summary>
    private async Task<Release> ReadDeploymentsAsync(Release release, CancellationToken cancellationToken)
    {
        var members = new List<ReleaseMember>();
        foreach (var member in release.Members)
        {
            if (member.State is not (ReleaseMemberState.Deploying or ReleaseMemberState.Paused) || member.DeploymentId is null
                || await store.GetDeploymentAsync(member.DeploymentId, cancellationToken) is not { } deployment)
            {
                members.Add(member);
                continue;
            }

            var state = deployment.State switch
            {
                DeploymentState.Pending or DeploymentState.InProgress => ReleaseMemberState.Deploying,
                DeploymentState.Paused => ReleaseMemberState.Paused,
                DeploymentState.Succeeded => ReleaseMemberState.Succeeded,
                DeploymentState.Stopped => ReleaseMemberState.Stopped,
                DeploymentState.RollbackFailed => ReleaseMemberState.RollbackFailed,
                _ => ReleaseMemberState.Failed,
            };
            members.Add(member with
            {
                State = state,
                Reason = state is ReleaseMemberState.Deploying or ReleaseMemberState.Succeeded ? member.Reason : deployment.Reason,
                FinishedAt = deployment.IsFinished ? deployment.FinishedAt ?? time.GetUtcNow() : null,
            });
        }

        return release with { Members = members };
    }

    private async Task<Release> GoOnAsync(Release release, CancellationToken cancellationToken)
    {
        if (release.FailedService is null && release.Members.FirstOrDefault(IsFailure) is { } failed)
        {
            release = release with
            {
                FailedService = failed.Service,
                FailedAt = time.GetUtcNow(),
                Reason = $"{failed.Service} r{failed.ToRevision} {(failed.State == ReleaseMemberState.Stopped ? "was stopped" : "failed")}" + (failed.Reason is { } why ? $": {why}" : ""),
            };
            await EventAsync(release, "ServiceFailed", release.Reason!, cancellationToken);
            if (release.OnFailure == ReleaseOnFailure.RollbackAll)
            {
                return await BeginRollbackAsync(release, "every service that moved goes back to the revision it had before the release, in reverse dependency order", cancellationToken);
            }

            if (release.OnFailure == ReleaseOnFailure.Pause && !release.ContinuedAfterFailure)
            {
                await EventAsync(release, "Paused",
                    $"nothing more starts; `backstay continue {release.Id}` goes on with the services that do not depend on {failed.Service}, `backstay rollback {release.Id}` puts every service that moved back",
                    cancellationToken);
                return release with { Phase = ReleasePhase.Paused, Members = Skip(release.Members, m => ReleaseGraph.Dependents(release.Members, failed.Service).Contains(m.Service), failed.Service) };
            }
        }

        var members = release.Members.ToList();
        for (var i = 0; i < members.Count; i++)
        {
            var member = members[i];
            if (member.State != ReleaseMemberState.Waiting)
            {
                continue;
            }

            var dependencies = member.DependsOn.Select(d => members.First(m => m.Service == d)).ToList();
            if (dependencies.FirstOrDefault(d => d.State is not (ReleaseMemberState.Waiting or ReleaseMemberState.Deploying or ReleaseMemberState.Paused or ReleaseMemberState.Succeeded)) is { } gone)
            {
                members[i] = member with { State = ReleaseMemberState.Skipped, Reason = $"not started: it depends on {gone.Service}, which {Describe(gone.State)}" };
                await EventAsync(release, "ServiceSkipped", $"{member.Service}: {members[i].Reason}", cancellationToken);
            }
            else if (dependencies.All(d => d.State == ReleaseMemberState.Succeeded))
            {
                members[i] = await StartAsync(release, member, cancellationToken);
            }
        }

        release = release with { Members = members };
        if (members.Any(m => m.State is ReleaseMemberState.Waiting or ReleaseMemberState.Deploying or ReleaseMemberState.Paused))
        {
            return release;
        }

        var outcome = members.All(m => m.State == ReleaseMemberState.Succeeded) ? ReleasePhase.Succeeded
            : members.Any(m => m.State == ReleaseMemberState.RollbackFailed) ? ReleasePhase.Failed
            : members.Any(m => m.State == ReleaseMemberState.Stopped) ? ReleasePhase.Stopped
            : ReleasePhase.RolledBack;
        return await FinishAsync(release, outcome, outcome == ReleasePhase.Succeeded
            ? $"all {members.Count} services succeeded"
            : $"{release.Reason}; the other services: {string.Join(", ", members.Where(m => m.Service != release.FailedService).Select(m => $"{m.Service} {Describe(m.State)}"))}",
            cancellationToken);
    }

    /// <summary>Starts a service's deployment, or finds the one a pass before a crash started (same derived id).</summary>
    private async Task<ReleaseMember> StartAsync(Release release, ReleaseMember member, CancellationToken cancellationToken)
    {
        var id = Release.DeploymentIdFor(release.Id, member.Service);
        var deployment = await store.GetDeploymentAsync(id, cancellationToken);
        if (deployment is null)
        {
            var spec = BackstayJson.Deserialize<ServiceSpec>(member.SpecJson, BackstayJson.Options)!;
            var revision = await store.GetRevisionAsync(member.Service, member.ToRevision, cancellationToken)
                ?? throw new InvalidOperationException($"Revision {member.ToRevision} of {member.Service}, recorded when release {release.Id} started, is not in the store.");
            try
            {
                deployment = await _requests.StartAsync(spec, revision, Trigger.User, $"{release.RequestedBy} (release {release.Name}, {release.Id})", id, cancellationToken);
            }
            catch (DeploymentConflictException ex)
            {
                // Someone else's deployment of the service runs: the release waits for it rather than fail over it.
                return member with { Reason = $"waiting for deployment {ex.ActiveDeploymentId} of {member.Service} to end" };
            }

            await EventAsync(release, "ServiceStarted",
                $"{member.Service}: deployment {deployment.Id} of r{member.ToRevision}" + (deployment.StableRevision is { } from ? $" over r{from}" : " (its first revision)")
                + (member.DependsOn.Count == 0 ? "" : $", after {string.Join(", ", member.DependsOn)} passed"),
                cancellationToken);
        }

        return member with
        {
            State = ReleaseMemberState.Deploying,
            DeploymentId = deployment.Id,
            FromRevision = deployment.StableRevision,
            StartedAt = deployment.CreatedAt,
            Reason = null,
        };
    }

    /// <summary>Turns the release to rolling back: services not started are left alone and marked so.</summary>
    internal async Task<Release> BeginRollbackAsync(Release release, string why, CancellationToken cancellationToken)
    {
        await EventAsync(release, "RollingBack", why, cancellationToken);
        return release with
        {
            Phase = ReleasePhase.RollingBack,
            Members = Skip(release.Members, _ => true, release.FailedService),
        };
    }

    /// <summary>
    /// Puts every service that moved back on the revision it had before the release, a service only once every service
    /// that depends on it is back: its deployment in progress is rolled back (traffic first, as every rollback), a
    /// finished one is undone by a rollback deployment to its previous revision.
    /// </summary>
    private async Task<Release> RollBackAsync(Release release, CancellationToken cancellationToken)
    {
        var members = release.Members.ToList();
        foreach (var service in ReleaseGraph.Order(members).Reverse())
        {
            var i = members.FindIndex(m => m.Service == service);
            var member = members[i];
            if (!member.Moved || member.State is ReleaseMemberState.RolledBack or ReleaseMemberState.RollbackFailed or ReleaseMemberState.Skipped)
            {
                continue;
            }

            if (members.Any(m => m.DependsOn.Contains(service) && m.Moved && m.State is not (ReleaseMemberState.RolledBack or ReleaseMemberState.RollbackFailed)))
            {
                members[i] = member with { Reason = "waiting for the services that depend on it to be back" };
                continue;
            }

            members[i] = await RollBackMemberAsync(release, member, cancellationToken);
            if (members[i].State != member.State && members[i].State is ReleaseMemberState.RolledBack or ReleaseMemberState.RollbackFailed)
            {
                await EventAsync(release, members[i].State == ReleaseMemberState.RolledBack ? "ServiceRolledBack" : "ServiceRollbackFailed",
                    members[i].State == ReleaseMemberState.RolledBack ? $"{service} is back on r{member.FromRevision}" : $"{service}: {members[i].Reason}", cancellationToken);
            }
        }

        release = release with { Members = members };
        if (members.Any(m => m.Moved && m.State is not (ReleaseMemberState.RolledBack or ReleaseMemberState.RollbackFailed)))
        {
            return release;
        }

        var failed = members.Where(m => m.State == ReleaseMemberState.RollbackFailed).ToList();
        if (failed.Count > 0)
        {
            return await FinishAsync(release, ReleasePhase.Failed,
                $"{release.Reason}; not put back: {string.Join("; ", failed.Select(m => $"{m.Service} ({m.Reason})"))}", cancellationToken);
        }

        release = release with { RestoredAt = time.GetUtcNow() };
        return await FinishAsync(release, ReleasePhase.RolledBack,
            $"{release.Reason}; every service that moved is back on its previous revision ({string.Join(", ", members.Where(m => m.Moved).Select(m => $"{m.Service} r{m.FromRevision}"))})"
            + (release.TimeToRestoreMs is { } ms ? $", {ms} ms after the verdict" : ""),
            cancellationToken);
    }

    private async Task<ReleaseMember> RollBackMemberAsync(Release release, ReleaseMember member, CancellationToken cancellationToken)
    {
        var deployment = await store.GetDeploymentAsync(member.DeploymentId!, cancellationToken)
            ?? throw new InvalidOperationException($"Deployment {member.DeploymentId} of release {release.Id} is not in the store.");
        if (deployment.IsActive)
        {
            if (deployment.State != DeploymentState.RollingBack && !member.RollbackRequested)
            {
                await _requests.StopAsync(deployment.Id, rollback: true, RequestedBy(release), cancellationToken);
                return member with { State = ReleaseMemberState.RollingBack, RollbackRequested = true, Reason = $"its deployment {deployment.Id} is rolled back to r{member.FromRevision}" };
            }

            return member with { State = ReleaseMemberState.RollingBack };
        }

        switch (deployment.State)
        {
            case DeploymentState.RolledBack:
                return member with { State = ReleaseMemberState.RolledBack, Reason = deployment.Reason, FinishedAt = deployment.FinishedAt ?? time.GetUtcNow() };
            case DeploymentState.RollbackFailed or DeploymentState.Failed:
                return member with { State = ReleaseMemberState.RollbackFailed, Reason = $"deployment {deployment.Id} ended {deployment.State}: {deployment.Reason}" };
        }

        // Succeeded, or stopped with its revision still running: a rollback deployment puts the previous revision back.
        if (member.FromRevision is not { } from)
        {
            return member with
            {
                State = ReleaseMemberState.RollbackFailed,
                Reason = $"r{member.ToRevision} is the first revision of {member.Service}; there is no earlier one to go back to, so it was left serving",
            };
        }

        var rollback = member.RollbackDeploymentId is { } id ? await store.GetDeploymentAsync(id, cancellationToken) : await FindRollbackAsync(release, member, from, cancellationToken);
        if (rollback is not null)
        {
            member = member with { RollbackDeploymentId = rollback.Id };
            return rollback.State switch
            {
                _ when rollback.IsActive => member with { State = ReleaseMemberState.RollingBack },
                DeploymentState.Succeeded => member with { State = ReleaseMemberState.RolledBack, FinishedAt = rollback.FinishedAt ?? time.GetUtcNow() },
                _ => member with { State = ReleaseMemberState.RollbackFailed, Reason = $"rollback {rollback.Id} to r{from} ended {rollback.State}: {rollback.Reason}" },
            };
        }

        if ((await store.ListActiveDeploymentsAsync(cancellationToken)).FirstOrDefault(d => d.Service == member.Service) is { } other)
        {
            return member with { State = ReleaseMemberState.RollingBack, Reason = $"waiting for deployment {other.Id} of {member.Service} to end" };
        }

        try
        {
            rollback = await _requests.RollbackAsync(member.Service, from, RequestedBy(release), cancellationToken);
        }
        catch (InvalidRequestException ex)
        {
            return member with { State = ReleaseMemberState.RollbackFailed, Reason = ex.Message };
        }

        await EventAsync(release, "ServiceRollbackStarted", $"{member.Service}: rollback {rollback.Id} from r{rollback.StableRevision} to r{from}", cancellationToken);
        return member with { State = ReleaseMemberState.RollingBack, RollbackDeploymentId = rollback.Id, Reason = null };
    }

    /// <summary>A rollback of the service to its previous revision that this release asked for before a crash kept it from recording the id.</summary>
    private async Task<Deployment?> FindRollbackAsync(Release release, ReleaseMember member, int from, CancellationToken cancellationToken) =>
        (await store.ListDeploymentsAsync(member.Service, 10, cancellationToken)).FirstOrDefault(d =>
            d.Kind == DeploymentKind.Rollback && d.TargetRevision == from && d.RequestedBy == RequestedBy(release)
            && d.CreatedAt >= (release.FailedAt ?? release.CreatedAt));

    private async Task<Release> StopAsync(Release release, CancellationToken cancellationToken)
    {
        if (release.Members.Any(m => m.State is ReleaseMemberState.Deploying or ReleaseMemberState.Paused))
        {
            return release;
        }

        return await FinishAsync(release, ReleasePhase.Stopped,
            $"{release.Reason}: {string.Join(", ", release.Members.Select(m => $"{m.Service} {Describe(m.State)}"))}", cancellationToken);
    }

    private async Task<Release> FinishAsync(Release release, ReleasePhase outcome, string reason, CancellationToken cancellationToken)
    {
        await EventAsync(release, outcome.ToString(), reason, cancellationToken);
        return release with { Phase = outcome, Reason = reason, FinishedAt = time.GetUtcNow() };
    }

    /// <summary>Appends an event to the release's timeline (kept under its id, as a deployment's are).</summary>
    internal Task EventAsync(Release release, string type, string message, CancellationToken cancellationToken) =>
        store.AppendEventAsync(new DeploymentEvent { DeploymentId = release.Id, At = time.GetUtcNow(), Type = type, Message = message }, cancellationToken);

    internal static string RequestedBy(Release release) => $"release {release.Name} ({release.Id})";

    private static bool IsFailure(ReleaseMember member) =>
        member.State is ReleaseMemberState.Failed or ReleaseMemberState.RollbackFailed or ReleaseMemberState.Stopped;

    /// <summary>Marks the services not started that match as skipped: they will not start, and nothing of them was touched.</summary>
    internal static IReadOnlyList<ReleaseMember> Skip(IReadOnlyList<ReleaseMember> members, Func<ReleaseMember, bool> which, string? failed) =>
        [.. members.Select(m => m.State == ReleaseMemberState.Waiting && which(m)
            ? m with { State = ReleaseMemberState.Skipped, Reason = failed is null ? "not started: the release ended first" : $"not started: {failed} failed first" }
            : m)];

    private static string Describe(ReleaseMemberState state) => state switch
    {
        ReleaseMemberState.Failed => "failed",
        ReleaseMemberState.RollbackFailed => "failed and could not be put back",
        ReleaseMemberState.Stopped => "was stopped",
        ReleaseMemberState.Skipped => "was not started",
        ReleaseMemberState.RolledBack => "is back on its previous revision",
        ReleaseMemberState.Succeeded => "succeeded",
        ReleaseMemberState.Paused => "is paused",
        ReleaseMemberState.RollingBack => "is rolling back",
        _ => "is deploying",
    };
}
