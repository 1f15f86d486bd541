using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Platform.Local;

public sealed partial class LocalPlatform
{
    private readonly Dictionary<string, AppliedServer[]> _applied = new(StringComparer.Ordinal);
    private HaproxyProcess? _haproxyProcess;
    private int _haproxyFailures;
    private DateTimeOffset _haproxyRetryAt;

    /// <summary>The last time supervision saw HAProxy running; where a death is first known to be possible.</summary>
    private DateTimeOffset? _haproxySeenAliveAt;

    /// <summary>When HAProxy exited, as its exit watcher saw it (only for a process this Backstay started).</summary>
    private DateTimeOffset? _haproxyExitedAt;

    /// <summary>From when the listeners have served nothing, while HAProxy is dead and not yet restarted, and which pid died.</summary>
    private (DateTimeOffset Since, int Pid)? _haproxyDown;

    private string HaproxyLogPath => Path.Combine(_logDirectory, "haproxy.log");

    public async Task EnsureServiceAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ThrowIfNotRunning();
        await _opGate.WaitAsync(cancellationToken);
        try
        {
            await EnsureServiceCoreAsync(spec, cancellationToken);
        }
        finally
        {
            _opGate.Release();
        }
    }

    /// <summary>
    /// `reset --recreate`: as <see cref="EnsureServiceAsync"/>, then reads back what HAProxy holds instead of trusting what
    /// Backstay last sent, so servers and weights someone changed by hand on the runtime socket are set again rather
    /// than skipped as unchanged.
    /// </summary>
    public async Task RecreateServiceAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        await EnsureServiceAsync(spec, cancellationToken);
        await _haproxyGate.WaitAsync(cancellationToken);
        try
        {
            if (_haproxyProcess is not null)
            {
                await RefreshAppliedLockedAsync(cancellationToken);
                await SyncLockedAsync(cancellationToken);
            }
        }
        finally
        {
            _haproxyGate.Release();
        }
    }

    /// <summary>
    /// Checks, changing nothing, that the service can be set up as its spec says: its listeners parse, are not another
    /// service's, and are free (or already HAProxy's for this service). A deployment asks before it records anything.
    /// </summary>
    public Task CheckServiceAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ThrowIfNotRunning();
        var (production, test) = ReadListeners(spec);
        lock (_sync)
        {
            CheckListenersLocked(spec.Service, production, test);
        }

        return Task.CompletedTask;
    }

    private static (ListenerAddress Production, ListenerAddress? Test) ReadListeners(ServiceSpec spec)
    {
        var local = spec.Platform.Local
            ?? throw new PlatformException($"Service '{spec.Service}' is for the {spec.Platform.Kind} platform, not the local one.");
        var healthCheck = spec.Task.HealthCheck;
        if (!healthCheck.Path.StartsWith('/') || healthCheck.Path.Any(c => char.IsWhiteSpace(c) || c == '"' || c == '#'))
        {
            throw new PlatformException($"Service '{spec.Service}': the health-check path '{healthCheck.Path}' must start with / and contain no spaces, quotes or #.");
        }

        var production = ListenerAddress.Parse(spec.Service, "production", local.ProductionListener);
        var test = local.TestListener is { Length: > 0 } t ? ListenerAddress.Parse(spec.Service, "test", t) : null;
        if (test is not null && SameBinding(production, test))
        {
            throw new PlatformException($"Service '{spec.Service}': the production and test listeners are both {production}; give the test listener another port.");
        }

        return (production, test);
    }

    /// <summary>Fails when a listener is another service's, or not ours and taken by another process. Caller holds the model lock.</summary>
    private void CheckListenersLocked(string service, ListenerAddress production, ListenerAddress? test)
    {
        var bound = new List<ListenerAddress>();
        foreach (var other in _services)
        {
            bound.Add(other.Production);
            if (other.Test is not null)
            {
                bound.Add(other.Test);
            }

            if (other.Name == service)
            {
                continue;
            }

            foreach (var mine in new[] { production, test }.OfType<ListenerAddress>())
            {
                if (SameBinding(mine, other.Production) || (other.Test is not null && SameBinding(mine, other.Test)))
                {
                    throw new PlatformException($"Service '{service}': listener {mine} is already used by service '{other.Name}'; choose another port.");
                }
            }
        }

        if (!bound.Any(b => SameBinding(production, b)))
        {
            EnsureBindable(service, "production", production);
        }

        if (test is not null && !bound.Any(b => SameBinding(test, b)))
        {
            EnsureBindable(service, "test", test);
        }
    }

    /// <summary>Adds or updates the service; rewrites the config and reloads HAProxy seamlessly only when a listener or the health-check request changed.</summary>
    private async Task EnsureServiceCoreAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        var local = spec.Platform.Local!;
        var healthCheck = spec.Task.HealthCheck;
        var (production, test) = ReadListeners(spec);
        List<HaproxyConfig.ServiceConfig> configs;
        HaproxyConfig.ServiceConfig wanted;
        lock (_sync)
        {
            var existing = FindService(spec.Service);

            // Slots only grow: an instance may sit in any slot the backend had.
            var slots = Math.Max(existing?.Slots ?? 0, HaproxyConfig.SlotsFor(local.Instances));
            wanted = new HaproxyConfig.ServiceConfig(spec.Service, production.BindText, test?.BindText, healthCheck.Path, healthCheck.Timeout, slots);
            if (existing is not null)
            {
                existing.HealthCheck = healthCheck;
                if (ToConfig(existing) == wanted)
                {
                    return;
                }
            }

            CheckListenersLocked(spec.Service, production, test);
            configs = [.. _services.Select(s => s.Name == spec.Service ? wanted : ToConfig(s))];
            if (existing is null)
            {
                configs.Add(wanted);
            }
        }

        await _haproxyGate.WaitAsync(cancellationToken);
        try
        {
            var reload = _haproxyProcess is { } running && ProcFs.IsRunning(running.Process, running.Pid, running.StartTicks);
            await LaunchHaproxyLockedAsync(RenderConfig(configs), reload, cancellationToken);
            lock (_sync)
            {
                var existing = FindService(spec.Service);
                if (existing is null)
                {
                    _services.Add(new ServiceState { Name = spec.Service, Production = production, Test = test, HealthCheck = healthCheck, Slots = wanted.Slots });
                }
                else
                {
                    existing.Slots = wanted.Slots;
                    existing.Production = production;
                    existing.Test = test;
                    existing.HealthCheck = healthCheck;
                    if (test is null)
                    {
                        existing.TestSplit = [];
                    }
                }
            }

            await SyncLockedAsync(cancellationToken);
        }
        finally
        {
            _haproxyGate.Release();
        }

        Save();
    }

    private static HaproxyConfig.ServiceConfig ToConfig(ServiceState service) =>
        new(service.Name, service.Production.BindText, service.Test?.BindText, service.HealthCheck.Path, service.HealthCheck.Timeout, service.Slots);

    private string RenderConfig(IEnumerable<HaproxyConfig.ServiceConfig> services) =>
        HaproxyConfig.Render(_socketPath, _serverStatePath, _requestLog!.Port, services);

    private string RenderCurrentConfig()
    {
        lock (_sync)
        {
            return RenderConfig([.. _services.Select(ToConfig)]);
        }
    }

    private static bool SameBinding(ListenerAddress a, ListenerAddress b) =>
        a.Port == b.Port && (a.Address.Equals(b.Address) || a.Address.Equals(IPAddress.Any) || b.Address.Equals(IPAddress.Any));

    /// <summary>Fails with an actionable message when something else already listens on the address.</summary>
    private static void EnsureBindable(string service, string listener, ListenerAddress address)
    {
        try
        {
            using var probe = new Socket(address.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(address.Address, address.Port));
            probe.Listen();
        }
        catch (SocketException ex)
        {
            var suggestion = "";
            try
            {
                using var free = new Socket(address.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                free.Bind(new IPEndPoint(address.Address, 0));
                suggestion = string.Create(CultureInfo.InvariantCulture, $", e.g. {address.Address}:{((IPEndPoint)free.LocalEndPoint!).Port}");
            }
            catch (SocketException)
            {
            }

            var problem = ex.SocketErrorCode == SocketError.AddressAlreadyInUse
                ? $"{address} is already in use: another process listens there"
                : $"cannot listen on {address}: {ex.Message}";
            throw new PlatformException(
                $"Service '{service}': the {listener} listener (platform.local.listeners.{listener}) {problem}. Choose another port{suggestion}, or stop the process that uses it.",
                ex);
        }
    }

    /// <summary>Checks the config with haproxy -c, then starts HAProxy with it, or reloads seamlessly (-x, -sf) when one runs. Caller holds the HAProxy gate.</summary>
    private async Task LaunchHaproxyLockedAsync(string config, bool reload, CancellationToken cancellationToken)
    {
        var candidate = _configPath + ".new";
        var previous = File.Exists(_configPath) ? await File.ReadAllTextAsync(_configPath, cancellationToken) : null;
        await File.WriteAllTextAsync(candidate, config, cancellationToken);

        // The config in place passed this check before it was moved there: a restart after a crash need not wait for it again.
        if (previous != config)
        {
            await HaproxyExecutable.CheckConfigAsync(_haproxyPath, candidate, cancellationToken);
        }

        var old = reload ? _haproxyProcess : null;
        var args = new List<string> { "-f", _configPath };
        if (old is not null)
        {
            // The new process starts from the old one's server addresses, states and weights, and takes its listening sockets over.
            var state = await _haproxy!.SendAsync("show servers state", cancellationToken);
            await File.WriteAllTextAsync(_serverStatePath, state, cancellationToken);
            args.AddRange(["-x", _socketPath, "-sf", old.Pid.ToString(CultureInfo.InvariantCulture)]);
        }
        else
        {
            // A fresh start must not trust state or a socket left by an earlier process; the runtime state is pushed again after start.
            File.Delete(_serverStatePath);
            File.Delete(_socketPath);
        }

        File.Move(candidate, _configPath, overwrite: true);
        LaunchedProcess launched;
        try
        {
            launched = await ProcessLauncher.StartAsync(_haproxyPath, args, new Dictionary<string, string>(), _localDirectory, HaproxyLogPath, _time, cancellationToken);
            await WaitForHaproxyAsync(launched, cancellationToken);
        }
        catch
        {
            if (previous is null)
            {
                File.Delete(_configPath);
            }
            else
            {
                await File.WriteAllTextAsync(_configPath, previous, CancellationToken.None);
            }

            throw;
        }

        if (old is not null)
        {
            lock (_sync)
            {
                _retiringHaproxy.Add(new PersistedProcess(old.Pid, old.StartTicks));
            }

            old.Process?.Dispose();
        }

        _haproxyProcess = new HaproxyProcess(launched.Pid, launched.StartTicks, launched.Process);
        _haproxySeenAliveAt = _time.GetUtcNow();
        _haproxyExitedAt = null;
        WatchHaproxyExit(_haproxyProcess);
        Raise(new PlatformEvent("", null, null, old is null ? PlatformEventTypes.HaproxyStarted : PlatformEventTypes.HaproxyReloaded,
            string.Create(CultureInfo.InvariantCulture, $"HAProxy {(old is null ? "started" : "reloaded")} as pid {launched.Pid} with {_configPath}.")));
        await RefreshAppliedLockedAsync(cancellationToken);
    }

    /// <summary>Waits until the new process answers on the runtime socket with its own pid; fails with its log when it exits.</summary>
    private async Task WaitForHaproxyAsync(LaunchedProcess launched, CancellationToken cancellationToken)
    {
        var deadline = _time.GetTimestamp() + (10 * _time.TimestampFrequency);
        while (true)
        {
            if (!ProcFs.IsRunning(launched.Pid, launched.StartTicks))
            {
                launched.Process.Dispose();
                throw new PlatformException($"HAProxy exited right after start. Last lines of {HaproxyLogPath}:\n{ProcFs.Tail(HaproxyLogPath)}");
            }

            if (await _haproxy!.TryGetPidAsync(cancellationToken) == launched.Pid)
            {
                return;
            }

            if (_time.GetTimestamp() > deadline)
            {
                await ProcFs.StopAsync(launched.Pid, launched.StartTicks, TimeSpan.FromSeconds(1), _time, ProcFs.SigKill);
                launched.Process.Dispose();
                throw new PlatformException($"HAProxy did not answer on {_socketPath} within 10 s. Last lines of {HaproxyLogPath}:\n{ProcFs.Tail(HaproxyLogPath)}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), _time, cancellationToken);
        }
    }

    /// <summary>At start: keeps the recorded HAProxy when it still runs and answers (reloading it only if its config is out of date), else starts one.</summary>
    private async Task AdoptOrStartHaproxyAsync(PersistedProcess? recorded, CancellationToken cancellationToken)
    {
        await _haproxyGate.WaitAsync(cancellationToken);
        try
        {
            if (recorded is not null && ProcFs.IsRunning(recorded.Pid, recorded.StartTicks))
            {
                if (await _haproxy!.TryGetPidAsync(cancellationToken) == recorded.Pid)
                {
                    _haproxyProcess = new HaproxyProcess(recorded.Pid, recorded.StartTicks, null);
                    Raise(new PlatformEvent("", null, null, PlatformEventTypes.HaproxyAdopted,
                        string.Create(CultureInfo.InvariantCulture, $"Adopted the running HAProxy (pid {recorded.Pid}).")));
                    var config = RenderCurrentConfig();
                    var onDisk = File.Exists(_configPath) ? await File.ReadAllTextAsync(_configPath, cancellationToken) : null;
                    if (onDisk != config)
                    {
                        await LaunchHaproxyLockedAsync(config, reload: true, cancellationToken);
                    }
                    else
                    {
                        await RefreshAppliedLockedAsync(cancellationToken);
                    }

                    AdoptInstanceHealth();
                    return;
                }

                // Ours (same start time) but deaf: replace it.
                await ProcFs.StopAsync(recorded.Pid, recorded.StartTicks, TimeSpan.FromSeconds(2), _time);
            }

            bool any;
            lock (_sync)
            {
                any = _services.Count > 0;
            }

            if (any)
            {
                await LaunchHaproxyLockedAsync(RenderCurrentConfig(), reload: false, cancellationToken);
            }
        }
        finally
        {
            _haproxyGate.Release();
        }
    }

    /// <summary>An adopted instance whose slot HAProxy has in service was healthy a moment ago: keep it serving while the checks confirm it.</summary>
    private void AdoptInstanceHealth()
    {
        lock (_sync)
        {
            foreach (var service in _services)
            {
                if (!_applied.TryGetValue(service.ProductionBackend, out var servers))
                {
                    continue;
                }

                foreach (var instance in service.Instances.Where(i => i.Pid > 0))
                {
                    var server = servers[instance.Slot];
                    if (server.Ready && server.Port == instance.Port)
                    {
                        instance.Health = InstanceHealth.Healthy;
                        instance.Passes = service.HealthCheck.HealthyThreshold;
                    }
                }
            }
        }
    }

    private async Task SuperviseHaproxyAsync(CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            _retiringHaproxy.RemoveAll(p => !ProcFs.IsRunning(p.Pid, p.StartTicks));
            if (_services.Count == 0)
            {
                return;
            }
        }

        if (!await _haproxyGate.WaitAsync(0, cancellationToken))
        {
            return;
        }

        try
        {
            var current = _haproxyProcess;
            var now = _time.GetUtcNow();
            if (current is not null && ProcFs.IsRunning(current.Process, current.Pid, current.StartTicks))
            {
                _haproxySeenAliveAt = now;
                return;
            }

            if (current is not null)
            {
                _haproxyProcess = null;
                _applied.Clear();
                current.Process?.Dispose();
                _haproxyRetryAt = now;
                lock (_sync)
                {
                    _haproxyDown ??= (_haproxyExitedAt ?? _haproxySeenAliveAt ?? now, current.Pid);
                }

                Raise(new PlatformEvent("", null, null, PlatformEventTypes.HaproxyDied,
                    string.Create(CultureInfo.InvariantCulture, $"HAProxy (pid {current.Pid}) died; restarting it. Last lines of {HaproxyLogPath}:\n{ProcFs.Tail(HaproxyLogPath)}"))
                {
                    At = now,
                });
            }

            if (now < _haproxyRetryAt)
            {
                return;
            }

            try
            {
                await LaunchHaproxyLockedAsync(RenderCurrentConfig(), reload: false, cancellationToken);
                _haproxyFailures = 0;
                await SyncLockedAsync(cancellationToken);
                RaiseRestarted();
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _haproxyFailures++;
                var delay = RestartBackoff.After(_haproxyFailures);
                _haproxyRetryAt = now + delay;
                Raise(new PlatformEvent("", null, null, PlatformEventTypes.HaproxyDied,
                    string.Create(CultureInfo.InvariantCulture, $"HAProxy could not be restarted: {ex.Message} Trying again in {delay.TotalSeconds:0.0} s.")));
            }
        }
        finally
        {
            _haproxyGate.Release();
        }

        Save();
    }

    /// <summary>Reports a restart after a death with how long the listeners served nothing, for the services HAProxy carries.</summary>
    private void RaiseRestarted()
    {
        var now = _time.GetUtcNow();
        var started = _haproxyProcess!.Pid;
        if (_haproxyDown is not { } down)
        {
            Raise(new PlatformEvent("", null, null, PlatformEventTypes.HaproxyRestarted,
                string.Create(CultureInfo.InvariantCulture, $"HAProxy restarted as pid {started}.")) { At = now });
            return;
        }

        _haproxyDown = null;
        var gap = now - down.Since;
        List<string> services;
        string listeners;
        lock (_sync)
        {
            services = [.. _services.Select(s => s.Name)];
            listeners = string.Join(", ", _services.Select(s => s.Production.Text));
        }

        Raise(new PlatformEvent("", null, null, PlatformEventTypes.HaproxyRestarted,
            string.Create(CultureInfo.InvariantCulture,
                $"HAProxy (pid {down.Pid}) died and was restarted as pid {started}; its listeners ({listeners}) served nothing for {gap.TotalMilliseconds:0} ms."))
        {
            At = now,
            Gap = gap,
            Services = services,
            Pids = (down.Pid, started),
        });
    }

    /// <summary>
    /// Restarts HAProxy as soon as a process this Backstay started exits, instead of at the next supervision tick. An
    /// adopted HAProxy (no process handle) is found dead by supervision's polling.
    /// </summary>
    private void WatchHaproxyExit(HaproxyProcess watched)
    {
        if (watched.Process is not { } process)
        {
            return;
        }

        var token = _stopping.Token;
        var watcher = Task.Run(async () =>
        {
            try
            {
                await process.WaitForExitAsync(token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or ObjectDisposedException)
            {
                // Stopping, or the handle was let go of when a reload replaced this process.
                return;
            }

            if (!ReferenceEquals(_haproxyProcess, watched) || token.IsCancellationRequested)
            {
                return;
            }

            lock (_sync)
            {
                _haproxyExitedAt = _time.GetUtcNow();
            }

            try
            {
                await SuperviseHaproxyAsync(token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                // Supervision's next tick tries again.
                Raise(new PlatformEvent("", null, null, PlatformEventTypes.LoopError, $"Restarting HAProxy after it exited failed: {ex.Message}"));
            }
        }, CancellationToken.None);
        _background.Track(watcher);
    }

    /// <summary>Reads what HAProxy holds for every server slot, so the next sync sends only differences.</summary>
    private async Task RefreshAppliedLockedAsync(CancellationToken cancellationToken)
    {
        _applied.Clear();
        var rows = await _haproxy!.ShowServersStateAsync(null, cancellationToken);
        foreach (var row in rows)
        {
            var slot = row.Slot;
            if (slot is < 1 or > HaproxyConfig.SlotsPerBackend)
            {
                continue;
            }

            if (!_applied.TryGetValue(row.Backend, out var servers))
            {
                servers = NewServerArray();
                _applied[row.Backend] = servers;
            }

            servers[slot] = new AppliedServer(row.Port, !row.InMaintenance, row.Weight);
        }
    }

    private async Task SyncAsync(CancellationToken cancellationToken)
    {
        await _haproxyGate.WaitAsync(cancellationToken);
        try
        {
            await SyncLockedAsync(cancellationToken);
        }
        finally
        {
            _haproxyGate.Release();
        }
    }

    private async Task SyncSafeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await SyncAsync(cancellationToken);
        }
        catch (PlatformException ex)
        {
            Raise(new PlatformEvent("", null, null, PlatformEventTypes.HaproxyCommandFailed, ex.Message));
        }
    }

    /// <summary>
    /// Brings HAProxy's server slots in line with the model in one burst: slots to drain go to maint first, then addresses and weights change,
    /// then new servers become ready. Caller holds the HAProxy gate.
    /// </summary>
    private async Task SyncLockedAsync(CancellationToken cancellationToken)
    {
        if (_haproxyProcess is null || _haproxy is null)
        {
            return;
        }

        Dictionary<string, DesiredServer[]> desired;
        lock (_sync)
        {
            desired = ComputeDesired();
        }

        var drain = new List<string>();
        var change = new List<string>();
        var enable = new List<string>();
        var updates = new List<(AppliedServer[] Servers, int Slot, AppliedServer Value)>();
        foreach (var (backend, servers) in desired)
        {
            if (!_applied.TryGetValue(backend, out var applied))
            {
                applied = NewServerArray();
                _applied[backend] = applied;
            }

            // The desired array is as long as the backend's server template: slots beyond it do not exist in HAProxy.
            for (var slot = 1; slot < servers.Length; slot++)
            {
                var want = servers[slot];
                var have = applied[slot];
                var name = string.Create(CultureInfo.InvariantCulture, $"{backend}/s{slot}");
                if (!want.Ready)
                {
                    if (have.Ready || !have.Known)
                    {
                        drain.Add($"set server {name} state maint");
                        updates.Add((applied, slot, new AppliedServer(have.Known ? have.Port : -1, false, have.Known ? have.Weight : -1)));
                    }

                    continue;
                }

                if (!have.Known || have.Port != want.Port)
                {
                    change.Add(string.Create(CultureInfo.InvariantCulture, $"set server {name} addr 127.0.0.1 port {want.Port}"));
                }

                if (!have.Known || have.Weight != want.Weight)
                {
                    change.Add(string.Create(CultureInfo.InvariantCulture, $"set weight {name} {want.Weight}"));
                }

                if (!have.Known || !have.Ready)
                {
                    enable.Add($"set server {name} state ready");
                }

                updates.Add((applied, slot, new AppliedServer(want.Port, true, want.Weight)));
            }
        }

        var commands = drain.Concat(change).Concat(enable).ToList();
        if (commands.Count == 0)
        {
            return;
        }

        try
        {
            await _haproxy.ExecuteAsync(commands, cancellationToken);
        }
        catch
        {
            // What HAProxy holds is unknown now; read it again next time.
            _applied.Clear();
            throw;
        }

        foreach (var (servers, slot, value) in updates)
        {
            servers[slot] = value;
        }
    }

    /// <summary>What every slot of every backend should hold; also refreshes the slot map the request log is attributed with. Caller holds the model lock.</summary>
    private Dictionary<string, DesiredServer[]> ComputeDesired()
    {
        var desired = new Dictionary<string, DesiredServer[]>(StringComparer.Ordinal);
        var slotMap = new Dictionary<string, SlotTarget?[]>(StringComparer.Ordinal);
        foreach (var service in _services)
        {
            var serving = service.Instances.Where(i => i.Serving).OrderBy(i => i.Sequence).ToList();
            var servingByRevision = serving.GroupBy(i => i.Revision).ToDictionary(g => g.Key, g => g.Count());
            var listeners = service.Test is null ? new[] { Listener.Production } : [Listener.Production, Listener.Test];
            foreach (var listener in listeners)
            {
                var backend = listener == Listener.Production ? service.ProductionBackend : service.TestBackend;
                var plan = WeightPlanner.Plan(service.Split(listener), servingByRevision);
                var next = new Dictionary<int, int>();
                var servers = new DesiredServer[service.Slots + 1];
                foreach (var instance in serving)
                {
                    var index = next.GetValueOrDefault(instance.Revision);
                    next[instance.Revision] = index + 1;
                    servers[instance.Slot] = new DesiredServer(instance.Port, true, plan[instance.Revision][index]);
                }

                desired[backend] = servers;
                var targets = new SlotTarget?[service.Slots + 1];
                foreach (var instance in service.Instances)
                {
                    targets[instance.Slot] = new SlotTarget(service.Name, instance.Revision, listener);
                }

                slotMap[backend] = targets;
            }
        }

        _requestLog!.Attribute(slotMap);
        return desired;
    }

    private static AppliedServer[] NewServerArray()
    {
        var servers = new AppliedServer[HaproxyConfig.SlotsPerBackend + 1];
        Array.Fill(servers, AppliedServer.Unknown);
        return servers;
    }

    private sealed record HaproxyProcess(int Pid, long StartTicks, Process? Process);

    private readonly record struct DesiredServer(int Port, bool Ready, int Weight);

    private readonly record struct AppliedServer(int Port, bool Ready, int Weight, bool Known = true)
    {
        public static AppliedServer Unknown => new(0, false, 0, Known: false);
    }
}
