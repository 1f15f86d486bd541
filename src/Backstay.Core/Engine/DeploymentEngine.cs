using System.Collections.Concurrent;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Releases;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Backstay.Core.Engine;

/// <summary>Settings of the engine loop.</summary>
public sealed record EngineOptions
{
    /// <summary>Who runs deployments: recorded as the lease owner.</summary>
    public string Owner { get; init; } = $"backstay-{Environment.ProcessId}";

    /// <summary>How often the store is asked for deployments to run.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How often the platform state of each service is recorded for drift checks.</summary>
    public TimeSpan ObservationInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a lease on a service lasts unless renewed; another process takes over after it.</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Picks up deployments from the store and runs each under a lease on its service, so one deployment of a
/// service runs at a time and one that was running when a process died is resumed by the next one.
/// </summary>
public sealed class DeploymentEngine(IStateStore store, IPlatform platform, TimeProvider time, EngineOptions options, ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly ConcurrentDictionary<string, Task> _running = new();
    private readonly ReleaseCoordinator _releases = new(store, time);

    /// <summary>Services whose warm window runs here, with the way to make its runner give way to a new deployment.</summary>
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _warm = new();

    /// <summary>How long this engine's decisions take (for /metrics).</summary>
    public EngineTimings Timings { get; } = new();

    /// <summary>Services whose deployments this engine is running now (not counting warm windows it waits out).</summary>
    public IReadOnlyCollection<string> RunningServices => _running.Keys.Where(s => !_warm.ContainsKey(s)).ToList();

    /// <summary>Runs until cancelled; one bad deployment or pass is reported and retried, never fatal.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        // Observing every service takes a while with many of them; its own loop keeps it from delaying new deployments.
        // The deployments go on without it if it dies: drift checks then find no fresh observation and read the platform themselves.
        using var observer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var observing = LoopAsync(options.ObservationInterval, ObserveTimedAsync, ex => EngineLog.ObserverDied(_logger, ex), fatal: false, observer.Token);
        try
        {
            await LoopAsync(options.PollInterval, PassAsync, ex => EngineLog.LoopDied(_logger, ex), fatal: true, cancellationToken);
        }
        finally
        {
            await observer.CancelAsync();
            await Task.WhenAll(_running.Values.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
            await observing;
        }
    }

    /// <summary>
    /// One background loop: a pass, then the interval, until cancelled. A pass that throws is logged and the next one
    /// runs; the loop's own death is reported, and passed on when it is <paramref name="fatal"/>.
    /// </summary>
    private async Task LoopAsync(TimeSpan interval, Func<CancellationToken, Task> pass, Action<Exception> died, bool fatal, CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await pass(cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    EngineLog.PassFailed(_logger, ex);
                }

                await Task.Delay(interval, time, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            died(ex);
            if (fatal)
            {
                throw;
            }
        }
    }

    private async Task ObserveTimedAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        await ObserveAsync(cancellationToken);
        Timings.Observe.Observe(time.GetElapsedTime(started).TotalSeconds);
    }

    /// <summary>
    /// Starts a runner for every active deployment whose service is free and not already running here, and a warm window
    /// runner for every blue/green deployment whose previous revision is still kept warm (<see cref="WarmWindow"/>).
    /// </summary>
    public async Task PassAsync(CancellationToken cancellationToken)
    {
        var active = await store.ListActiveDeploymentsAsync(cancellationToken);
        foreach (var group in active.GroupBy(d => d.Service))
        {
            // A RollingBack deployment is finished by its rollback deployment, which is the one to run.
            var next = group.FirstOrDefault(d => d.Kind == DeploymentKind.Rollback && d.State != DeploymentState.RollingBack)
                ?? group.FirstOrDefault(d => d.State != DeploymentState.RollingBack);
            if (next is not null && _warm.TryGetValue(group.Key, out var waiting))
            {
                // A deployment of a service whose warm window runs here: the window's runner gives way, and the deployment ends the window as it starts.
                try
                {
                    await waiting.CancelAsync();
                }
                catch (ObjectDisposedException)
                {
                    // It ended meanwhile.
                }
            }

            if (next is null || _running.ContainsKey(group.Key))
            {
                continue;
            }

            await TryStartAsync(group.Key, cancellationToken, token => RunOneAsync(next, token));
        }

        foreach (var warm in await store.ListWarmDeploymentsAsync(cancellationToken))
        {
            if (_running.ContainsKey(warm.Service) || active.Any(d => d.Service == warm.Service))
            {
                continue;
            }

            var giveWay = new CancellationTokenSource();
            if (!await TryStartAsync(warm.Service, cancellationToken, token => RunWarmWindowAsync(warm, giveWay, token), giveWay))
            {
                giveWay.Dispose();
            }
        }

        await AdvanceReleasesAsync(cancellationToken);
    }

