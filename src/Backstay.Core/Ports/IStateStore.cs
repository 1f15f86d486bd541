using Backstay.Core.Model;
using Backstay.Core.Releases;

namespace Backstay.Core.Ports;

/// <summary>Durable state: services, revisions, deployments, events, commands, the step journal and leases.</summary>
public interface IStateStore : IAsyncDisposable
{
    Task InitializeAsync(CancellationToken cancellationToken);

    Task<ServiceRecord?> GetServiceAsync(string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<ServiceRecord>> ListServicesAsync(CancellationToken cancellationToken);

    Task UpsertServiceAsync(ServiceRecord service, CancellationToken cancellationToken);

    /// <summary>Stores a new revision, assigning it the next number for its service (the Number given is ignored).</summary>
    Task<Revision> AddRevisionAsync(Revision revision, CancellationToken cancellationToken);

    Task<Revision?> GetRevisionAsync(string service, int number, CancellationToken cancellationToken);

    /// <summary>Revisions of a service, newest first, removed ones included.</summary>
    Task<IReadOnlyList<Revision>> ListRevisionsAsync(string service, CancellationToken cancellationToken);

    Task MarkRevisionRemovedAsync(string service, int number, CancellationToken cancellationToken);

    /// <summary>Creates a deployment; throws <see cref="DeploymentConflictException"/> when the service already has an active one.</summary>
    Task CreateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken);

    /// <summary>
    /// Creates a rollback deployment and marks the deployment it undoes as RollingBack in one transaction,
    /// so the service never has two active deployments.
    /// </summary>
    Task CreateRollbackAsync(Deployment rollback, Deployment undone, CancellationToken cancellationToken);

    Task UpdateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken);

    Task<Deployment?> GetDeploymentAsync(string id, CancellationToken cancellationToken);

    /// <summary>Deployments of a service, newest first; all services when service is null.</summary>
    Task<IReadOnlyList<Deployment>> ListDeploymentsAsync(string? service, int limit, CancellationToken cancellationToken);

    Task<IReadOnlyList<Deployment>> ListActiveDeploymentsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Succeeded deployments whose previous revision is still kept warm (<see cref="Deployment.WarmUntil"/> set,
    /// <see cref="Deployment.WarmEndedAt"/> not), oldest first: the engine retires each when its window ends.
    /// </summary>
    async Task<IReadOnlyList<Deployment>> ListWarmDeploymentsAsync(CancellationToken cancellationToken) =>
        [.. (await ListDeploymentsAsync(null, 1000, cancellationToken)).Where(d => d.WarmRevision is not null).Reverse()];

    Task<DeploymentEvent> AppendEventAsync(DeploymentEvent deploymentEvent, CancellationToken cancellationToken);

    /// <summary>Events of a deployment with a sequence above afterSequence, oldest first.</summary>
    Task<IReadOnlyList<DeploymentEvent>> ListEventsAsync(string deploymentId, long afterSequence, CancellationToken cancellationToken);

    Task<DeploymentCommand> EnqueueCommandAsync(DeploymentCommand command, CancellationToken cancellationToken);

    /// <summary>Returns and removes the pending commands of a deployment, oldest first.</summary>
    Task<IReadOnlyList<DeploymentCommand>> TakeCommandsAsync(string deploymentId, CancellationToken cancellationToken);

    Task AppendJournalAsync(JournalEntry entry, CancellationToken cancellationToken);

    Task<IReadOnlyList<JournalEntry>> ListJournalAsync(string deploymentId, CancellationToken cancellationToken);

    /// <summary>
    /// Takes or renews a named lease for owner until now + ttl; false when another owner holds an unexpired one. Each
    /// time the lease changes hands (another owner, or the same one after it expired or was released) its generation
    /// goes up by one; a renewal keeps it.
    /// </summary>
    Task<bool> TryAcquireLeaseAsync(string key, string owner, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>The generation of the lease while owner holds it unexpired; null when it does not (the fence of every write a lease holder makes).</summary>
    Task<long?> GetLeaseGenerationAsync(string key, string owner, CancellationToken cancellationToken);

    /// <summary>Ends owner's lease now, keeping its generation so the next holder's is higher.</summary>
    Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken);

    /// <summary>Inserts or replaces a hook run by its id.</summary>
    Task SaveHookRunAsync(HookRun run, CancellationToken cancellationToken);

    /// <summary>Hook runs of a deployment in the order they were first saved.</summary>
    Task<IReadOnlyList<HookRun>> ListHookRunsAsync(string deploymentId, CancellationToken cancellationToken);

    /// <summary>Replaces the latest observation of a service's platform state.</summary>
    Task SaveObservationAsync(Observation observation, CancellationToken cancellationToken);

    /// <summary>Replaces the latest observations of several services in one transaction: one observation pass, one write.</summary>
    Task SaveObservationsAsync(IReadOnlyList<Observation> observations, CancellationToken cancellationToken);

    Task<Observation?> GetObservationAsync(string service, CancellationToken cancellationToken);

    /// <summary>
    /// Adds chart points in one transaction. A deployment keeps at most <see cref="SeriesPoint.MaxPerDeployment"/>
    /// points: those beyond are dropped, never an older one replaced.
    /// </summary>
    Task AppendSeriesAsync(IReadOnlyList<SeriesPoint> points, CancellationToken cancellationToken);

    /// <summary>A deployment's chart points taken after <paramref name="after"/> (all when null), oldest first, in the order added at equal times.</summary>
    Task<IReadOnlyList<SeriesPoint>> ListSeriesAsync(string deploymentId, DateTimeOffset? after, CancellationToken cancellationToken);

    /// <summary>Deletes a deployment's chart points (retention let its revision go); nothing else of it.</summary>
    Task DeleteSeriesAsync(string deploymentId, CancellationToken cancellationToken);

    /// <summary>Records a new release (its timeline is the events kept under its id).</summary>
    Task CreateReleaseAsync(Release release, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces a release's record when the stored one still has <see cref="Release.Version"/>, and stores it with the
    /// next version; false when another writer changed it first (read it again and retry).
    /// </summary>
    Task<bool> UpdateReleaseAsync(Release release, CancellationToken cancellationToken);

    Task<Release?> GetReleaseAsync(string id, CancellationToken cancellationToken);

    /// <summary>Releases newest first.</summary>
    Task<IReadOnlyList<Release>> ListReleasesAsync(int limit, CancellationToken cancellationToken);

    /// <summary>Releases not finished, oldest first: the engine moves each on.</summary>
    Task<IReadOnlyList<Release>> ListActiveReleasesAsync(CancellationToken cancellationToken);
}

/// <summary>Thrown when a service already has an active deployment.</summary>
public sealed class DeploymentConflictException(string service, string activeDeploymentId)
    : Exception($"Service '{service}' already has deployment {activeDeploymentId} in progress; wait for it, or stop it with `backstay stop {activeDeploymentId}`.")
{
    public string Service { get; } = service;

    public string ActiveDeploymentId { get; } = activeDeploymentId;
}
