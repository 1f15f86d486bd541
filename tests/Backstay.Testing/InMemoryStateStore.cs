using Backstay.Core.Model;
using Backstay.Core.Ports;

namespace Backstay.Testing;

/// <summary>
/// An <see cref="IStateStore"/> in memory, behind one lock, with the semantics the interface documents: one active
/// deployment per service, rollbacks created atomically, commands taken once, leases that expire on the given clock.
/// Every call honours its cancellation token first, as a real store would, so cancelling an engine stops its writes.
/// </summary>
public sealed class InMemoryStateStore(TimeProvider time) : IStateStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ServiceRecord> _services = new(StringComparer.Ordinal);
    private readonly List<Revision> _revisions = [];
    private readonly List<Deployment> _deployments = [];
    private readonly List<DeploymentEvent> _events = [];
    private readonly List<DeploymentCommand> _commands = [];
    private readonly List<JournalEntry> _journal = [];
    private readonly List<HookRun> _hookRuns = [];
    private readonly Dictionary<string, Observation> _observations = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Owner, DateTimeOffset ExpiresAt, long Generation)> _leases = new(StringComparer.Ordinal);
    private long _eventSequence;
    private long _commandSequence;
    private long _journalSequence;

    /// <summary>Called after a journal entry is stored, on the writer's thread; lets a test "kill" the writer at a chosen point.</summary>
    public Action<JournalEntry>? OnJournalAppended { get; set; }

    /// <summary>Called after a deployment is created (not a rollback through CreateRollbackAsync), on the writer's thread.</summary>
    public Action<Deployment>? OnDeploymentCreated { get; set; }

    /// <summary>Called after an event is stored, on the writer's thread.</summary>
    public Action<DeploymentEvent>? OnEventAppended { get; set; }

    /// <summary>Every deployment, oldest first.</summary>
    public IReadOnlyList<Deployment> AllDeployments
    {
        get
        {
            lock (_gate)
            {
                return [.. _deployments];
            }
        }
    }

    public Deployment Deployment(string id)
    {
        lock (_gate)
        {
            return _deployments.Single(d => d.Id == id);
        }
    }

    public IReadOnlyList<DeploymentEvent> Events(string deploymentId)
    {
        lock (_gate)
        {
            return [.. _events.Where(e => e.DeploymentId == deploymentId)];
        }
    }

    public IReadOnlyList<JournalEntry> Journal(string deploymentId)
    {
        lock (_gate)
        {
            return [.. _journal.Where(e => e.DeploymentId == deploymentId)];
        }
    }

    public ServiceRecord? Service(string name)
    {
        lock (_gate)
        {
            return _services.GetValueOrDefault(name);
        }
    }

    public IReadOnlyList<Revision> Revisions(string service)
    {
        lock (_gate)
        {
            return [.. _revisions.Where(r => r.Service == service).OrderBy(r => r.Number)];
        }
    }

    /// <summary>The owner of an unexpired lease, or null.</summary>
    public string? LeaseOwner(string key)
    {
        lock (_gate)
        {
            return _leases.TryGetValue(key, out var lease) && lease.ExpiresAt > time.GetUtcNow() ? lease.Owner : null;
        }
    }

    /// <summary>Gives a lease to an owner whatever holds it now: another controller that took over while this one stalled.</summary>
    public void ForceLease(string key, string owner, TimeSpan ttl)
    {
        lock (_gate)
        {
            var generation = _leases.TryGetValue(key, out var lease) ? lease.Generation : 0;
            _leases[key] = (owner, time.GetUtcNow() + ttl, generation + 1);
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
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<ServiceRecord>>([.. _services.Values.OrderBy(s => s.Name, StringComparer.Ordinal)]);
        }
    }

    public Task UpsertServiceAsync(ServiceRecord service, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            _services[service.Name] = service;
        }

        return Task.CompletedTask;
    }

    public Task<Revision> AddRevisionAsync(Revision revision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revision);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var number = _revisions.Where(r => r.Service == revision.Service).Select(r => r.Number).DefaultIfEmpty(0).Max() + 1;
            var numbered = revision with { Number = number };
            _revisions.Add(numbered);
            return Task.FromResult(numbered);
        }
    }

    public Task<Revision?> GetRevisionAsync(string service, int number, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult(_revisions.SingleOrDefault(r => r.Service == service && r.Number == number));
        }
    }

    public Task<IReadOnlyList<Revision>> ListRevisionsAsync(string service, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<Revision>>([.. _revisions.Where(r => r.Service == service).OrderByDescending(r => r.Number)]);
        }
    }

    public Task MarkRevisionRemovedAsync(string service, int number, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var index = _revisions.FindIndex(r => r.Service == service && r.Number == number);
            if (index < 0)
            {
                throw new InvalidOperationException($"Service '{service}' has no revision {number}.");
            }

            _revisions[index] = _revisions[index] with { Removed = true };
        }

        return Task.CompletedTask;
    }

    public Task CreateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
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
        lock (_gate)
        {
            ThrowIfConflict(rollback.Service, undone.Id);
            var index = IndexOf(undone.Id);
            if (_deployments.Any(d => d.Id == rollback.Id))
            {
                throw new InvalidOperationException($"Deployment {rollback.Id} already exists.");
            }

            _deployments[index] = undone;
            _deployments.Add(rollback);
        }

        return Task.CompletedTask;
    }

    public Task UpdateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            _deployments[IndexOf(deployment.Id)] = deployment;
        }

        return Task.CompletedTask;
    }

    public Task<Deployment?> GetDeploymentAsync(string id, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult(_deployments.SingleOrDefault(d => d.Id == id));
        }
    }

    public Task<IReadOnlyList<Deployment>> ListDeploymentsAsync(string? service, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<Deployment>>([
                .. _deployments.Select((d, i) => (d, i))
                    .Where(x => service is null || x.d.Service == service)
                    .OrderByDescending(x => x.d.CreatedAt).ThenByDescending(x => x.i)
                    .Take(limit)
                    .Select(x => x.d),
            ]);
        }
    }

    public Task<IReadOnlyList<Deployment>> ListActiveDeploymentsAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<Deployment>>([
                .. _deployments.Select((d, i) => (d, i))
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
        lock (_gate)
        {
            stored = deploymentEvent with { Sequence = ++_eventSequence };
            _events.Add(stored);
        }

        OnEventAppended?.Invoke(stored);
        return Task.FromResult(stored);
    }

    public Task<IReadOnlyList<DeploymentEvent>> ListEventsAsync(string deploymentId, long afterSequence, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<DeploymentEvent>>([
                .. _events.Where(e => e.DeploymentId == deploymentId && e.Sequence > afterSequence).OrderBy(e => e.Sequence),
            ]);
        }
    }

    public Task<DeploymentCommand> EnqueueCommandAsync(DeploymentCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var stored = command with { Id = ++_commandSequence };
            _commands.Add(stored);
            return Task.FromResult(stored);
        }
    }

    public Task<IReadOnlyList<DeploymentCommand>> TakeCommandsAsync(string deploymentId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var taken = _commands.Where(c => c.DeploymentId == deploymentId).OrderBy(c => c.Id).ToList();
            _commands.RemoveAll(c => c.DeploymentId == deploymentId);
            return Task.FromResult<IReadOnlyList<DeploymentCommand>>(taken);
        }
    }

    public Task AppendJournalAsync(JournalEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        cancellationToken.ThrowIfCancellationRequested();
        JournalEntry stored;
        lock (_gate)
        {
            stored = entry with { Sequence = ++_journalSequence };
            _journal.Add(stored);
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
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_leases.TryGetValue(key, out var lease) && lease.Owner != owner && lease.ExpiresAt > now)
            {
                return Task.FromResult(false);
            }

            var renewal = lease.Owner == owner && lease.ExpiresAt > now;
            _leases[key] = (owner, now + ttl, renewal ? lease.Generation : lease.Generation + 1);
            return Task.FromResult(true);
        }
    }

    public Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (_leases.TryGetValue(key, out var lease) && lease.Owner == owner)
            {
                _leases[key] = lease with { ExpiresAt = DateTimeOffset.MinValue };
            }
        }

        return Task.CompletedTask;
    }

    public Task<long?> GetLeaseGenerationAsync(string key, string owner, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult(_leases.TryGetValue(key, out var lease) && lease.Owner == owner && lease.ExpiresAt > time.GetUtcNow()
                ? lease.Generation : (long?)null);
        }
    }

    public Task SaveHookRunAsync(HookRun run, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var index = _hookRuns.FindIndex(r => r.Id == run.Id);
            if (index >= 0)
            {
                _hookRuns[index] = run;
            }
            else
            {
                _hookRuns.Add(run);
            }
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<HookRun>> ListHookRunsAsync(string deploymentId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<HookRun>>(_hookRuns.Where(r => r.DeploymentId == deploymentId).ToList());
        }
    }

    public Task SaveObservationAsync(Observation observation, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            _observations[observation.Service] = observation;
        }

        return Task.CompletedTask;
    }

    public Task<Observation?> GetObservationAsync(string service, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult(_observations.GetValueOrDefault(service));
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void ThrowIfConflict(string service, string? ignoredId)
    {
        var active = _deployments.FirstOrDefault(d => d.Service == service && d.IsActive && d.Id != ignoredId);
        if (active is not null)
        {
            throw new DeploymentConflictException(service, active.Id);
        }
    }

    private void Insert(Deployment deployment)
    {
        if (_deployments.Any(d => d.Id == deployment.Id))
        {
            throw new InvalidOperationException($"Deployment {deployment.Id} already exists.");
        }

        _deployments.Add(deployment);
    }

    private int IndexOf(string id)
    {
        var index = _deployments.FindIndex(d => d.Id == id);
        return index >= 0 ? index : throw new InvalidOperationException($"Deployment {id} does not exist, so it cannot be updated.");
    }
}