    /// <summary>
    /// Moves every release in progress on by one pass, under a lease on the release so one engine does it at a time (the
    /// next takes over when it dies). One release that fails a pass is logged; the others still move.
    /// </summary>
    private async Task AdvanceReleasesAsync(CancellationToken cancellationToken)
    {
        foreach (var release in await store.ListActiveReleasesAsync(cancellationToken))
        {
            if (!release.Members.All(m => platform.Serves(m.Platform)))
            {
                continue;
            }

            var key = "release:" + release.Id;
            try
            {
                if (!await store.TryAcquireLeaseAsync(key, options.Owner, options.LeaseTtl, cancellationToken))
                {
                    continue;
                }

                if ((await _releases.AdvanceAsync(release, cancellationToken)).IsFinished)
                {
                    await store.ReleaseLeaseAsync(key, options.Owner, cancellationToken);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                EngineLog.ReleasePassFailed(_logger, ex, release.Id);
            }
        }
    }

    /// <summary>Takes the service's lease and starts the work in the background, registered as the service's runner.</summary>
    /// <param name="giveWay">For a warm window: registered with the service, so that a new deployment of it makes the work give way.</param>
    private async Task<bool> TryStartAsync(string service, CancellationToken cancellationToken, Func<CancellationToken, Task> work, CancellationTokenSource? giveWay = null)
    {
        // Another platform's deployment (a local one in the state directory of an ECS run from the CLI) is not this engine's.
        if (await store.GetServiceAsync(service, cancellationToken) is { } record && !platform.Serves(record.Platform))
        {
            return false;
        }

        if (!await store.TryAcquireLeaseAsync(LeaseKey(service), options.Owner, options.LeaseTtl, cancellationToken))
        {
            return false;
        }

        if (giveWay is not null)
        {
            _warm[service] = giveWay;
        }

        // Registered before it starts, so a runner that finishes at once cannot leave a stale entry behind.
        var start = new Task<Task>(() => work(cancellationToken));
        _running[service] = start.Unwrap();
        start.Start(TaskScheduler.Default);
        return true;
    }

    private Task RunOneAsync(Deployment deployment, CancellationToken cancellationToken) =>
        RunLeasedAsync(deployment, cancellationToken, async (fencedStore, fencedPlatform, token) =>
        {
            var owned = deployment with { Owner = options.Owner };
            await new DeploymentRunner(fencedStore, fencedPlatform, time, _logger, owned, Timings).RunAsync(token);
        });

    /// <summary>Waits out a deployment's warm window under the service's lease, then retires its previous revision; gives way to a new deployment of the service.</summary>
    private async Task RunWarmWindowAsync(Deployment deployment, CancellationTokenSource giveWay, CancellationToken cancellationToken)
    {
        try
        {
            await RunLeasedAsync(deployment, cancellationToken, (fencedStore, fencedPlatform, token) =>
                WarmWindow.WaitThenRetireAsync(fencedStore, fencedPlatform, time, _logger, deployment.Id, token), giveWay.Token);
        }
        finally
        {
            _warm.TryRemove(new KeyValuePair<string, CancellationTokenSource>(deployment.Service, giveWay));
            giveWay.Dispose();
        }
    }

    /// <summary>
    /// Runs work for a service under its lease, renewed while it runs, with every write fenced by it; releases the lease
    /// at the end unless the process stops or the lease was lost.
    /// </summary>
    private async Task RunLeasedAsync(Deployment deployment, CancellationToken cancellationToken, Func<IStateStore, IPlatform, CancellationToken, Task> work, CancellationToken giveWay = default)
    {
        // Cancelled when the process stops, or when the lease is lost: then the new owner runs the deployment (or when the work gives way).
        using var running = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, giveWay);
        var fence = await LeaseFence.TakeAsync(store, LeaseKey(deployment.Service), options.Owner, cancellationToken);
        if (fence is null)
        {
            // Lost between the pass taking it and now (a stall longer than the lease): the new holder runs it.
            EngineLog.LeaseLost(_logger, deployment.Service);
            _running.TryRemove(deployment.Service, out _);
            return;
        }

        EngineLog.LeaseTaken(_logger, deployment.Service, fence.Generation, deployment.Id);
        var renewing = RenewLeaseAsync(deployment.Service, fence.Generation, running);
        var lost = false;
        try
        {
            // Every write the runner makes, to the platform and to the store, first checks that this engine still holds the lease.
            await work(fence.Guard(store), fence.Guard(platform), running.Token);
        }
        catch (LeaseLostException ex)
        {
            lost = true;
            EngineLog.Fenced(_logger, deployment.Id, deployment.Service, ex.Message);
        }
        catch (OperationCanceledException) when (running.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            EngineLog.RunnerCrashed(_logger, ex, deployment.Id);
            await RecordCrashAsync(deployment.Id, ex);
        }
        finally
        {
            await running.CancelAsync();
            lost |= await renewing;
            if (!cancellationToken.IsCancellationRequested && !lost)
            {
                await store.ReleaseLeaseAsync(LeaseKey(deployment.Service), options.Owner, CancellationToken.None);
            }

            _running.TryRemove(deployment.Service, out _);
        }
    }

