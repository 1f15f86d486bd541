using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Engine;

/// <summary>A write refused because the lease it was made under has moved to another holder (or expired): the deployment is the new holder's now.</summary>
public sealed class LeaseLostException(string message) : Exception(message);

/// <summary>
/// The lease a runner holds on its service, checked before every write it makes to the platform or the store. A
/// controller that stalled (SIGSTOP, a long GC pause, a frozen VM) past its lease's expiry wakes up with timers that
/// fire at once; without the check it would act on a deployment another replica has taken over. The generation goes
/// up each time the lease changes hands, so a stale holder is refused even when it took the lease back in between.
/// </summary>
/// <remarks>
/// The platforms have no conditional writes, so the check comes just before the call rather than inside it: a process
/// frozen between the check and the call can still make that one call. Steps are journaled and re-runnable, so the
/// new holder's next step sets the state again.
/// </remarks>
public sealed class LeaseFence(IStateStore store, string key, string owner, long generation)
{
    public string Key => key;

    public long Generation => generation;

    /// <summary>Takes the lease's generation for owner, or null when owner does not hold it.</summary>
    public static async Task<LeaseFence?> TakeAsync(IStateStore store, string key, string owner, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        return await store.GetLeaseGenerationAsync(key, owner, cancellationToken) is { } held ? new LeaseFence(store, key, owner, held) : null;
    }

