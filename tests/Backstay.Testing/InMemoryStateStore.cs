using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Releases;

namespace Backstay.Testing;

/// <summary>
/// An <see cref="IStateStore"/> in memory, behind one lock, with the semantics the interface documents: one active
/// deployment per service, rollbacks created atomically, commands taken once, leases that expire on the given clock.
/// Every call honours its cancellation token first, as a real store would, so cancelling an engine stops its writes.
/// </summary>
public sealed class InMemoryStateStore : IStateStore
{
    private readonly Storage _data;
    private readonly TimeProvider _time;

    public InMemoryStateStore(TimeProvider time)
        : this(time, new Storage())
    {
    }

    private InMemoryStateStore(TimeProvider time, Storage data)
    {
        _time = time;
        _data = data;
    }

    /// <summary>Called after a journal entry is stored, on the writer's thread; lets a test "kill" the writer at a chosen point.</summary>
    public Action<JournalEntry>? OnJournalAppended { get; set; }

    /// <summary>Called after a deployment is created (not a rollback through CreateRollbackAsync), on the writer's thread.</summary>
    public Action<Deployment>? OnDeploymentCreated { get; set; }

    /// <summary>Called after an event is stored, on the writer's thread.</summary>
    public Action<DeploymentEvent>? OnEventAppended { get; set; }

    /// <summary>Another store over the same data, as a second process opening the same database; its On* hooks are its own.</summary>
    public InMemoryStateStore OpenAnother() => new(_time, _data);

    /// <summary>Every deployment, oldest first.</summary>
    public IReadOnlyList<Deployment> AllDeployments
    {
        get
        {
            lock (_data.Gate)
            {
                return [.. _data.Deployments];
            }
        }
    }

    public Deployment Deployment(string id)
    {
        lock (_data.Gate)
        {
            return _data.Deployments.Single(d => d.Id == id);
        }
    }

    public IReadOnlyList<DeploymentEvent> Events(string deploymentId)
    {
        lock (_data.Gate)
        {
            return [.. _data.Events.Where(e => e.DeploymentId == deploymentId)];
        }
    }

    public IReadOnlyList<JournalEntry> Journal(string deploymentId)
    {
        lock (_data.Gate)
        {
            return [.. _data.Journal.Where(e => e.DeploymentId == deploymentId)];
        }
    }

    public ServiceRecord? Service(string name)
    {
        lock (_data.Gate)
        {
            return _data.Services.GetValueOrDefault(name);
        }
    }

    public IReadOnlyList<Revision> Revisions(string service)
    {
        lock (_data.Gate)
        {
            return [.. _data.Revisions.Where(r => r.Service == service).OrderBy(r => r.Number)];
        }
    }

    /// <summary>The owner of an unexpired lease, or null.</summary>
    public string? LeaseOwner(string key)
    {
        lock (_data.Gate)
        {
            return _data.Leases.TryGetValue(key, out var lease) && lease.ExpiresAt > _time.GetUtcNow() ? lease.Owner : null;
        }
    }

    /// <summary>Gives a lease to an owner whatever holds it now: another controller that took over while this one stalled.</summary>
    public void ForceLease(string key, string owner, TimeSpan ttl)
    {
        lock (_data.Gate)
        {
            var generation = _data.Leases.TryGetValue(key, out var lease) ? lease.Generation : 0;
            _data.Leases[key] = (owner, _time.GetUtcNow() + ttl, generation + 1);
        }
    }

