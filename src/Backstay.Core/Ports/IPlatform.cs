using Backstay.Core.Model;
using Backstay.Core.Spec;

namespace Backstay.Core.Ports;

/// <summary>A platform Backstay drives: compute, traffic and signals for the services on it.</summary>
public interface IPlatform : IAsyncDisposable
{
    /// <summary>Short name used in specs and output, e.g. "local" or "ecs".</summary>
    string Name { get; }

    /// <summary>Whether services of this platform kind (a spec's platform key) run here.</summary>
    bool Serves(string platformKind) => platformKind == Name;

    /// <summary>
    /// How often at most the engine records what the platform shows for one of its services (for drift checks); zero
    /// leaves it to the engine's interval. A cloud platform whose reads count against API rate limits asks for less.
    /// </summary>
    TimeSpan ObservationInterval(string platformKind) => TimeSpan.Zero;

    ICompute Compute { get; }

    ITraffic Traffic { get; }

    ISignals Signals { get; }

    /// <summary>
    /// Checks, changing nothing, that the platform can take the service as its spec describes it (e.g. its listeners are
    /// free); throws <see cref="PlatformException"/> saying what is wrong. Asked before a deployment is recorded.
    /// </summary>
    Task CheckServiceAsync(ServiceSpec spec, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Makes the service exist on the platform (listeners, load balancer entries); idempotent.</summary>
    Task EnsureServiceAsync(ServiceSpec spec, CancellationToken cancellationToken);

    /// <summary>Binds a fresh process to a service recorded earlier (cluster, listeners) so reads by service name work; idempotent.</summary>
    Task AttachAsync(ServiceSpec spec, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Re-creates a service that was deleted by hand (reset --recreate); by default the same as <see cref="EnsureServiceAsync"/>.</summary>
    Task RecreateServiceAsync(ServiceSpec spec, CancellationToken cancellationToken) => EnsureServiceAsync(spec, cancellationToken);

    /// <summary>Called when a deployment starts acting: e.g. suspends auto scaling. Idempotent.</summary>
    Task BeginDeploymentAsync(ServiceSpec spec, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Called when a deployment ends, with the revision that serves now: e.g. resumes auto scaling on it. Idempotent.</summary>
    Task EndDeploymentAsync(ServiceSpec spec, int servingRevision, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>True when something on the platform other than Backstay sets the service's instance count (ECS: Application Auto Scaling); drift checks then leave the count alone.</summary>
    Task<bool> IsAutoScaledAsync(string service, CancellationToken cancellationToken) => Task.FromResult(false);

    /// <summary>
    /// Keeps where the service's latest deployment stands next to the service on the platform (ECS: a tag on the service),
    /// so a process with an empty store can record it and carry on (`backstay import`). Called when the deployment's
    /// state or step changes; a failure is reported, never fatal.
    /// </summary>
    Task MarkDeploymentAsync(ServiceSpec spec, DeploymentMark mark, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The address hooks reach the test listener at (BACKSTAY_TEST_URL, testListenerUrl), or null when there is none.</summary>
    Task<string?> TestListenerUrlAsync(ServiceSpec spec, CancellationToken cancellationToken) =>
        Task.FromResult(spec.Platform.Local?.TestListener is { } test ? $"http://{test}/" : null);

    /// <summary>
    /// Where a person reads what the revision's instances printed, for messages about instances that did not become
    /// healthy or kept crashing (local: `backstay logs`; ECS: the task definition's CloudWatch log group). Never throws.
    /// </summary>
    Task<string> LogsHintAsync(ServiceSpec spec, int revision, CancellationToken cancellationToken) =>
        Task.FromResult($"see `backstay logs {spec.Service}`");

    /// <summary>Where the platform reads custom metrics from besides the built-in providers (ECS: CloudWatch).</summary>
    IReadOnlyList<IMetricProvider> MetricProviders => [];

    /// <summary>Rollouts the platform runs itself (ECS's rolling deployment controller), or null when it has none.</summary>
    INativeRollout? NativeRollout => null;
}

/// <summary>
/// A rolling update the platform carries out itself while the engine follows it. The platform reports; it never
/// decides to roll back: the engine does, with a native rollout back to the stable revision.
/// </summary>
public interface INativeRollout
{
    /// <summary>Starts rolling the service out to the revision; idempotent: for a revision already being rolled out it returns that rollout.</summary>
    Task<NativeRolloutStatus> StartAsync(ServiceSpec spec, Revision revision, CancellationToken cancellationToken);

    /// <summary>Where the rollout started earlier stands.</summary>
    Task<NativeRolloutStatus> GetAsync(ServiceSpec spec, string rolloutId, CancellationToken cancellationToken);
}

/// <summary>Where a platform-run rollout stands.</summary>
public enum NativeRolloutState
{
    InProgress,
    Completed,
    Failed,

    /// <summary>The platform put an earlier revision back on its own.</summary>
    RolledBack,
}

/// <summary>A platform-run rollout as last read: its state, the platform's reason (e.g. the circuit breaker's) and task counts.</summary>
public sealed record NativeRolloutStatus(string Id, NativeRolloutState State, string? Reason, int Desired, int Running, int FailedTasks);

/// <summary>Health of one instance as the platform sees it.</summary>
public enum InstanceHealth
{
    Starting,
    Healthy,
    Unhealthy,
    Dead,
}

/// <summary>One running (or dead) instance of a revision.</summary>
public sealed record InstanceStatus
{
    public required string Id { get; init; }
    public int Revision { get; init; }
    public InstanceHealth Health { get; init; }
    public string? Address { get; init; }
    public int Restarts { get; init; }
    public string? LastError { get; init; }
    public DateTimeOffset StartedAt { get; init; }
}

/// <summary>The instances of one revision of a service.</summary>
public sealed record InstanceSet
{
    public required string Service { get; init; }
    public int Revision { get; init; }
    public int DesiredCount { get; init; }
    public IReadOnlyList<InstanceStatus> Instances { get; set; } = [];

    public int HealthyCount => Instances.Count(i => i.Health == InstanceHealth.Healthy);
}

/// <summary>Creates, scales and removes the instances of revisions.</summary>
public interface ICompute
{
    /// <summary>Sets how many instances of the revision should run; starts or stops instances without waiting for health. Idempotent.</summary>
    Task ScaleAsync(ServiceSpec spec, Revision revision, int count, CancellationToken cancellationToken);

    /// <summary>The instances of every revision of the service that has any, or a desired count above 0.</summary>
    Task<IReadOnlyList<InstanceSet>> ListAsync(string service, CancellationToken cancellationToken);

    /// <summary>Removes what the platform keeps of a revision retention let go (e.g. deregisters its task definition). Idempotent.</summary>
    Task RemoveRevisionAsync(ServiceSpec spec, Revision revision, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>A listener of a service's load balancer.</summary>
public enum Listener
{
    Production,
    Test,
}

/// <summary>Routes a listener's traffic between revisions.</summary>
public interface ITraffic
{
    /// <summary>Sets the percentage of a listener's traffic each revision gets, in one change. Revisions left out get 0; weights add up to 100.</summary>
    Task SetWeightsAsync(string service, Listener listener, IReadOnlyDictionary<int, int> weightByRevision, CancellationToken cancellationToken);

    /// <summary>Reads the weights back from the load balancer.</summary>
    Task<IReadOnlyDictionary<int, int>> GetWeightsAsync(string service, Listener listener, CancellationToken cancellationToken);

    /// <summary>
    /// Reads the production weights of many services in one read of the load balancer, for the observation pass over every
    /// service; the services it has no answer for are left out, and a platform that cannot answer at once returns an empty
    /// map (then each service is read alone).
    /// </summary>
    Task<IReadOnlyDictionary<string, IReadOnlyDictionary<int, int>>> GetProductionWeightsAsync(IReadOnlyCollection<string> services, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<string, IReadOnlyDictionary<int, int>>>(new Dictionary<string, IReadOnlyDictionary<int, int>>());
}

/// <summary>Request figures of one revision over a window of time.</summary>
public sealed record RevisionMetrics
{
    public int Revision { get; init; }
    public TimeSpan Window { get; init; }
    public long Requests { get; init; }
    public long Errors { get; init; }
    public double? LatencyP50Ms { get; init; }
    public double? LatencyP90Ms { get; init; }

    /// <summary>Null where the platform does not give it (ECS: CloudWatch is asked for p50, p90 and p99).</summary>
    public double? LatencyP95Ms { get; init; }
    public double? LatencyP99Ms { get; init; }

    /// <summary>
    /// Every request's latency in the window (ms), where the platform gives per-request samples (the local platform does;
    /// ECS gives only percentiles): the latency comparison with the stable revision ranks them (Mann–Whitney U).
    /// </summary>
    public IReadOnlyList<int>? LatencySamplesMs { get; init; }

    /// <summary>When the revision served its first error in the window, if it did.</summary>
    public DateTimeOffset? FirstErrorAt { get; init; }

    public double ErrorRate => Requests == 0 ? 0 : (double)Errors / Requests;
}

/// <summary>Per-revision request figures and alarm states.</summary>
public interface ISignals
{
    /// <summary>Figures of the revision's production traffic over the window ending now, counting only requests after since when given.</summary>
    Task<RevisionMetrics> GetMetricsAsync(string service, int revision, TimeSpan window, DateTimeOffset? since, CancellationToken cancellationToken);

    /// <summary>
    /// True when <see cref="WaitForRequestsAsync"/> tells of each request as it is recorded (local: HAProxy's per-request
    /// log), so the engine judges a revision when its requests arrive rather than only every interval. Platforms whose
    /// figures come in periods (ECS: CloudWatch) leave it false.
    /// </summary>
    bool ReportsArrivals => false;

    /// <summary>Completes when the next request of the revision's production traffic is recorded; never, where arrivals are not reported.</summary>
    Task WaitForRequestsAsync(string service, int revision, CancellationToken cancellationToken) =>
        Task.Delay(Timeout.Infinite, cancellationToken);

    /// <summary>States of the alarms the spec names (empty when it names none or the platform has none).</summary>
    Task<IReadOnlyList<AlarmStatus>> GetAlarmsAsync(ServiceSpec spec, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<AlarmStatus>>([]);

    /// <summary>
    /// The alarms' states read now, not as old as a platform's pacing of watching reads allows: asked before production
    /// traffic moves up to a new revision and before a deployment succeeds.
    /// </summary>
    Task<IReadOnlyList<AlarmStatus>> GetAlarmsBeforeActingAsync(ServiceSpec spec, CancellationToken cancellationToken) =>
        GetAlarmsAsync(spec, cancellationToken);
}

/// <summary>The state of one alarm: OK, ALARM or INSUFFICIENT_DATA, with the platform's reason.</summary>
public sealed record AlarmStatus(string Name, string State, string? Reason)
{
    public bool InAlarm => State == "ALARM";
}
