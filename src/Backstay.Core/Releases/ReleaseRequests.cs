using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Ports;

namespace Backstay.Core.Releases;

/// <summary>
/// What people ask of a release: start it, roll it back, continue it, stop it. Requests are checked whole and
/// written to the store; the engine's <see cref="ReleaseCoordinator"/> carries them out.
/// </summary>
public sealed class ReleaseRequests(IStateStore store, TimeProvider time, DeploymentRequests deployments)
{
    private readonly ReleaseCoordinator _coordinator = new(store, time);

    /// <summary>
    /// Refuses a release whose graph is wrong, or one of whose services has a deployment in progress or is in another
    /// release in progress, before anything is recorded. <paramref name="checkService"/> runs each service's own checks
    /// (drift, what the platform can take) first.
    /// </summary>
    public async Task<Release> StartAsync(ReleaseRequest request, string requestedBy, Func<ReleaseServiceRequest, CancellationToken, Task> checkService,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(checkService);
        if (request.Services.Count == 0)
        {
            throw new InvalidRequestException("services: a release needs at least one service.");
        }

        if (ReleaseGraph.Check([.. request.Services.Select(s => (s.Spec.Service, s.Spec.Platform.Kind, s.DependsOn))]) is { Count: > 0 } problems)
        {
            throw new InvalidRequestException(string.Join(Environment.NewLine, problems.Select(p => $"{p.Key}: {p.Message}")));
        }

        var active = await store.ListActiveReleasesAsync(cancellationToken);
        foreach (var service in request.Services)
        {
            if (active.FirstOrDefault(r => r.Member(service.Spec.Service) is not null) is { } other)
            {
                throw new InvalidRequestException(
                    $"Service '{service.Spec.Service}' is in release {other.Name} ({other.Id}), which is {other.Phase}; a service is in one release at a time. Wait for it, or `backstay stop {other.Id}`.");
            }

            await deployments.EnsureNoActiveAsync(service.Spec.Service, cancellationToken);
            await checkService(service, cancellationToken);
        }

        var id = Release.NewId();
        var members = new List<ReleaseMember>();
        foreach (var service in request.Services)
        {
            var revision = await deployments.CreateRevisionAsync(service.Spec, service.Image, service.Env, service.Provenance, cancellationToken);
            members.Add(new ReleaseMember
            {
                Service = service.Spec.Service,
                DependsOn = service.DependsOn,
                Platform = service.Spec.Platform.Kind,
                SpecJson = BackstayJson.Serialize(service.Spec, BackstayJson.Options),
                ToRevision = revision.Number,
            });
        }

        var now = time.GetUtcNow();
        var release = new Release
        {
            Id = id,
            Name = request.Release,
            OnFailure = request.OnFailure,
            Members = members,
            RequestedBy = requestedBy,
            CreatedAt = now,
            UpdatedAt = now,
        };
        await store.CreateReleaseAsync(release, cancellationToken);
        await _coordinator.EventAsync(release, "Started",
            $"release {release.Name} requested by {requestedBy}: {string.Join(", ", members.Select(m => $"{m.Service} r{m.ToRevision}" + (m.DependsOn.Count == 0 ? "" : $" after {string.Join(" and ", m.DependsOn)}")))}; on failure: {Words(release.OnFailure)}",
            cancellationToken);
        return release;
    }

    /// <summary>
    /// Puts every service of the release that moved back on the revision it had before the release, in reverse dependency
    /// order, also after the release succeeded. Services not started are not touched.
    /// </summary>
    public Task<Release> RollbackAsync(string id, string requestedBy, CancellationToken cancellationToken) =>
        ChangeAsync(id, async release =>
        {
            if (release.Phase == ReleasePhase.RollingBack)
            {
                return null;
            }

            if (release.Phase == ReleasePhase.Stopping)
            {
                throw new InvalidRequestException($"Release {id} ({release.Name}) is stopping; roll it back once it has stopped.");
            }

            if (!release.Members.Any(m => m.Moved))
            {
                throw new InvalidRequestException($"Release {id} ({release.Name}) has not moved any service yet; nothing to roll back. `backstay stop {id}` ends it.");
            }

            if (release.Phase == ReleasePhase.RolledBack || release.Members.Where(m => m.Moved).All(m => m.State == ReleaseMemberState.RolledBack))
            {
                throw new InvalidRequestException(
                    $"Release {id} ({release.Name}) is {release.Phase}: every service of it that moved is back on its previous revision already; nothing was changed.");
            }

            release = release with
            {
                FailedAt = time.GetUtcNow(),
                RestoredAt = null,
                FinishedAt = null,
                Reason = $"rollback of release {release.Name} requested by {requestedBy}" + (release.FailedService is { } failed && release.IsActive ? $" after {failed} failed" : ""),
            };
            return await _coordinator.BeginRollbackAsync(release, $"{release.Reason}: every service that moved goes back to the revision it had before the release", cancellationToken);
        }, cancellationToken);

