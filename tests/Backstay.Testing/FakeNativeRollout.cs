using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Testing;

/// <summary>How a platform-run rollout of one revision ends on the fake, and after how long.</summary>
public sealed record NativeRolloutScript(NativeRolloutState Outcome, TimeSpan After, string? Reason = null)
{
    public static readonly NativeRolloutScript Completes = new(NativeRolloutState.Completed, TimeSpan.FromSeconds(2));

    public static NativeRolloutScript Fails(string reason, TimeSpan? after = null) => new(NativeRolloutState.Failed, after ?? TimeSpan.FromSeconds(2), reason);
}

/// <summary>
/// A rolling update the fake platform runs itself, like ECS's deployment controller: it starts the revision's
/// instances at once, and at the scripted time either completes (the revision serves alone with all traffic) or
/// fails with a reason, as a circuit breaker would, leaving what ran before serving. Starting the same revision
/// again while its rollout runs returns that rollout.
/// </summary>
public sealed class FakeNativeRollout(FakePlatform platform, TimeProvider time) : INativeRollout
{
    private readonly Lock _gate = new();
    private readonly Dictionary<int, NativeRolloutScript> _scripts = [];
    private readonly Dictionary<string, Rollout> _rollouts = new(StringComparer.Ordinal);
    private readonly List<(string Id, int Revision)> _starts = [];
    private int _ids;

    /// <summary>Rollouts started, in order, with the revision each rolled out.</summary>
    public IReadOnlyList<(string Id, int Revision)> Starts
    {
        get
        {
            lock (_gate)
            {
                return [.. _starts];
            }
        }
    }

    /// <summary>StartAsync calls, also those that returned a rollout already running.</summary>
    public int StartCalls { get; private set; }

    public void Script(int revision, NativeRolloutScript script)
    {
        lock (_gate)
        {
            _scripts[revision] = script;
        }
    }

    public async Task<NativeRolloutStatus> StartAsync(ServiceSpec spec, Revision revision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(revision);
        cancellationToken.ThrowIfCancellationRequested();
        Rollout rollout;
        lock (_gate)
        {
            StartCalls++;
            var running = _rollouts.Values.FirstOrDefault(r => r.Revision.Number == revision.Number && r.Settled is null);
            if (running is not null)
            {
                return Status(running, time.GetUtcNow());
            }

            rollout = new Rollout($"rollout-{++_ids}", spec, revision, time.GetUtcNow(),
                _scripts.GetValueOrDefault(revision.Number, NativeRolloutScript.Completes));
            _rollouts[rollout.Id] = rollout;
            _starts.Add((rollout.Id, revision.Number));
        }

        await platform.Compute.ScaleAsync(spec, revision, spec.Platform.Instances, cancellationToken);
        return Status(rollout, time.GetUtcNow());
    }

    public async Task<NativeRolloutStatus> GetAsync(ServiceSpec spec, string rolloutId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Rollout rollout;
        bool settleNow;
        var now = time.GetUtcNow();
        lock (_gate)
        {
            rollout = _rollouts.TryGetValue(rolloutId, out var known) ? known : throw new PlatformException($"no rollout {rolloutId}");
            settleNow = rollout.Settled is null && now - rollout.StartedAt >= rollout.Script.After;
            if (settleNow)
            {
                rollout.Settled = rollout.Script.Outcome;
            }
        }

        if (settleNow && rollout.Settled == NativeRolloutState.Completed)
        {
            // What ECS does once a rollout completes: the new revision serves alone, the old tasks are stopped.
            await platform.Traffic.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [rollout.Revision.Number] = 100 }, cancellationToken);
            foreach (var other in (await platform.Compute.ListAsync(spec.Service, cancellationToken)).Where(s => s.Revision != rollout.Revision.Number && s.DesiredCount > 0))
            {
                await platform.Compute.ScaleAsync(spec, rollout.Revision with { Number = other.Revision }, 0, cancellationToken);
            }
        }
        else if (settleNow)
        {
            // A tripped circuit breaker stops launching the new revision's tasks.
            await platform.Compute.ScaleAsync(spec, rollout.Revision, 0, cancellationToken);
        }

        return Status(rollout, now);
    }

    private static NativeRolloutStatus Status(Rollout rollout, DateTimeOffset now)
    {
        var desired = rollout.Spec.Platform.Instances;
        return rollout.Settled switch
        {
            NativeRolloutState.Completed => new(rollout.Id, NativeRolloutState.Completed, null, desired, desired, 0),
            { } failed => new(rollout.Id, failed, rollout.Script.Reason, desired, 0, desired),
            null => new(rollout.Id, NativeRolloutState.InProgress, null, desired,
                (int)Math.Min(desired - 1, desired * ((now - rollout.StartedAt) / rollout.Script.After)), 0),
        };
    }

    private sealed class Rollout(string id, ServiceSpec spec, Revision revision, DateTimeOffset startedAt, NativeRolloutScript script)
    {
        public string Id { get; } = id;
        public ServiceSpec Spec { get; } = spec;
        public Revision Revision { get; } = revision;
        public DateTimeOffset StartedAt { get; } = startedAt;
        public NativeRolloutScript Script { get; } = script;
        public NativeRolloutState? Settled { get; set; }
    }
}
