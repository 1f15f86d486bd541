using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Platform.Local;

public sealed partial class LocalPlatform
{
    /// <summary>Starting instances are probed at least this often until their first passing check, so a fast starter is seen at once.</summary>
    private static readonly TimeSpan StartingProbeInterval = TimeSpan.FromMilliseconds(200);

    public async Task ScaleAsync(ServiceSpec spec, Revision revision, int count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(revision);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, HaproxyConfig.SlotsPerBackend);
        ThrowIfNotRunning();

        List<InstanceState> surplus;
        await _opGate.WaitAsync(cancellationToken);
        try
        {
            await EnsureServiceCoreAsync(spec, cancellationToken);
            var launch = ImageResolver.Resolve(spec, revision, _options.BuiltinImages);
            ServiceState service;
            RevisionState state;
            int missing;
            lock (_sync)
            {
                service = FindService(spec.Service)!;
                if (!service.Revisions.TryGetValue(revision.Number, out state!))
                {
                    state = new RevisionState { Number = revision.Number, Launch = launch };
                    service.Revisions[revision.Number] = state;
                }

                state.Launch = launch;
                state.DesiredCount = count;
                var live = state.Instances.Where(i => !i.Stopping).OrderBy(i => i.Sequence).ToList();
                surplus = [.. live.Skip(count).Reverse()];
                foreach (var instance in surplus)
                {
                    instance.Stopping = true;
                }

                missing = Math.Max(0, count - live.Count);
            }

            var starts = Enumerable.Range(0, missing).Select(_ => StartNewInstanceAsync(service, state, launch, cancellationToken)).ToList();
            try
            {
                await Task.WhenAll(starts);
            }
            finally
            {
                Save();
            }

            // Drain first: the surplus leaves HAProxy before it is signalled.
            await SyncAsync(cancellationToken);
        }
        finally
        {
            _opGate.Release();
        }

