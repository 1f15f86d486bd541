using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Testing;

/// <summary>How the instances of a revision behave on the fake platform.</summary>
public sealed record InstanceBehavior
{
    public static readonly InstanceBehavior Healthy = new();

    /// <summary>How long a new instance takes to pass its health check.</summary>
    public TimeSpan HealthyAfter { get; init; }

    /// <summary>The instance runs but never passes its health check.</summary>
    public bool NeverHealthy { get; init; }

    /// <summary>When set, the instance crashes and restarts this often, forever.</summary>
    public TimeSpan? CrashEvery { get; init; }

    public static InstanceBehavior After(TimeSpan delay) => new() { HealthyAfter = delay };

    public static InstanceBehavior Never() => new() { NeverHealthy = true };

    public static InstanceBehavior CrashLoop(TimeSpan every) => new() { CrashEvery = every };
}

/// <summary>The production traffic a revision serves while it has weight: a steady rate with a steady error rate.</summary>
public sealed record TrafficProfile
{
    public double RequestsPerSecond { get; init; } = 60;
    public double ErrorRate { get; init; }
    public double LatencyP50Ms { get; init; } = 20;
    public double LatencyP90Ms { get; init; } = 40;
    public double LatencyP99Ms { get; init; } = 80;

    /// <summary>When set, errors are drawn per request from this seed instead of being exactly rate × requests.</summary>
    public int? Seed { get; init; }
}

/// <summary>One call the engine made to the fake platform, in order.</summary>
public abstract record PlatformOperation(long Sequence, DateTimeOffset At, string Service);

public sealed record ScaleOperation(long Sequence, DateTimeOffset At, string Service, int Revision, int Count)
    : PlatformOperation(Sequence, At, Service);

public sealed record WeightOperation(long Sequence, DateTimeOffset At, string Service, Listener Listener, IReadOnlyDictionary<int, int> Weights)
    : PlatformOperation(Sequence, At, Service)
{
    public int WeightOf(int revision) => Weights.TryGetValue(revision, out var w) ? w : 0;
}

/// <summary>
/// An <see cref="IPlatform"/> in memory on a fake clock: instances that turn healthy (or not) as time passes, weights
/// that are read back as set (or as a test moved them by hand), and request figures that follow from how long each
/// revision has had production traffic.
/// </summary>
public sealed class FakePlatform(TimeProvider time) : IPlatform, ICompute, ITraffic, ISignals
{
    private int _weightReads;
    private int _batchWeightReads;

    private readonly Lock _gate = new();
    private readonly Dictionary<(string Service, int Revision), RevisionState> _revisions = new();
    private readonly Dictionary<(string Service, int Revision), InstanceBehavior> _behaviors = new();
    private readonly Dictionary<(string Service, int Revision), TrafficProfile> _profiles = new();
    private readonly Dictionary<(string Service, Listener Listener), Dictionary<int, int>> _weights = new();
    private readonly Dictionary<(string Service, int Revision), List<Serving>> _serving = new();
    private readonly Dictionary<(string Service, int Revision), Random> _noise = new();
    private readonly List<PlatformOperation> _operations = [];
    private readonly List<ServiceSpec> _ensured = [];
    private long _sequence;
    private int _instanceIds;

    public string Name => "fake";

    /// <summary>Stands in for any platform: runs local and ECS specs alike.</summary>
    public bool Serves(string platformKind) => true;

    /// <summary>How often at most the engine may record a service's state here (zero: the engine's interval).</summary>
    public TimeSpan ObserveEvery { get; set; }

    public TimeSpan ObservationInterval(string platformKind) => ObserveEvery;

    public ICompute Compute => this;

    public ITraffic Traffic => this;

    public ISignals Signals => this;

    /// <summary>A platform-run rollout (e.g. <see cref="FakeNativeRollout"/>); null like a platform that has none.</summary>
    public INativeRollout? NativeRollout { get; set; }

    private readonly Dictionary<string, AlarmStatus> _alarms = new(StringComparer.Ordinal);