    public Task InitializeAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.CompletedTask;
    }

    public Task<ServiceRecord?> GetServiceAsync(string name, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Service(name));
    }

    public Task<IReadOnlyList<ServiceRecord>> ListServicesAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult<IReadOnlyList<ServiceRecord>>([.. _data.Services.Values.OrderBy(s => s.Name, StringComparer.Ordinal)]);
        }
    }

    public Task UpsertServiceAsync(ServiceRecord service, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            // As the real stores' upsert does: the first CreatedAt of a service is kept; every other field is overwritten.
            _data.Services[service.Name] = _data.Services.TryGetValue(service.Name, out var existing)
                ? service with { CreatedAt = existing.CreatedAt }
                : service;
        }

        return Task.CompletedTask;
    }

    public Task<Revision> AddRevisionAsync(Revision revision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revision);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            var number = _data.Revisions.Where(r => r.Service == revision.Service).Select(r => r.Number).DefaultIfEmpty(0).Max() + 1;
            var numbered = revision with { Number = number };
            _data.Revisions.Add(numbered);
            return Task.FromResult(numbered);
        }
    }

    public Task<Revision?> GetRevisionAsync(string service, int number, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult(_data.Revisions.SingleOrDefault(r => r.Service == service && r.Number == number));
        }
    }

    public Task<IReadOnlyList<Revision>> ListRevisionsAsync(string service, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult<IReadOnlyList<Revision>>([.. _data.Revisions.Where(r => r.Service == service).OrderByDescending(r => r.Number)]);
        }
    }

    public Task MarkRevisionRemovedAsync(string service, int number, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            var index = _data.Revisions.FindIndex(r => r.Service == service && r.Number == number);
            if (index < 0)
            {
                throw new InvalidOperationException($"Service '{service}' has no revision {number}.");
            }

            _data.Revisions[index] = _data.Revisions[index] with { Removed = true };
        }

        return Task.CompletedTask;
    }

    public Task CreateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            ThrowIfConflict(deployment.Service, ignoredId: null);
            Insert(deployment);
        }

        OnDeploymentCreated?.Invoke(deployment);
        return Task.CompletedTask;
    }

    public Task CreateRollbackAsync(Deployment rollback, Deployment undone, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rollback);
        ArgumentNullException.ThrowIfNull(undone);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            ThrowIfConflict(rollback.Service, undone.Id);
            var index = IndexOf(undone.Id);
            if (_data.Deployments.Any(d => d.Id == rollback.Id))
            {
                throw new InvalidOperationException($"Deployment {rollback.Id} already exists.");
            }

            _data.Deployments[index] = undone;
            _data.Deployments.Add(rollback);
        }

        return Task.CompletedTask;
    }

    public Task UpdateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            _data.Deployments[IndexOf(deployment.Id)] = deployment;
        }

        return Task.CompletedTask;
    }

    public Task<Deployment?> GetDeploymentAsync(string id, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult(_data.Deployments.SingleOrDefault(d => d.Id == id));
        }
    }

    public Task<IReadOnlyList<Deployment>> ListDeploymentsAsync(string? service, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult<IReadOnlyList<Deployment>>([
                .. _data.Deployments.Select((d, i) => (d, i))
                    .Where(x => service is null || x.d.Service == service)
                    .OrderByDescending(x => x.d.CreatedAt).ThenByDescending(x => x.i)
                    .Take(limit)
                    .Select(x => x.d),
            ]);
        }
    }

    public Task<IReadOnlyList<Deployment>> ListWarmDeploymentsAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult<IReadOnlyList<Deployment>>([
                .. _data.Deployments.Select((d, i) => (d, i))
                    .Where(x => x.d.WarmRevision is not null)
                    .OrderBy(x => x.d.CreatedAt).ThenBy(x => x.i)
                    .Select(x => x.d),
            ]);
        }
    }

    public Task<IReadOnlyList<Deployment>> ListActiveDeploymentsAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult<IReadOnlyList<Deployment>>([
                .. _data.Deployments.Select((d, i) => (d, i))
                    .Where(x => x.d.IsActive)
                    .OrderBy(x => x.d.CreatedAt).ThenBy(x => x.i)
                    .Select(x => x.d),
            ]);
        }
    }

    public Task<DeploymentEvent> AppendEventAsync(DeploymentEvent deploymentEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deploymentEvent);
        cancellationToken.ThrowIfCancellationRequested();
        DeploymentEvent stored;
        lock (_data.Gate)
        {
            stored = deploymentEvent with { Sequence = ++_data.EventSequence };
            _data.Events.Add(stored);
        }

        OnEventAppended?.Invoke(stored);
        return Task.FromResult(stored);
    }

    public Task<IReadOnlyList<DeploymentEvent>> ListEventsAsync(string deploymentId, long afterSequence, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult<IReadOnlyList<DeploymentEvent>>([
                .. _data.Events.Where(e => e.DeploymentId == deploymentId && e.Sequence > afterSequence).OrderBy(e => e.Sequence),
            ]);
        }
    }

    public Task<DeploymentCommand> EnqueueCommandAsync(DeploymentCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            var stored = command with { Id = ++_data.CommandSequence };
            _data.Commands.Add(stored);
            return Task.FromResult(stored);
        }
    }

    public Task<IReadOnlyList<DeploymentCommand>> TakeCommandsAsync(string deploymentId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            var taken = _data.Commands.Where(c => c.DeploymentId == deploymentId).OrderBy(c => c.Id).ToList();
            _data.Commands.RemoveAll(c => c.DeploymentId == deploymentId);
            return Task.FromResult<IReadOnlyList<DeploymentCommand>>(taken);
        }
    }

    public Task AppendJournalAsync(JournalEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        cancellationToken.ThrowIfCancellationRequested();
        JournalEntry stored;
        lock (_data.Gate)
        {
            stored = entry with { Sequence = ++_data.JournalSequence };
            _data.Journal.Add(stored);
        }

        OnJournalAppended?.Invoke(stored);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<JournalEntry>> ListJournalAsync(string deploymentId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Journal(deploymentId));
    }

    public Task<bool> TryAcquireLeaseAsync(string key, string owner, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            var now = _time.GetUtcNow();
            if (_data.Leases.TryGetValue(key, out var lease) && lease.Owner != owner && lease.ExpiresAt > now)
            {
                return Task.FromResult(false);
            }

            var renewal = lease.Owner == owner && lease.ExpiresAt > now;
            _data.Leases[key] = (owner, now + ttl, renewal ? lease.Generation : lease.Generation + 1);
            return Task.FromResult(true);
        }
    }

    public Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            if (_data.Leases.TryGetValue(key, out var lease) && lease.Owner == owner)
            {
                _data.Leases[key] = lease with { ExpiresAt = DateTimeOffset.MinValue };
            }
        }

        return Task.CompletedTask;
    }

    public Task<long?> GetLeaseGenerationAsync(string key, string owner, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult(_data.Leases.TryGetValue(key, out var lease) && lease.Owner == owner && lease.ExpiresAt > _time.GetUtcNow()
                ? lease.Generation : (long?)null);
        }
    }

    public Task SaveHookRunAsync(HookRun run, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            var index = _data.HookRuns.FindIndex(r => r.Id == run.Id);
            if (index >= 0)
            {
                _data.HookRuns[index] = run;
            }
            else
            {
                _data.HookRuns.Add(run);
            }
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<HookRun>> ListHookRunsAsync(string deploymentId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult<IReadOnlyList<HookRun>>(_data.HookRuns.Where(r => r.DeploymentId == deploymentId).ToList());
        }
    }

    public Task SaveObservationsAsync(IReadOnlyList<Observation> observations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(observations);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            foreach (var observation in observations)
            {
                _data.Observations[observation.Service] = observation;
            }
        }

        return Task.CompletedTask;
    }

    public Task SaveObservationAsync(Observation observation, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            _data.Observations[observation.Service] = observation;
        }

        return Task.CompletedTask;
    }

    public Task<Observation?> GetObservationAsync(string service, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult(_data.Observations.GetValueOrDefault(service));
        }
    }

    public Task CreateReleaseAsync(Release release, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(release);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            if (_data.Releases.Any(r => r.Id == release.Id))
            {
                throw new InvalidOperationException($"Release {release.Id} exists already.");
            }

            _data.Releases.Add(Copy(release));
        }

        return Task.CompletedTask;
    }

    public Task<bool> UpdateReleaseAsync(Release release, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(release);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            var at = _data.Releases.FindIndex(r => r.Id == release.Id);
            if (at < 0 || _data.Releases[at].Version != release.Version)
            {
                return Task.FromResult(false);
            }

            _data.Releases[at] = Copy(release with { Version = release.Version + 1 });
            return Task.FromResult(true);
        }
    }

    public Task<Release?> GetReleaseAsync(string id, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult(_data.Releases.FirstOrDefault(r => r.Id == id));
        }
    }

    public Task<IReadOnlyList<Release>> ListReleasesAsync(int limit, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult<IReadOnlyList<Release>>([.. Enumerable.Reverse(_data.Releases).Take(limit)]);
        }
    }

    public Task<IReadOnlyList<Release>> ListActiveReleasesAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            return Task.FromResult<IReadOnlyList<Release>>([.. _data.Releases.Where(r => r.IsActive)]);
        }
    }

    /// <summary>Stored as the relational stores keep it: a JSON document, so a test cannot lean on shared references.</summary>
    private static Release Copy(Release release) =>
        System.Text.Json.JsonSerializer.Deserialize<Release>(System.Text.Json.JsonSerializer.Serialize(release, BackstayJson.Options), BackstayJson.Options)!;

    public Task AppendSeriesAsync(IReadOnlyList<SeriesPoint> points, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(points);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            foreach (var batch in points.GroupBy(p => p.DeploymentId, StringComparer.Ordinal))
            {
                var kept = _data.Series.Count(p => p.DeploymentId == batch.Key);
                _data.Series.AddRange(batch.Take(Math.Max(0, SeriesPoint.MaxPerDeployment - kept)));
            }
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<SeriesPoint>> ListSeriesAsync(string deploymentId, DateTimeOffset? after, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            // OrderBy is stable: points at equal times stay in the order they were added.
            return Task.FromResult<IReadOnlyList<SeriesPoint>>([.. _data.Series
                .Where(p => p.DeploymentId == deploymentId && (after is null || p.At > after))
                .OrderBy(p => p.At)]);
        }
    }

    public Task DeleteSeriesAsync(string deploymentId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_data.Gate)
        {
            _data.Series.RemoveAll(p => p.DeploymentId == deploymentId);
        }

        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void ThrowIfConflict(string service, string? ignoredId)
    {
        var active = _data.Deployments.FirstOrDefault(d => d.Service == service && d.IsActive && d.Id != ignoredId);
        if (active is not null)
        {
            throw new DeploymentConflictException(service, active.Id);
        }
    }

    private void Insert(Deployment deployment)
    {
        if (_data.Deployments.Any(d => d.Id == deployment.Id))
        {
            throw new InvalidOperationException($"Deployment {deployment.Id} already exists.");
        }

        _data.Deployments.Add(deployment);
    }

    private int IndexOf(string id)
    {
        var index = _data.Deployments.FindIndex(d => d.Id == id);
        return index >= 0 ? index : throw new InvalidOperationException($"Deployment {id} does not exist, so it cannot be updated.");
    }

    /// <summary>What a database would hold: shared by the stores <see cref="OpenAnother"/> makes, behind one lock.</summary>
    private sealed class Storage
    {
        public readonly Lock Gate = new();
        public readonly Dictionary<string, ServiceRecord> Services = new(StringComparer.Ordinal);
        public readonly List<Revision> Revisions = [];
        public readonly List<Deployment> Deployments = [];
        public readonly List<DeploymentEvent> Events = [];
        public readonly List<DeploymentCommand> Commands = [];
        public readonly List<JournalEntry> Journal = [];
        public readonly List<HookRun> HookRuns = [];
        public readonly List<SeriesPoint> Series = [];
        public readonly Dictionary<string, Observation> Observations = new(StringComparer.Ordinal);
        public readonly List<Release> Releases = [];
        public readonly Dictionary<string, (string Owner, DateTimeOffset ExpiresAt, long Generation)> Leases = new(StringComparer.Ordinal);
        public long EventSequence;
        public long CommandSequence;
        public long JournalSequence;
    }
}