    private async Task RecordCrashAsync(string deploymentId, Exception ex)
    {
        try
        {
            await store.AppendEventAsync(new DeploymentEvent
            {
                DeploymentId = deploymentId,
                At = time.GetUtcNow(),
                Type = "EngineError",
                Message = $"Backstay hit an error and will retry this deployment: {ex.Message}",
            }, CancellationToken.None);
            await Task.Delay(TimeSpan.FromSeconds(1), time, CancellationToken.None);
        }
        catch (Exception inner) when (inner is not OperationCanceledException)
        {
            EngineLog.PassFailed(_logger, inner);
        }
    }

    /// <summary>Renews the lease every third of its life until the runner ends; true when it was lost (taken by another, or expired and taken back at a new generation).</summary>
    private async Task<bool> RenewLeaseAsync(string service, long generation, CancellationTokenSource running)
    {
        try
        {
            while (true)
            {
                await Task.Delay(options.LeaseTtl / 3, time, running.Token);
                var key = LeaseKey(service);
                try
                {
                    if (!await store.TryAcquireLeaseAsync(key, options.Owner, options.LeaseTtl, running.Token)
                        || await store.GetLeaseGenerationAsync(key, options.Owner, running.Token) != generation)
                    {
                        EngineLog.LeaseLost(_logger, service);
                        await running.CancelAsync();
                        return true;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A store that fails once is tried again at the next third; the fence stops the runner if the lease runs out meanwhile.
                    EngineLog.PassFailed(_logger, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return false;
    }

    /// <summary>Records what the platform shows for each of its services, so `status` and `deploy` can tell drift from any process.</summary>
    private readonly ConcurrentDictionary<string, DateTimeOffset> _observedAt = new(StringComparer.Ordinal);

    /// <summary>
    /// One pass: reads every service that is due from the platform (the production weights of all of them in one read
    /// where the load balancer allows), then writes what it saw in one transaction. A service the platform cannot read is
    /// logged and left for the next pass; the others are still written.
    /// </summary>
    private async Task ObserveAsync(CancellationToken cancellationToken)
    {
        var due = (await store.ListServicesAsync(cancellationToken))
            .Where(s => platform.Serves(s.Platform)
                && !(_observedAt.TryGetValue(s.Name, out var at) && time.GetUtcNow() - at < platform.ObservationInterval(s.Platform)))
            .Select(s => s.Name)
            .ToList();
        if (due.Count == 0)
        {
            return;
        }

        IReadOnlyDictionary<string, IReadOnlyDictionary<int, int>> weights = new Dictionary<string, IReadOnlyDictionary<int, int>>();
        try
        {
            weights = await platform.Traffic.GetProductionWeightsAsync(due, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Each service is then read alone.
            EngineLog.PassFailed(_logger, ex);
        }

        var seen = new List<Observation>();
        foreach (var service in due)
        {
            try
            {
                _observedAt[service] = time.GetUtcNow();
                seen.Add(await Observations.ReadAsync(platform, service, time, weights.GetValueOrDefault(service), cancellationToken));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                EngineLog.PassFailed(_logger, ex);
            }
        }

        await store.SaveObservationsAsync(seen, cancellationToken);
    }

    /// <summary>The lease that makes one engine at a time run a service's deployments.</summary>
    public static string LeaseKey(string service) => $"service:{service}";
}