    /// <summary>Sets an alarm's state, as CloudWatch would; alarms never set read as OK.</summary>
    public void SetAlarm(string name, string state, string? reason = null)
    {
        lock (_gate)
        {
            _alarms[name] = new AlarmStatus(name, state, reason);
        }
    }

    public Task<IReadOnlyList<AlarmStatus>> GetAlarmsAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<AlarmStatus>>([.. (spec.Platform.Ecs?.Alarms ?? []).Select(n => _alarms.GetValueOrDefault(n) ?? new AlarmStatus(n, "OK", null))]);
        }
    }

    /// <summary>Called after each operation is applied, on the caller's thread; lets a test "kill" the caller right after acting.</summary>
    public Action<PlatformOperation>? OnOperation { get; set; }

    public IReadOnlyList<PlatformOperation> Operations
    {
        get
        {
            lock (_gate)
            {
                return [.. _operations];
            }
        }
    }

    /// <summary>What the runner told the platform about where deployments stand, in order.</summary>
    public IReadOnlyList<DeploymentMark> Marks
    {
        get
        {
            lock (_gate)
            {
                return [.. _marks];
            }
        }
    }

    private readonly List<DeploymentMark> _marks = [];

    public Task MarkDeploymentAsync(ServiceSpec spec, DeploymentMark mark, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _marks.Add(mark);
        }

        return Task.CompletedTask;
    }

    public IReadOnlyList<ServiceSpec> Ensured
    {
        get
        {
            lock (_gate)
            {
                return [.. _ensured];
            }
        }
    }

    public void SetBehavior(string service, int revision, InstanceBehavior behavior)
    {
        lock (_gate)
        {
            _behaviors[(service, revision)] = behavior;
        }
    }

    public void SetTraffic(string service, int revision, TrafficProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        lock (_gate)
        {
            _profiles[(service, revision)] = profile;
            _noise.Remove((service, revision));
            if (profile.Seed is { } seed)
            {
                _noise[(service, revision)] = new Random(seed);
            }
        }
    }

    /// <summary>
    /// Every instance of the revision crashed and the platform started it again now: each is Starting until its
    /// behaviour makes it healthy. No operation is recorded; Backstay did not ask for it.
    /// </summary>
    public void RestartInstances(string service, int revision)
    {
        lock (_gate)
        {
            if (_revisions.TryGetValue((service, revision), out var state))
            {
                var now = time.GetUtcNow();
                for (var i = 0; i < state.Instances.Count; i++)
                {
                    state.Instances[i] = (state.Instances[i].Id, now);
                }
            }
        }
    }

    /// <summary>Changes production weights the way a person at the console would: no operation is recorded.</summary>
    public void MoveWeightsByHand(string service, IReadOnlyDictionary<int, int> weights)
    {
        lock (_gate)
        {
            ApplyWeights(service, Listener.Production, weights);
        }
    }

    public IReadOnlyDictionary<int, int> WeightsNow(string service, Listener listener = Listener.Production)
    {
        lock (_gate)
        {
            return _weights.TryGetValue((service, listener), out var w) ? new Dictionary<int, int>(w) : new Dictionary<int, int>();
        }
    }

    public int DesiredCount(string service, int revision)
    {
        lock (_gate)
        {
            return _revisions.TryGetValue((service, revision), out var state) ? state.DesiredCount : 0;
        }
    }

    /// <summary>When the revision first had production weight, if it ever had.</summary>
    public DateTimeOffset? FirstTrafficAt(string service, int revision)
    {
        lock (_gate)
        {
            return _serving.TryGetValue((service, revision), out var spans) && spans.Count > 0 ? spans[0].From : null;
        }
    }

    public Task EnsureServiceAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            _ensured.Add(spec);
        }

        return Task.CompletedTask;
    }

    public Task ScaleAsync(ServiceSpec spec, Revision revision, int count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(revision);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        cancellationToken.ThrowIfCancellationRequested();
        PlatformOperation operation;
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var key = (spec.Service, revision.Number);
            if (!_revisions.TryGetValue(key, out var state))
            {
                state = new RevisionState();
                _revisions[key] = state;
            }

            state.DesiredCount = count;
            while (state.Instances.Count < count)
            {
                state.Instances.Add(($"{spec.Service}-r{revision.Number}-{++_instanceIds}", now));
            }

            if (state.Instances.Count > count)
            {
                state.Instances.RemoveRange(count, state.Instances.Count - count);
            }

            operation = new ScaleOperation(++_sequence, now, spec.Service, revision.Number, count);
            _operations.Add(operation);
        }

        OnOperation?.Invoke(operation);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<InstanceSet>> ListAsync(string service, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var sets = _revisions
                .Where(r => r.Key.Service == service && (r.Value.DesiredCount > 0 || r.Value.Instances.Count > 0))
                .OrderBy(r => r.Key.Revision)
                .Select(r => new InstanceSet
                {
                    Service = service,
                    Revision = r.Key.Revision,
                    DesiredCount = r.Value.DesiredCount,
                    Instances = [.. r.Value.Instances.Select(i => Status(service, r.Key.Revision, i.Id, i.StartedAt, now))],
                })
                .ToList();
            return Task.FromResult<IReadOnlyList<InstanceSet>>(sets);
        }
    }

    public Task SetWeightsAsync(string service, Listener listener, IReadOnlyDictionary<int, int> weightByRevision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(weightByRevision);
        cancellationToken.ThrowIfCancellationRequested();
        if (weightByRevision.Values.Sum() != 100 || weightByRevision.Values.Any(w => w is < 0 or > 100))
        {
            throw new ArgumentException($"Weights must be 0..100 and add up to 100, got {string.Join(", ", weightByRevision)}.", nameof(weightByRevision));
        }

        PlatformOperation operation;
        lock (_gate)
        {
            ApplyWeights(service, listener, weightByRevision);
            operation = new WeightOperation(++_sequence, time.GetUtcNow(), service, listener, new Dictionary<int, int>(weightByRevision));
            _operations.Add(operation);
        }

        OnOperation?.Invoke(operation);
        return Task.CompletedTask;
    }

    /// <summary>Reads of one service's weights (<see cref="GetWeightsAsync"/>).</summary>
    public int WeightReads => Volatile.Read(ref _weightReads);

    /// <summary>Reads of many services' production weights at once (<see cref="GetProductionWeightsAsync"/>).</summary>
    public int BatchWeightReads => Volatile.Read(ref _batchWeightReads);

    public Task<IReadOnlyDictionary<int, int>> GetWeightsAsync(string service, Listener listener, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Interlocked.Increment(ref _weightReads);
        return Task.FromResult(WeightsNow(service, listener));
    }

    public Task<IReadOnlyDictionary<string, IReadOnlyDictionary<int, int>>> GetProductionWeightsAsync(IReadOnlyCollection<string> services, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Interlocked.Increment(ref _batchWeightReads);
        return Task.FromResult<IReadOnlyDictionary<string, IReadOnlyDictionary<int, int>>>(
            services.ToDictionary(s => s, s => WeightsNow(s, Listener.Production), StringComparer.Ordinal));
    }

    /// <summary>The custom-metric providers the platform offers besides the built-in ones (a test's, for the engine's tests).</summary>
    public IReadOnlyList<IMetricProvider> MetricProviders { get; set; } = [];

    /// <summary>Whether the engine is told of each request as it arrives (like the local platform), or judges only every interval.</summary>
    public bool ReportsArrivals { get; set; }

    /// <summary>The revision's next request on the fake clock: one over its rate from now (never with no traffic).</summary>
    public Task WaitForRequestsAsync(string service, int revision, CancellationToken cancellationToken)
    {
        var rate = _profiles.GetValueOrDefault((service, revision))?.RequestsPerSecond ?? 0;
        return rate > 0
            ? Task.Delay(TimeSpan.FromSeconds(1 / rate), time, cancellationToken)
            : Task.Delay(Timeout.InfiniteTimeSpan, time, cancellationToken);
    }

    public Task<RevisionMetrics> GetMetricsAsync(string service, int revision, TimeSpan window, DateTimeOffset? since, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var from = now - window;
            if (since is { } s && s > from)
            {
                from = s;
            }

            var profile = _profiles.GetValueOrDefault((service, revision)) ?? new TrafficProfile { RequestsPerSecond = 0 };
            var spans = _serving.GetValueOrDefault((service, revision)) ?? [];
            var seconds = 0.0;
            DateTimeOffset? firstServed = null;
            foreach (var span in spans)
            {
                var start = span.From > from ? span.From : from;
                var end = span.Until is { } u && u < now ? u : now;
                if (end > start)
                {
                    firstServed ??= start;
                    seconds += (end - start).TotalSeconds;
                }
            }

            var requests = (long)Math.Floor((profile.RequestsPerSecond * seconds) + 1e-9);
            var errors = _noise.TryGetValue((service, revision), out var random)
                ? Draw(random, requests, profile.ErrorRate)
                : (long)Math.Floor((requests * profile.ErrorRate) + 1e-9);
            DateTimeOffset? firstError = errors > 0 && firstServed is { } first
                ? first + TimeSpan.FromSeconds(Math.Min(seconds, 1 / (profile.RequestsPerSecond * Math.Max(profile.ErrorRate, 1e-6))))
                : null;
            return Task.FromResult(new RevisionMetrics
            {
                Revision = revision,
                Window = window,
                Requests = requests,
                Errors = errors,
                LatencyP50Ms = requests > 0 ? profile.LatencyP50Ms : null,
                LatencyP90Ms = requests > 0 ? profile.LatencyP90Ms : null,
                LatencyP99Ms = requests > 0 ? profile.LatencyP99Ms : null,
                FirstErrorAt = firstError,
            });
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static long Draw(Random random, long requests, double errorRate)
    {
        long errors = 0;
        for (long i = 0; i < requests; i++)
        {
            if (random.NextDouble() < errorRate)
            {
                errors++;
            }
        }

        return errors;
    }

    private void ApplyWeights(string service, Listener listener, IReadOnlyDictionary<int, int> weights)
    {
        var now = time.GetUtcNow();
        var previous = _weights.GetValueOrDefault((service, listener)) ?? new Dictionary<int, int>();
        _weights[(service, listener)] = new Dictionary<int, int>(weights);
        if (listener != Listener.Production)
        {
            return;
        }

        foreach (var revision in previous.Keys.Union(weights.Keys))
        {
            var before = previous.GetValueOrDefault(revision);
            var after = weights.GetValueOrDefault(revision);
            if (before == 0 && after > 0)
            {
                if (!_serving.TryGetValue((service, revision), out var spans))
                {
                    spans = [];
                    _serving[(service, revision)] = spans;
                }

                spans.Add(new Serving(now, null));
            }
            else if (before > 0 && after == 0 && _serving.TryGetValue((service, revision), out var spans))
            {
                spans[^1] = spans[^1] with { Until = now };
            }
        }
    }

    private InstanceStatus Status(string service, int revision, string id, DateTimeOffset startedAt, DateTimeOffset now)
    {
        var behavior = _behaviors.GetValueOrDefault((service, revision)) ?? InstanceBehavior.Healthy;
        var age = now - startedAt;
        var status = new InstanceStatus { Id = id, Revision = revision, StartedAt = startedAt, Address = $"127.0.0.1:{20000 + revision}" };
        if (behavior.CrashEvery is { } every)
        {
            return status with
            {
                Health = InstanceHealth.Starting,
                Restarts = (int)(age / every),
                LastError = age >= every ? "exited with code 1: panic: config missing" : null,
            };
        }

        if (behavior.NeverHealthy)
        {
            return status with { Health = InstanceHealth.Unhealthy, LastError = "GET /healthz returned 503" };
        }

        return status with { Health = age >= behavior.HealthyAfter ? InstanceHealth.Healthy : InstanceHealth.Starting };
    }

    private sealed class RevisionState
    {
        public int DesiredCount { get; set; }

        public List<(string Id, DateTimeOffset StartedAt)> Instances { get; } = [];
    }

    private sealed record Serving(DateTimeOffset From, DateTimeOffset? Until);
}