    /// <summary>Throws <see cref="LeaseLostException"/> unless owner still holds the lease at the same generation.</summary>
    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        var now = await store.GetLeaseGenerationAsync(key, owner, cancellationToken);
        if (now != generation)
        {
            throw new LeaseLostException(now is null
                ? $"{owner} no longer holds the lease {key} (generation {generation}); another controller runs this deployment now"
                : $"the lease {key} moved from generation {generation} to {now}; another controller ran this deployment in between");
        }
    }

    /// <summary>The platform behind this fence: every call that changes what runs or serves checks the lease first; reads go straight through.</summary>
    public IPlatform Guard(IPlatform platform) => new FencedPlatform(platform, this);

    /// <summary>The store behind this fence: every write checks the lease first; reads and lease calls go straight through.</summary>
    public IStateStore Guard(IStateStore inner) => new FencedStore(inner, this);

    private sealed class FencedPlatform(IPlatform inner, LeaseFence fence) : IPlatform, ICompute, ITraffic, INativeRollout
    {
        public string Name => inner.Name;

        public bool Serves(string platformKind) => inner.Serves(platformKind);

        public TimeSpan ObservationInterval(string platformKind) => inner.ObservationInterval(platformKind);

        public ICompute Compute => this;

        public ITraffic Traffic => this;

        public ISignals Signals => inner.Signals;

        public INativeRollout? NativeRollout => inner.NativeRollout is null ? null : this;

        public IReadOnlyList<IMetricProvider> MetricProviders => inner.MetricProviders;

        public Task CheckServiceAsync(ServiceSpec spec, CancellationToken cancellationToken) => inner.CheckServiceAsync(spec, cancellationToken);

        public async Task EnsureServiceAsync(ServiceSpec spec, CancellationToken cancellationToken)
        {
            await fence.CheckAsync(cancellationToken);
            await inner.EnsureServiceAsync(spec, cancellationToken);
        }

        public Task AttachAsync(ServiceSpec spec, CancellationToken cancellationToken) => inner.AttachAsync(spec, cancellationToken);

        public async Task RecreateServiceAsync(ServiceSpec spec, CancellationToken cancellationToken)
        {
            await fence.CheckAsync(cancellationToken);
            await inner.RecreateServiceAsync(spec, cancellationToken);
        }

        public async Task BeginDeploymentAsync(ServiceSpec spec, CancellationToken cancellationToken)
        {
            await fence.CheckAsync(cancellationToken);
            await inner.BeginDeploymentAsync(spec, cancellationToken);
        }

        public async Task EndDeploymentAsync(ServiceSpec spec, int servingRevision, CancellationToken cancellationToken)
        {
            await fence.CheckAsync(cancellationToken);
            await inner.EndDeploymentAsync(spec, servingRevision, cancellationToken);
        }

        public Task<bool> IsAutoScaledAsync(string service, CancellationToken cancellationToken) => inner.IsAutoScaledAsync(service, cancellationToken);

        public async Task MarkDeploymentAsync(ServiceSpec spec, DeploymentMark mark, CancellationToken cancellationToken)
        {
            await fence.CheckAsync(cancellationToken);
            await inner.MarkDeploymentAsync(spec, mark, cancellationToken);
        }

        public Task<string?> TestListenerUrlAsync(ServiceSpec spec, CancellationToken cancellationToken) => inner.TestListenerUrlAsync(spec, cancellationToken);

        public Task<string> LogsHintAsync(ServiceSpec spec, int revision, CancellationToken cancellationToken) => inner.LogsHintAsync(spec, revision, cancellationToken);

        public async Task ScaleAsync(ServiceSpec spec, Revision revision, int count, CancellationToken cancellationToken)
        {
            await fence.CheckAsync(cancellationToken);
            await inner.Compute.ScaleAsync(spec, revision, count, cancellationToken);
        }

        public Task<IReadOnlyList<InstanceSet>> ListAsync(string service, CancellationToken cancellationToken) => inner.Compute.ListAsync(service, cancellationToken);

        public async Task RemoveRevisionAsync(ServiceSpec spec, Revision revision, CancellationToken cancellationToken)
        {
            await fence.CheckAsync(cancellationToken);
            await inner.Compute.RemoveRevisionAsync(spec, revision, cancellationToken);
        }

        public async Task SetWeightsAsync(string service, Listener listener, IReadOnlyDictionary<int, int> weightByRevision, CancellationToken cancellationToken)
        {
            await fence.CheckAsync(cancellationToken);
            await inner.Traffic.SetWeightsAsync(service, listener, weightByRevision, cancellationToken);
        }

        public Task<IReadOnlyDictionary<int, int>> GetWeightsAsync(string service, Listener listener, CancellationToken cancellationToken) =>
            inner.Traffic.GetWeightsAsync(service, listener, cancellationToken);

        public async Task<NativeRolloutStatus> StartAsync(ServiceSpec spec, Revision revision, CancellationToken cancellationToken)
        {
            await fence.CheckAsync(cancellationToken);
            return await inner.NativeRollout!.StartAsync(spec, revision, cancellationToken);
        }

        public Task<NativeRolloutStatus> GetAsync(ServiceSpec spec, string rolloutId, CancellationToken cancellationToken) =>
            inner.NativeRollout!.GetAsync(spec, rolloutId, cancellationToken);

        // The engine owns the platform; a runner's view of it does not end it.
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class FencedStore(IStateStore inner, LeaseFence fence) : IStateStore
    {
        private async Task<T> FencedAsync<T>(Func<Task<T>> write, CancellationToken cancellationToken)
        {
            await fence.CheckAsync(cancellationToken);
            return await write();
        }

        private async Task FencedAsync(Func<Task> write, CancellationToken cancellationToken)
        {
            await fence.CheckAsync(cancellationToken);
            await write();
        }

        public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

        public Task<ServiceRecord?> GetServiceAsync(string name, CancellationToken cancellationToken) => inner.GetServiceAsync(name, cancellationToken);

        public Task<IReadOnlyList<ServiceRecord>> ListServicesAsync(CancellationToken cancellationToken) => inner.ListServicesAsync(cancellationToken);

        public Task UpsertServiceAsync(ServiceRecord service, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.UpsertServiceAsync(service, cancellationToken), cancellationToken);

        public Task<Revision> AddRevisionAsync(Revision revision, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.AddRevisionAsync(revision, cancellationToken), cancellationToken);

        public Task<Revision?> GetRevisionAsync(string service, int number, CancellationToken cancellationToken) => inner.GetRevisionAsync(service, number, cancellationToken);

        public Task<IReadOnlyList<Revision>> ListRevisionsAsync(string service, CancellationToken cancellationToken) => inner.ListRevisionsAsync(service, cancellationToken);

        public Task MarkRevisionRemovedAsync(string service, int number, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.MarkRevisionRemovedAsync(service, number, cancellationToken), cancellationToken);

        public Task CreateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.CreateDeploymentAsync(deployment, cancellationToken), cancellationToken);

        public Task CreateRollbackAsync(Deployment rollback, Deployment undone, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.CreateRollbackAsync(rollback, undone, cancellationToken), cancellationToken);

        public Task UpdateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.UpdateDeploymentAsync(deployment, cancellationToken), cancellationToken);

        public Task<Deployment?> GetDeploymentAsync(string id, CancellationToken cancellationToken) => inner.GetDeploymentAsync(id, cancellationToken);

        public Task<IReadOnlyList<Deployment>> ListDeploymentsAsync(string? service, int limit, CancellationToken cancellationToken) =>
            inner.ListDeploymentsAsync(service, limit, cancellationToken);

        public Task<IReadOnlyList<Deployment>> ListActiveDeploymentsAsync(CancellationToken cancellationToken) => inner.ListActiveDeploymentsAsync(cancellationToken);

        public Task<IReadOnlyList<Deployment>> ListWarmDeploymentsAsync(CancellationToken cancellationToken) => inner.ListWarmDeploymentsAsync(cancellationToken);

        public Task<DeploymentEvent> AppendEventAsync(DeploymentEvent deploymentEvent, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.AppendEventAsync(deploymentEvent, cancellationToken), cancellationToken);

        public Task<IReadOnlyList<DeploymentEvent>> ListEventsAsync(string deploymentId, long afterSequence, CancellationToken cancellationToken) =>
            inner.ListEventsAsync(deploymentId, afterSequence, cancellationToken);

        public Task<DeploymentCommand> EnqueueCommandAsync(DeploymentCommand command, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.EnqueueCommandAsync(command, cancellationToken), cancellationToken);

        // Taking a command consumes it: a stale runner must not swallow the `continue` meant for the new holder.
        public Task<IReadOnlyList<DeploymentCommand>> TakeCommandsAsync(string deploymentId, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.TakeCommandsAsync(deploymentId, cancellationToken), cancellationToken);

        public Task AppendJournalAsync(JournalEntry entry, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.AppendJournalAsync(entry, cancellationToken), cancellationToken);

        public Task<IReadOnlyList<JournalEntry>> ListJournalAsync(string deploymentId, CancellationToken cancellationToken) => inner.ListJournalAsync(deploymentId, cancellationToken);

        public Task<bool> TryAcquireLeaseAsync(string key, string owner, TimeSpan ttl, CancellationToken cancellationToken) =>
            inner.TryAcquireLeaseAsync(key, owner, ttl, cancellationToken);

        public Task<long?> GetLeaseGenerationAsync(string key, string owner, CancellationToken cancellationToken) =>
            inner.GetLeaseGenerationAsync(key, owner, cancellationToken);

        public Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken) => inner.ReleaseLeaseAsync(key, owner, cancellationToken);

        public Task SaveHookRunAsync(HookRun run, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.SaveHookRunAsync(run, cancellationToken), cancellationToken);

        public Task<IReadOnlyList<HookRun>> ListHookRunsAsync(string deploymentId, CancellationToken cancellationToken) => inner.ListHookRunsAsync(deploymentId, cancellationToken);

        public Task CreateReleaseAsync(Releases.Release release, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.CreateReleaseAsync(release, cancellationToken), cancellationToken);

        public Task<bool> UpdateReleaseAsync(Releases.Release release, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.UpdateReleaseAsync(release, cancellationToken), cancellationToken);

        public Task<Releases.Release?> GetReleaseAsync(string id, CancellationToken cancellationToken) => inner.GetReleaseAsync(id, cancellationToken);

        public Task<IReadOnlyList<Releases.Release>> ListReleasesAsync(int limit, CancellationToken cancellationToken) => inner.ListReleasesAsync(limit, cancellationToken);

        public Task<IReadOnlyList<Releases.Release>> ListActiveReleasesAsync(CancellationToken cancellationToken) => inner.ListActiveReleasesAsync(cancellationToken);

        public Task SaveObservationAsync(Observation observation, CancellationToken cancellationToken) => inner.SaveObservationAsync(observation, cancellationToken);

        public Task SaveObservationsAsync(IReadOnlyList<Observation> observations, CancellationToken cancellationToken) => inner.SaveObservationsAsync(observations, cancellationToken);

        public Task<Observation?> GetObservationAsync(string service, CancellationToken cancellationToken) => inner.GetObservationAsync(service, cancellationToken);

        public Task AppendSeriesAsync(IReadOnlyList<SeriesPoint> points, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.AppendSeriesAsync(points, cancellationToken), cancellationToken);

        public Task<IReadOnlyList<SeriesPoint>> ListSeriesAsync(string deploymentId, DateTimeOffset? after, CancellationToken cancellationToken) =>
            inner.ListSeriesAsync(deploymentId, after, cancellationToken);

        public Task DeleteSeriesAsync(string deploymentId, CancellationToken cancellationToken) =>
            FencedAsync(() => inner.DeleteSeriesAsync(deploymentId, cancellationToken), cancellationToken);

        // The engine owns the store.
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
