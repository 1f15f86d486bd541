// The instances: processes started, adopted after a restart of Backstay, health-checked, restarted with back-off when
// they die (crash counting), and stopped. It owns the instance model (InstanceModel.cs) and the one lock guarding it.
// That lock is a leaf: nothing is awaited and no other collaborator's lock or gate is taken while it is held, so a
// caller may hold HaproxyRuntime's gate or PlatformStateFile's lock when it calls in. ServiceRoutes is read lock-free.
// At about 480 lines it is past the ~400 this project aims for: every part here reads or changes the instance model
// under that one lock, and splitting the file would hand the lock to a second class; the model's own state changes
// and its platform.json form are already apart, in InstanceModel.cs.
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Backstay.Platform.Local;

/// <summary>Starts, watches, restarts and stops the instance processes of every service.</summary>
/// <param name="servingChanged">Called, with no lock held, when a health check changed whether an instance may get traffic.</param>
internal sealed class InstanceSupervisor(
    ServiceRoutes routes,
    string logDirectory,
    TimeSpan stopGracePeriod,
    TimeProvider time,
    Action<PlatformEvent> raise,
    Func<CancellationToken, Task> servingChanged,
    BackgroundTasks background) : IDisposable
{
    private readonly Lock _lock = new();
    private readonly List<ServiceInstances> _services = [];
    private readonly HealthProbe _probe = new(time);
    private long _nextSequence = 1;

    /// <summary>Rebuilds the model from platform.json: live instances are adopted, dead ones are due for a restart now.</summary>
    public List<PlatformEvent> Restore(IEnumerable<PersistedService> saved)
    {
        var events = new List<PlatformEvent>();
        var now = time.GetUtcNow();
        lock (_lock)
        {
            foreach (var savedService in saved)
            {
                var service = ServiceInstances.FromPersisted(savedService, logDirectory, now, events);
                _nextSequence = service.Instances.Select(i => i.Sequence + 1).Append(_nextSequence).Max();
                _services.Add(service);
            }
        }

        return events;
    }

    /// <summary>An adopted instance whose slot the adopted HAProxy has ready was healthy a moment ago: it keeps serving while the checks confirm it.</summary>
    /// <param name="ready">Per backend, the port of every server slot HAProxy has ready.</param>
    public void AdoptServing(IReadOnlyDictionary<string, IReadOnlyDictionary<int, int>> ready)
    {
        lock (_lock)
        {
            foreach (var service in _services)
            {
                if (!ready.TryGetValue(HaproxyConfig.Backend(service.Name, Listener.Production), out var ports))
                {
                    continue;
                }

                foreach (var instance in service.Instances.Where(i => i.Pid > 0))
                {
                    if (ports.TryGetValue(instance.Slot, out var port) && port == instance.Port)
                    {
                        instance.Health = InstanceHealth.Healthy;
                        instance.Passes = HealthCheckOf(service.Name).HealthyThreshold;
                    }
                }
            }
        }
    }

    /// <summary>The services' platform.json entries with their revisions and next slot added.</summary>
    public IReadOnlyList<PersistedService> Persist(IEnumerable<PersistedService> services)
    {
        lock (_lock)
        {
            return [.. services.Select(s => Find(s.Name)?.ToPersisted(s) ?? s)];
        }
    }

    /// <summary>
    /// Sets the revision's desired count, starts the missing instances (without waiting for health) and marks the
    /// surplus, newest first, as stopping; returns the surplus for <see cref="RetireAsync"/> once traffic has left it.
    /// </summary>
    public async Task<IReadOnlyList<InstanceState>> ScaleAsync(string serviceName, int revisionNumber, LaunchSpec launch, int count, CancellationToken cancellationToken)
    {
        ServiceInstances service;
        RevisionState revision;
        List<InstanceState> surplus;
        int missing;
        lock (_lock)
        {
            service = Find(serviceName) ?? Add(serviceName);
            if (!service.Revisions.TryGetValue(revisionNumber, out revision!))
            {
                revision = new RevisionState { Number = revisionNumber, Launch = launch };
                service.Revisions[revisionNumber] = revision;
            }

            revision.Launch = launch;
            revision.DesiredCount = count;
            var live = revision.Instances.Where(i => !i.Stopping).OrderBy(i => i.Sequence).ToList();
            surplus = [.. live.Skip(count).Reverse()];
            foreach (var instance in surplus)
            {
                instance.Stopping = true;
            }

            missing = Math.Max(0, count - live.Count);
        }

        await Task.WhenAll(Enumerable.Range(0, missing).Select(_ => StartNewAsync(service, revision, launch, cancellationToken)).ToList());
        return surplus;
    }

    /// <summary>Stops the surplus of a scale-down and forgets it, and the revision too when nothing of it is left or wanted.</summary>
    public async Task RetireAsync(string serviceName, int revisionNumber, IReadOnlyList<InstanceState> surplus)
    {
        await Task.WhenAll(surplus.Select(StopAsync));
        lock (_lock)
        {
            if (Find(serviceName) is { } service && service.Revisions.TryGetValue(revisionNumber, out var revision))
            {
                revision.Instances.RemoveAll(surplus.Contains);
                if (revision.DesiredCount == 0 && revision.Instances.Count == 0)
                {
                    service.Revisions.Remove(revisionNumber);
                }
            }
        }
    }

    /// <summary>Forgets a revision scaled to 0 that has no instance left.</summary>
    public void ForgetIfEmpty(string serviceName, int revisionNumber)
    {
        lock (_lock)
        {
            if (Find(serviceName) is { } service && service.Revisions.TryGetValue(revisionNumber, out var revision) && revision.Instances.Count == 0)
            {
                service.Revisions.Remove(revisionNumber);
            }
        }
    }

    public IReadOnlyList<InstanceSet> List(string serviceName)
    {
        lock (_lock)
        {
            return Find(serviceName)?.ToSets() ?? [];
        }
    }

    /// <summary>Every instance of every service (stopping ones too: HAProxy may still log their last requests) with its slot and port.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<Placement>> Placements()
    {
        lock (_lock)
        {
            return _services.ToDictionary(
                s => s.Name,
                s => (IReadOnlyList<Placement>)[.. s.Instances.Select(i => new Placement(i.Slot, i.Port, i.Revision, i.Sequence, i.Serving))]);
        }
    }

    /// <summary>The revision of each slot that holds an instance not being stopped.</summary>
    public Dictionary<int, int> RevisionBySlot(string serviceName)
    {
        lock (_lock)
        {
            return Find(serviceName)?.Instances.Where(i => !i.Stopping).ToDictionary(i => i.Slot, i => i.Revision) ?? [];
        }
    }

    public IReadOnlyList<int> Pids()
    {
        lock (_lock)
        {
            return [.. _services.SelectMany(s => s.Instances).Select(i => i.Pid).Where(p => p > 0)];
        }
    }

    /// <summary>
    /// One supervision pass: reports dead instances and schedules their restart with back-off, restarts the ones due, and
    /// starts the health checks due. Returns whether an instance died or was restarted (HAProxy's servers must follow).
    /// </summary>
    public async Task<bool> SuperviseOnceAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var died = new List<(InstanceState Instance, int Pid, Process? Process)>();
        var restarts = new List<InstanceState>();
        var checks = new List<(InstanceState Instance, int Port, HealthCheckSpec HealthCheck)>();
        lock (_lock)
        {
            foreach (var service in _services)
            {
                foreach (var instance in service.Instances)
                {
                    if (instance.Stopping)
                    {
                        continue;
                    }

                    if (instance.Pid > 0 && !ProcFs.IsRunning(instance.Process, instance.Pid, instance.StartTicks))
                    {
                        died.Add((instance, instance.Pid, instance.Process));
                        instance.MarkDead(now);
                    }
                    else if (instance.Pid == 0 && instance.RestartAt is { } at && at <= now)
                    {
                        instance.RestartAt = null;
                        restarts.Add(instance);
                    }
                    else if (instance.Pid > 0 && !instance.CheckInFlight && instance.NextCheckAt <= now)
                    {
                        instance.CheckInFlight = true;
                        checks.Add((instance, instance.Port, HealthCheckOf(service.Name)));
                    }
                }
            }
        }

        foreach (var (instance, pid, process) in died)
        {
            var exit = await ProcFs.DescribeExitAsync(pid, process, time);
            process?.Dispose();
            TimeSpan delay;
            lock (_lock)
            {
                instance.LastError = exit;
                delay = instance.RestartAt is { } at ? at - now : TimeSpan.Zero;
            }

            raise(new PlatformEvent(instance.Service, instance.Revision, instance.Id, PlatformEventTypes.InstanceDied,
                string.Create(CultureInfo.InvariantCulture, $"{instance.Id} {exit}; restarting in {delay.TotalSeconds:0.0} s. Last lines of {instance.LogPath}:\n{ProcFs.Tail(instance.LogPath)}")));
        }

        foreach (var (instance, port, healthCheck) in checks)
        {
            background.Track(CheckHealthAsync(instance, port, healthCheck, cancellationToken));
        }

        foreach (var instance in restarts)
        {
            await RestartAsync(instance, cancellationToken);
        }

        return died.Count > 0 || restarts.Count > 0;
    }

    /// <summary>Stops every instance (for dispose) and forgets every revision.</summary>
    public async Task StopAllAsync()
    {
        List<InstanceState> instances;
        lock (_lock)
        {
            instances = [.. _services.SelectMany(s => s.Instances)];
            foreach (var instance in instances)
            {
                instance.Stopping = true;
            }
        }

        await Task.WhenAll(instances.Select(StopAsync));
        lock (_lock)
        {
            foreach (var service in _services)
            {
                service.Revisions.Clear();
            }
        }
    }

    /// <summary>Lets go of the handles of the processes this Backstay started, which keep running (detach).</summary>
    public void ReleaseHandles()
    {
        lock (_lock)
        {
            foreach (var instance in _services.SelectMany(s => s.Instances))
            {
                instance.Process?.Dispose();
                instance.Process = null;
            }
        }
    }

    public void Dispose() => _probe.Dispose();

    private ServiceInstances? Find(string name) => _services.Find(s => s.Name == name);

    private ServiceInstances Add(string name)
    {
        var service = new ServiceInstances { Name = name };
        _services.Add(service);
        return service;
    }

    private HealthCheckSpec HealthCheckOf(string service) => routes.Find(service)?.HealthCheck ?? new HealthCheckSpec();

    private async Task StartNewAsync(ServiceInstances service, RevisionState revision, LaunchSpec launch, CancellationToken cancellationToken)
    {
        InstanceState instance;
        int port;
        lock (_lock)
        {
            var slot = service.AllocateSlot(routes.Find(service.Name)?.Slots ?? HaproxyConfig.SlotsPerBackend);
            var id = service.NewInstanceId(revision.Number);
            instance = new InstanceState
            {
                Id = id,
                Service = service.Name,
                Revision = revision.Number,
                Slot = slot,
                Sequence = _nextSequence++,
                LogPath = InstanceState.LogPathIn(logDirectory, service.Name, id),
                StartedAt = time.GetUtcNow(),
            };
            port = ReservePort(instance);
            revision.Instances.Add(instance);
        }

        try
        {
            var launched = await LaunchAsync(instance, launch, port, cancellationToken);
            lock (_lock)
            {
                instance.Attach(launched, port, time.GetUtcNow());
            }
        }
        catch
        {
            lock (_lock)
            {
                revision.Instances.Remove(instance);
            }

            throw;
        }
    }

    private Task<LaunchedProcess> LaunchAsync(InstanceState instance, LaunchSpec launch, int port, CancellationToken cancellationToken)
    {
        var environment = new Dictionary<string, string>(launch.Env, StringComparer.Ordinal)
        {
            ["PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["BACKSTAY_SERVICE"] = instance.Service,
            ["BACKSTAY_REVISION"] = instance.Revision.ToString(CultureInfo.InvariantCulture),
            ["BACKSTAY_INSTANCE"] = instance.Id,
        };
        return ProcessLauncher.StartAsync(launch.FileName, launch.Args, environment, launch.WorkingDirectory, instance.LogPath, time, cancellationToken);
    }

    /// <summary>Picks a free loopback port and records it on the instance at once, so concurrent starts never pick the same one. Caller holds the lock.</summary>
    private int ReservePort(InstanceState instance)
    {
        var used = _services.SelectMany(s => s.Instances).Where(i => i != instance).Select(i => i.Port).ToHashSet();
        for (var attempt = 0; ; attempt++)
        {
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
            if (!used.Contains(port) || attempt > 20)
            {
                instance.Port = port;
                return port;
            }
        }
    }

    /// <summary>Graceful stop: SIGTERM to the instance's process group, SIGKILL after the grace period.</summary>
    private async Task StopAsync(InstanceState instance)
    {
        int pid;
        long startTicks;
        lock (_lock)
        {
            instance.Stopping = true;
            pid = instance.Pid;
            startTicks = instance.StartTicks;
        }

        if (pid > 0)
        {
            await ProcFs.StopAsync(pid, startTicks, stopGracePeriod, time);
        }

        lock (_lock)
        {
            instance.Process?.Dispose();
            instance.Process = null;
            instance.Pid = 0;
        }
    }

    private async Task RestartAsync(InstanceState instance, CancellationToken cancellationToken)
    {
        LaunchSpec? launch;
        int port;
        lock (_lock)
        {
            launch = Find(instance.Service)?.Revisions.GetValueOrDefault(instance.Revision)?.Launch;
            if (launch is null || instance.Stopping)
            {
                return;
            }

            port = ReservePort(instance);
        }

        LaunchedProcess launched;
        try
        {
            launched = await LaunchAsync(instance, launch, port, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Whatever stopped this start, the instance must stay scheduled for another try.
            TimeSpan delay;
            lock (_lock)
            {
                instance.Restarts++;
                instance.CrashesSinceHealthy++;
                delay = RestartBackoff.After(instance.CrashesSinceHealthy);
                instance.RestartAt = time.GetUtcNow() + delay;
                instance.LastError = ex.Message;
            }

            raise(new PlatformEvent(instance.Service, instance.Revision, instance.Id, PlatformEventTypes.InstanceStartFailed,
                string.Create(CultureInfo.InvariantCulture, $"Could not restart {instance.Id}: {ex.Message}; trying again in {delay.TotalSeconds:0.0} s.")));
            return;
        }

        bool stopped;
        int restarts;
        lock (_lock)
        {
            stopped = instance.Stopping;
            if (!stopped)
            {
                instance.Attach(launched, port, time.GetUtcNow());
                instance.Restarts++;
            }

            restarts = instance.Restarts;
        }

        if (stopped)
        {
            await ProcFs.StopAsync(launched.Pid, launched.StartTicks, stopGracePeriod, time);
            launched.Process.Dispose();
            return;
        }

        raise(new PlatformEvent(instance.Service, instance.Revision, instance.Id, PlatformEventTypes.InstanceRestarted,
            string.Create(CultureInfo.InvariantCulture, $"Restarted {instance.Id} as pid {launched.Pid} on port {port} (restart {restarts}).")));
    }

    /// <summary>Counts passes and failures against the spec's thresholds; a change of health is reported and HAProxy follows it.</summary>
    private async Task CheckHealthAsync(InstanceState instance, int port, HealthCheckSpec healthCheck, CancellationToken cancellationToken)
    {
        if (await _probe.ProbeAsync(port, healthCheck, cancellationToken) is not { } result)
        {
            return;
        }

        var (passed, error) = result;

        PlatformEvent? change;
        lock (_lock)
        {
            instance.CheckInFlight = false;
            if (instance.Port != port || instance.Pid == 0 || instance.Stopping)
            {
                return;
            }

            change = instance.RecordCheck(passed, error, healthCheck, time.GetUtcNow());
        }

        if (change is not null)
        {
            raise(change);
            await servingChanged(cancellationToken);
        }
    }
}