        if (surplus.Count > 0)
        {
            await Task.WhenAll(surplus.Select(StopInstanceAsync));
            lock (_sync)
            {
                foreach (var service in _services.Where(s => s.Name == spec.Service))
                {
                    if (service.Revisions.TryGetValue(revision.Number, out var state))
                    {
                        state.Instances.RemoveAll(surplus.Contains);
                        if (state.DesiredCount == 0 && state.Instances.Count == 0)
                        {
                            service.Revisions.Remove(revision.Number);
                        }
                    }
                }
            }

            Save();
            await SyncAsync(cancellationToken);
        }
        else if (count == 0)
        {
            lock (_sync)
            {
                var service = FindService(spec.Service);
                if (service is not null && service.Revisions.TryGetValue(revision.Number, out var state) && state.Instances.Count == 0)
                {
                    service.Revisions.Remove(revision.Number);
                }
            }

            Save();
        }
    }

    public Task<IReadOnlyList<InstanceSet>> ListAsync(string service, CancellationToken cancellationToken)
    {
        ThrowIfNotRunning();
        lock (_sync)
        {
            var state = FindService(service);
            IReadOnlyList<InstanceSet> sets = state is null
                ? []
                : [.. state.Revisions.Values
                    .Where(r => r.DesiredCount > 0 || r.Instances.Any(i => !i.Stopping))
                    .OrderBy(r => r.Number)
                    .Select(r => new InstanceSet
                    {
                        Service = state.Name,
                        Revision = r.Number,
                        DesiredCount = r.DesiredCount,
                        Instances = [.. r.Instances.Where(i => !i.Stopping).OrderBy(i => i.Sequence).Select(ToStatus)],
                    })];
            return Task.FromResult(sets);
        }
    }

    private static InstanceStatus ToStatus(InstanceState instance) => new()
    {
        Id = instance.Id,
        Revision = instance.Revision,
        Health = instance.Health,
        Address = instance.Port > 0 ? string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{instance.Port}") : null,
        Restarts = instance.Restarts,
        LastError = instance.LastError,
        StartedAt = instance.StartedAt,
    };

    private ServiceState? FindService(string name) => _services.Find(s => s.Name == name);

    private async Task StartNewInstanceAsync(ServiceState service, RevisionState revision, LaunchSpec launch, CancellationToken cancellationToken)
    {
        InstanceState instance;
        lock (_sync)
        {
            var slot = AllocateSlot(service);
            var id = NewInstanceId(service, revision.Number);
            instance = new InstanceState
            {
                Id = id,
                Service = service.Name,
                Revision = revision.Number,
                Slot = slot,
                Sequence = _nextSequence++,
                LogPath = InstanceLogPath(service.Name, id),
                StartedAt = _time.GetUtcNow(),
            };
            revision.Instances.Add(instance);
        }

        try
        {
            var port = ReservePort(instance);
            var launched = await LaunchInstanceAsync(instance, launch, port, cancellationToken);
            lock (_sync)
            {
                Attach(instance, launched, port);
            }
        }
        catch
        {
            lock (_sync)
            {
                revision.Instances.Remove(instance);
            }

            throw;
        }
    }

    private void Attach(InstanceState instance, LaunchedProcess launched, int port)
    {
        instance.Pid = launched.Pid;
        instance.StartTicks = launched.StartTicks;
        instance.Process = launched.Process;
        instance.Port = port;
        instance.Health = InstanceHealth.Starting;
        instance.Passes = 0;
        instance.Failures = 0;
        instance.RestartAt = null;
        instance.StartedAt = _time.GetUtcNow();
        instance.NextCheckAt = instance.StartedAt;
    }

    private Task<LaunchedProcess> LaunchInstanceAsync(InstanceState instance, LaunchSpec launch, int port, CancellationToken cancellationToken)
    {
        var environment = new Dictionary<string, string>(launch.Env, StringComparer.Ordinal)
        {
            ["PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["BACKSTAY_SERVICE"] = instance.Service,
            ["BACKSTAY_REVISION"] = instance.Revision.ToString(CultureInfo.InvariantCulture),
            ["BACKSTAY_INSTANCE"] = instance.Id,
        };
        return ProcessLauncher.StartAsync(launch.FileName, launch.Args, environment, launch.WorkingDirectory, instance.LogPath, _time, cancellationToken);
    }

    private static int AllocateSlot(ServiceState service)
    {
        var used = service.Instances.Select(i => i.Slot).ToHashSet();
        for (var i = 0; i < service.Slots; i++)
        {
            // Round robin, so a slot just freed is not reused while HAProxy may still log its last requests.
            var slot = ((service.NextSlot - 1 + i) % service.Slots) + 1;
            if (!used.Contains(slot))
            {
                service.NextSlot = (slot % service.Slots) + 1;
                return slot;
            }
        }

        throw new PlatformException(
            $"Service '{service.Name}' already has {service.Slots} instances, all its load-balancer slots (three times platform.local.instances, plus two); scale a revision down first, or raise instances.");
    }

    private static string NewInstanceId(ServiceState service, int revision)
    {
        while (true)
        {
            // Instance ids only need to be distinct, not secret.
            var suffix = Random.Shared.Next(0x10000).ToString("x4", CultureInfo.InvariantCulture);
            var id = string.Create(CultureInfo.InvariantCulture, $"{service.Name}-r{revision}-{suffix}");
            if (!service.Instances.Any(i => i.Id == id))
            {
                return id;
            }
        }
    }

    /// <summary>Picks a free loopback port and records it on the instance at once, so concurrent starts never pick the same one.</summary>
    private int ReservePort(InstanceState instance)
    {
        lock (_sync)
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
    }

    /// <summary>Graceful stop: SIGTERM to the instance's process group, SIGKILL after the grace period.</summary>
    private async Task StopInstanceAsync(InstanceState instance)
    {
        int pid;
        long startTicks;
        lock (_sync)
        {
            instance.Stopping = true;
            pid = instance.Pid;
            startTicks = instance.StartTicks;
        }

        if (pid > 0)
        {
            await ProcFs.StopAsync(pid, startTicks, _options.StopGracePeriod, _time);
        }

        lock (_sync)
        {
            instance.Process?.Dispose();
            instance.Process = null;
            instance.Pid = 0;
        }
    }

    /// <summary>The supervision loop: instance liveness and restarts, health checks, HAProxy liveness. One failing pass is reported and the next one runs.</summary>
    private async Task SuperviseAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var timer = new PeriodicTimer(TickInterval, _time);
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await SuperviseOnceAsync(cancellationToken);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }
                catch (Exception ex)
                {
                    // One bad pass is reported and the loop goes on.
                    Raise(new PlatformEvent("", null, null, PlatformEventTypes.LoopError, $"Supervision pass failed: {ex.Message}"));
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // The loop's own death is reported, not thrown into nowhere.
            Raise(new PlatformEvent("", null, null, PlatformEventTypes.LoopStopped,
                $"The local platform's supervision loop stopped: {ex}. Instances are no longer restarted or health-checked; restart Backstay."));
        }
    }

    private async Task SuperviseOnceAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var died = new List<(InstanceState Instance, int Pid, System.Diagnostics.Process? Process)>();
        var restarts = new List<InstanceState>();
        var checks = new List<(InstanceState Instance, int Port, HealthCheckSpec HealthCheck)>();
        lock (_sync)
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
                        instance.Health = InstanceHealth.Dead;
                        instance.Passes = 0;
                        instance.Failures = 0;
                        instance.CheckInFlight = false;
                        instance.CrashesSinceHealthy++;
                        instance.RestartAt = now + RestartBackoff.After(instance.CrashesSinceHealthy);
                        instance.Process = null;
                        instance.Pid = 0;
                    }
                    else if (instance.Pid == 0 && instance.RestartAt is { } at && at <= now)
                    {
                        instance.RestartAt = null;
                        restarts.Add(instance);
                    }
                    else if (instance.Pid > 0 && !instance.CheckInFlight && instance.NextCheckAt <= now)
                    {
                        instance.CheckInFlight = true;
                        checks.Add((instance, instance.Port, service.HealthCheck));
                    }
                }
            }
        }

        foreach (var (instance, pid, process) in died)
        {
            var exit = await ExitDescriptionAsync(pid, process);
            process?.Dispose();
            TimeSpan delay;
            lock (_sync)
            {
                instance.LastError = exit;
                delay = instance.RestartAt is { } at ? at - now : TimeSpan.Zero;
            }

            Raise(new PlatformEvent(instance.Service, instance.Revision, instance.Id, PlatformEventTypes.InstanceDied,
                string.Create(CultureInfo.InvariantCulture, $"{instance.Id} {exit}; restarting in {delay.TotalSeconds:0.0} s. Last lines of {instance.LogPath}:\n{ProcFs.Tail(instance.LogPath)}")));
        }

        foreach (var (instance, port, healthCheck) in checks)
        {
            var check = CheckHealthAsync(instance, port, healthCheck, cancellationToken);
            _background.Track(check);
        }

        foreach (var instance in restarts)
        {
            await RestartInstanceAsync(instance, cancellationToken);
        }

        if (died.Count > 0 || restarts.Count > 0)
        {
            Save();
            await SyncSafeAsync(cancellationToken);
        }

        await SuperviseHaproxyAsync(cancellationToken);
    }

    /// <summary>How the process ended; a child of this process reports its exit code (which /proc may show gone a moment before .NET has it).</summary>
    private async Task<string> ExitDescriptionAsync(int pid, System.Diagnostics.Process? process)
    {
        if (process is not null)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1), _time);
                await process.WaitForExitAsync(timeout.Token);
                var code = process.ExitCode;
                if (code > 128)
                {
                    var signal = code - 128;
                    var name = signal switch { 9 => " (SIGKILL)", 15 => " (SIGTERM)", 6 => " (SIGABRT)", 11 => " (SIGSEGV)", 2 => " (SIGINT)", _ => "" };
                    return string.Create(CultureInfo.InvariantCulture, $"(pid {pid}) was killed by signal {signal}{name}");
                }

                return string.Create(CultureInfo.InvariantCulture, $"(pid {pid}) exited with code {code}");
            }
            catch (OperationCanceledException)
            {
            }
            catch (InvalidOperationException)
            {
            }
        }

        return string.Create(CultureInfo.InvariantCulture, $"(pid {pid}) is gone (its exit code is unknown: an earlier Backstay process started it)");
    }

    private async Task RestartInstanceAsync(InstanceState instance, CancellationToken cancellationToken)
    {
        LaunchSpec? launch;
        lock (_sync)
        {
            launch = FindService(instance.Service)?.Revisions.GetValueOrDefault(instance.Revision)?.Launch;
            if (launch is null || instance.Stopping)
            {
                return;
            }
        }

        var port = ReservePort(instance);
        LaunchedProcess launched;
        try
        {
            launched = await LaunchInstanceAsync(instance, launch, port, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Whatever stopped this start, the instance must stay scheduled for another try.
            TimeSpan delay;
            lock (_sync)
            {
                instance.Restarts++;
                instance.CrashesSinceHealthy++;
                delay = RestartBackoff.After(instance.CrashesSinceHealthy);
                instance.RestartAt = _time.GetUtcNow() + delay;
                instance.LastError = ex.Message;
            }

            Raise(new PlatformEvent(instance.Service, instance.Revision, instance.Id, PlatformEventTypes.InstanceStartFailed,
                string.Create(CultureInfo.InvariantCulture, $"Could not restart {instance.Id}: {ex.Message}; trying again in {delay.TotalSeconds:0.0} s.")));
            return;
        }

        bool stopped;
        int restarts;
        lock (_sync)
        {
            stopped = instance.Stopping;
            if (!stopped)
            {
                Attach(instance, launched, port);
                instance.Restarts++;
            }

            restarts = instance.Restarts;
        }

        if (stopped)
        {
            await ProcFs.StopAsync(launched.Pid, launched.StartTicks, _options.StopGracePeriod, _time);
            launched.Process.Dispose();
            return;
        }

        Raise(new PlatformEvent(instance.Service, instance.Revision, instance.Id, PlatformEventTypes.InstanceRestarted,
            string.Create(CultureInfo.InvariantCulture, $"Restarted {instance.Id} as pid {launched.Pid} on port {port} (restart {restarts}).")));
    }

    private async Task CheckHealthAsync(InstanceState instance, int port, HealthCheckSpec healthCheck, CancellationToken cancellationToken)
    {
        bool passed;
        string? error = null;
        try
        {
            using var timeout = new CancellationTokenSource(healthCheck.Timeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
            var uri = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}{healthCheck.Path}"));
            using var response = await _healthClient.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var status = (int)response.StatusCode;
            passed = status is >= 200 and < 400;
            if (!passed)
            {
                error = string.Create(CultureInfo.InvariantCulture, $"GET {healthCheck.Path} answered {status}");
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            passed = false;
            error = string.Create(CultureInfo.InvariantCulture, $"GET {healthCheck.Path} got no answer within {healthCheck.Timeout.TotalMilliseconds:0} ms");
        }
        catch (HttpRequestException ex)
        {
            passed = false;
            error = $"GET {healthCheck.Path} failed: {ex.Message}";
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (Exception ex)
        {
            // An unexpected failure counts as a failed check; the instance must not stay un-checked.
            passed = false;
            error = $"GET {healthCheck.Path} failed: {ex.Message}";
        }

        PlatformEvent? change = null;
        lock (_sync)
        {
            instance.CheckInFlight = false;
            if (instance.Port != port || instance.Pid == 0 || instance.Stopping)
            {
                return;
            }

            var now = _time.GetUtcNow();
            if (passed)
            {
                instance.Passes++;
                instance.Failures = 0;
                if (instance.Health != InstanceHealth.Healthy && instance.Passes >= healthCheck.HealthyThreshold)
                {
                    instance.Health = InstanceHealth.Healthy;
                    instance.CrashesSinceHealthy = 0;
                    instance.LastError = null;
                    change = new PlatformEvent(instance.Service, instance.Revision, instance.Id, PlatformEventTypes.InstanceHealthy,
                        string.Create(CultureInfo.InvariantCulture, $"{instance.Id} is healthy on port {port}."));
                }
            }
            else
            {
                instance.Failures++;
                instance.Passes = 0;
                instance.LastError = error;
                if (instance.Health == InstanceHealth.Healthy && instance.Failures >= healthCheck.UnhealthyThreshold)
                {
                    instance.Health = InstanceHealth.Unhealthy;
                    change = new PlatformEvent(instance.Service, instance.Revision, instance.Id, PlatformEventTypes.InstanceUnhealthy,
                        $"{instance.Id} is unhealthy: {error}.");
                }
            }

            var interval = instance.Health == InstanceHealth.Starting && instance.Passes == 0 && healthCheck.Interval > StartingProbeInterval
                ? StartingProbeInterval
                : healthCheck.Interval;
            instance.NextCheckAt = now + interval;
        }

        if (change is not null)
        {
            Raise(change);
            await SyncSafeAsync(cancellationToken);
        }
    }
}