    /// <summary>Answers a release paused on failure (it goes on as rollbackFailed), or the paused deployments of its services.</summary>
    public Task<Release> ContinueAsync(string id, string requestedBy, CancellationToken cancellationToken) =>
        ChangeAsync(id, async release =>
        {
            if (release.Phase == ReleasePhase.Paused)
            {
                release = release with { Phase = ReleasePhase.InProgress, ContinuedAfterFailure = true };
                await _coordinator.EventAsync(release, "Continued",
                    $"continued by {requestedBy}: the services that do not depend on {release.FailedService} go on; {release.FailedService} stays on its previous revision", cancellationToken);
                return release;
            }

            var paused = release.Members.Where(m => m.State == ReleaseMemberState.Paused && m.DeploymentId is not null).ToList();
            if (release.Phase != ReleasePhase.InProgress || paused.Count == 0)
            {
                throw new InvalidRequestException($"Release {id} ({release.Name}) is {release.Phase} and none of its services is paused; there is nothing to continue.");
            }

            foreach (var member in paused)
            {
                await deployments.ContinueAsync(member.DeploymentId!, full: false, requestedBy, cancellationToken);
            }

            await _coordinator.EventAsync(release, "Continued", $"continued by {requestedBy}: {string.Join(", ", paused.Select(m => $"{m.Service} ({m.DeploymentId})"))}", cancellationToken);
            return null;
        }, cancellationToken);

    /// <summary>Stops the release: nothing more starts, deployments in progress stop at their next safe point; nothing is rolled back.</summary>
    public Task<Release> StopAsync(string id, string requestedBy, CancellationToken cancellationToken) =>
        ChangeAsync(id, async release =>
        {
            if (release.Phase is not (ReleasePhase.InProgress or ReleasePhase.Paused))
            {
                throw new InvalidRequestException($"Release {id} ({release.Name}) is {release.Phase}; only a release in progress or paused can be stopped.");
            }

            foreach (var member in release.Members.Where(m => m.State is ReleaseMemberState.Deploying or ReleaseMemberState.Paused && m.DeploymentId is not null))
            {
                if (await store.GetDeploymentAsync(member.DeploymentId!, cancellationToken) is { IsActive: true, Kind: DeploymentKind.Deploy } deployment
                    && deployment.State != DeploymentState.RollingBack)
                {
                    await deployments.StopAsync(deployment.Id, rollback: false, requestedBy, cancellationToken);
                }
            }

            release = release with { Phase = ReleasePhase.Stopping, Reason = $"stopped by {requestedBy}", Members = ReleaseCoordinator.Skip(release.Members, _ => true, null) };
            await _coordinator.EventAsync(release, "Stopping", $"stop requested by {requestedBy}: nothing more starts; deployments in progress stop at their next safe point", cancellationToken);
            return release;
        }, cancellationToken);

    /// <summary>
    /// Reads the release, applies a change (null: nothing to write) and writes it; read again and retried when the
    /// engine wrote it meanwhile. What a change asks of deployments may then be asked twice, which they take as once.
    /// </summary>
    private async Task<Release> ChangeAsync(string id, Func<Release, Task<Release?>> change, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var release = await RequireAsync(id, cancellationToken);
            if (await change(release) is not { } changed)
            {
                return release;
            }

            changed = changed with { UpdatedAt = time.GetUtcNow() };
            if (await store.UpdateReleaseAsync(changed, cancellationToken))
            {
                return changed with { Version = changed.Version + 1 };
            }

            if (attempt == 20)
            {
                throw new InvalidOperationException($"Release {id} kept changing while this request tried to write it; try again.");
            }
        }
    }

    private async Task<Release> RequireAsync(string id, CancellationToken cancellationToken) =>
        await store.GetReleaseAsync(id, cancellationToken)
        ?? throw new InvalidRequestException($"Unknown release '{id}'; `backstay history` lists releases.");

    private static string Words(ReleaseOnFailure onFailure) => onFailure switch
    {
        ReleaseOnFailure.RollbackFailed => "roll back the failed service only",
        ReleaseOnFailure.Pause => "pause for a person",
        _ => "roll back every service that moved",
    };
}
