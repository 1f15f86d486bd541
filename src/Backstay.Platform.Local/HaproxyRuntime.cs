// The HAProxy process: started, reloaded seamlessly when the config changes, adopted after a restart of Backstay,
// restarted at once when it dies (with the gap its listeners served nothing), and stopped. Everything that talks to
// HAProxy or replaces its process holds the one async gate here, so a reload and a sync never interleave. The fields
// read without the gate (the process, the retiring ones, the exit time) are immutable values swapped whole.
//
// Lock order: LocalPlatform's operation gate, then this gate, then InstanceSupervisor's lock (taken briefly by
// HaproxyServers to read the instances); never the reverse: the supervisor calls in (to sync) only with its lock
// released, and platform.json is saved only after this gate is released.
using System.Collections.Immutable;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Backstay.Platform.Local;

/// <summary>Owns the HAProxy process and its runtime API; serializes everything that talks to it.</summary>
/// <param name="persist">Saves platform.json; called after the process or the routes changed, with the gate released.</param>
internal sealed class HaproxyRuntime(
    HaproxyFiles files,
    HaproxyClient client,
    ServiceRoutes routes,
    InstanceSupervisor instances,
    RequestLogReceiver requestLog,
    TimeProvider time,
    Action<PlatformEvent> raise,
    Action persist,
    BackgroundTasks background,
    CancellationToken stopping)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly HaproxyServers _servers = new(client, routes, instances, requestLog);
    private volatile HaproxyProcess? _process;

    /// <summary>The HAProxy that serves; the runtime API client counts only its answers.</summary>
    private HaproxyProcess? Serving
    {
        get => _process;
        set
        {
            _process = value;
            client.Serving = value?.Pid;
        }
    }

    /// <summary>HAProxy processes replaced by a reload that may still be finishing their connections.</summary>
    private ImmutableArray<PersistedProcess> _retiring = [];

    /// <summary>When HAProxy exited, as its exit watcher saw it (only for a process this Backstay started).</summary>
    private volatile StrongBox<DateTimeOffset>? _exitedAt;

    private int _failures;
    private DateTimeOffset _retryAt;

    /// <summary>The last time supervision saw HAProxy running; where a death is first known to be possible.</summary>
    private DateTimeOffset? _seenAliveAt;

    /// <summary>From when the listeners have served nothing, while HAProxy is dead and not yet restarted, and which pid died.</summary>
    private (DateTimeOffset Since, int Pid)? _down;

    public string SocketPath => files.SocketPath;

    public int? Pid => _process?.Pid;

    public PersistedProcess? Persisted => _process is { } p ? new PersistedProcess(p.Pid, p.StartTicks) : null;

    public IReadOnlyList<PersistedProcess> Retiring => [.. _retiring];

    /// <summary>Takes over the retiring processes platform.json records that still run, so they are stopped in the end.</summary>
    public void RestoreRetiring(IEnumerable<PersistedProcess> recorded) =>
        ImmutableInterlocked.Update(ref _retiring, r => r.AddRange(recorded.Where(p => ProcFs.IsRunning(p.Pid, p.StartTicks))));

    /// <summary>
    /// At start: keeps the recorded HAProxy when it still runs and answers (reloading it only if its config is out of date),
    /// else starts one. Returns, for an adopted HAProxy, the port of each server slot it has ready, per backend.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyDictionary<int, int>>?> AdoptOrStartAsync(PersistedProcess? recorded, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (recorded is not null && ProcFs.IsRunning(recorded.Pid, recorded.StartTicks))
            {
                if (await client.TryGetPidAsync(cancellationToken) == recorded.Pid)
                {
                    Serving = new HaproxyProcess(recorded.Pid, recorded.StartTicks, null);
                    raise(new PlatformEvent("", null, null, PlatformEventTypes.HaproxyAdopted,
                        string.Create(CultureInfo.InvariantCulture, $"Adopted the running HAProxy (pid {recorded.Pid}).")));
                    var config = RenderConfig(routes.All.Select(r => r.ToConfig()));
                    var onDisk = File.Exists(files.ConfigPath) ? await File.ReadAllTextAsync(files.ConfigPath, cancellationToken) : null;
                    if (onDisk != config)
                    {
                        await LaunchLockedAsync(config, reload: true, cancellationToken);
                    }
                    else
                    {
                        await _servers.RefreshAsync(cancellationToken);
                    }

                    return _servers.Ready();
                }

                // Ours (same start time) but deaf: replace it.
                await ProcFs.StopAsync(recorded.Pid, recorded.StartTicks, TimeSpan.FromSeconds(2), time);
            }

            if (routes.All.Count > 0)
            {
                await LaunchLockedAsync(RenderConfig(routes.All.Select(r => r.ToConfig())), reload: false, cancellationToken);
            }

            return null;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Adds or updates the service; rewrites the config and reloads HAProxy seamlessly only when a listener, the health-check request or the slots changed.</summary>
    public async Task EnsureServiceAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        if (routes.Plan(spec) is not { } plan)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            var reload = _process is { } running && ProcFs.IsRunning(running.Process, running.Pid, running.StartTicks);
            await LaunchLockedAsync(RenderConfig(plan.Configs), reload, cancellationToken);
            routes.Apply(plan.Route);
            await SyncLockedAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }

        persist();
    }

    /// <summary>Reads back what HAProxy holds instead of trusting what Backstay last sent, then syncs: servers changed by hand are set again.</summary>
    public async Task ResyncAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_process is not null)
            {
                await _servers.RefreshAsync(cancellationToken);
                await SyncLockedAsync(cancellationToken);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task SyncAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await SyncLockedAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>As <see cref="SyncAsync"/>, for the loops: a refused command is reported, not thrown.</summary>
    public async Task SyncSafeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await SyncAsync(cancellationToken);
        }
        catch (PlatformException ex)
        {
            raise(new PlatformEvent("", null, null, PlatformEventTypes.HaproxyCommandFailed, ex.Message));
        }
    }

    /// <summary>The weights HAProxy holds on the backend (servers in maintenance count 0), as percentages per revision.</summary>
    public async Task<IReadOnlyDictionary<int, int>> ReadWeightsAsync(string backend, IReadOnlyDictionary<int, int> revisionBySlot, CancellationToken cancellationToken) =>
        WeightPlanner.FromServers(await client.ShowServersStateAsync(backend, cancellationToken), backend, revisionBySlot);

    /// <summary>
    /// Forgets retiring processes that are gone and, when HAProxy died, restarts it with back-off and reports the gap.
    /// Skips the pass when another HAProxy operation holds the gate: the next tick comes in 100 ms.
    /// </summary>
    public async Task SuperviseAsync(CancellationToken cancellationToken)
    {
        ImmutableInterlocked.Update(ref _retiring, r => r.RemoveAll(p => !ProcFs.IsRunning(p.Pid, p.StartTicks)));
        if (routes.All.Count == 0 || !await _gate.WaitAsync(0, cancellationToken))
        {
            return;
        }

        try
        {
            var current = _process;
            var now = time.GetUtcNow();
            if (current is not null && ProcFs.IsRunning(current.Process, current.Pid, current.StartTicks))
            {
                _seenAliveAt = now;
                return;
            }

            if (current is not null)
            {
                Serving = null;
                _servers.Forget();
                current.Process?.Dispose();
                _retryAt = now;
                _down ??= (_exitedAt?.Value ?? _seenAliveAt ?? now, current.Pid);
                raise(new PlatformEvent("", null, null, PlatformEventTypes.HaproxyDied,
                    string.Create(CultureInfo.InvariantCulture, $"HAProxy (pid {current.Pid}) died; restarting it. Last lines of {files.LogPath}:\n{ProcFs.Tail(files.LogPath)}"))
                {
                    At = now,
                });
            }

            if (now < _retryAt)
            {
                return;
            }

            try
            {
                await LaunchLockedAsync(RenderConfig(routes.All.Select(r => r.ToConfig())), reload: false, cancellationToken);
                _failures = 0;
                await SyncLockedAsync(cancellationToken);
                RaiseRestarted();
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _failures++;
                var delay = RestartBackoff.After(_failures);
                _retryAt = now + delay;
                raise(new PlatformEvent("", null, null, PlatformEventTypes.HaproxyDied,
                    string.Create(CultureInfo.InvariantCulture, $"HAProxy could not be restarted: {ex.Message} Trying again in {delay.TotalSeconds:0.0} s.")));
            }
        }
        finally
        {
            _gate.Release();
        }

        persist();
    }

    /// <summary>Stops HAProxy and the retiring processes (dispose); the caller waits with the instances' stops.</summary>
    public async Task StopAsync()
    {
        var stops = new List<Task>();
        if (_process is { } haproxy)
        {
            stops.Add(ProcFs.StopAsync(haproxy.Pid, haproxy.StartTicks, TimeSpan.FromSeconds(5), time));
        }

        stops.AddRange(_retiring.Select(r => ProcFs.StopAsync(r.Pid, r.StartTicks, TimeSpan.FromSeconds(2), time)));
        await Task.WhenAll(stops);
        Serving = null;
        ImmutableInterlocked.InterlockedExchange(ref _retiring, []);
    }

    private string RenderConfig(IEnumerable<HaproxyConfig.ServiceConfig> services) =>
        HaproxyConfig.Render(files.SocketPath, files.ServerStatePath, requestLog.Port, services);

    private async Task SyncLockedAsync(CancellationToken cancellationToken)
    {
        if (_process is not null)
        {
            await _servers.SyncAsync(cancellationToken);
        }
    }

    /// <summary>Starts HAProxy with the config, or reloads the running one seamlessly, and takes the new process on. Caller holds the gate.</summary>
    private async Task LaunchLockedAsync(string config, bool reload, CancellationToken cancellationToken)
    {
        var old = reload ? _process : null;
        var launched = await HaproxyExecutable.LaunchAsync(files, client, config, old?.Pid, time, cancellationToken);
        if (old is not null)
        {
            ImmutableInterlocked.Update(ref _retiring, r => r.Add(new PersistedProcess(old.Pid, old.StartTicks)));
            old.Process?.Dispose();
        }

        var started = new HaproxyProcess(launched.Pid, launched.StartTicks, launched.Process);
        Serving = started;
        _seenAliveAt = time.GetUtcNow();
        _exitedAt = null;
        WatchExit(started);
        raise(new PlatformEvent("", null, null, old is null ? PlatformEventTypes.HaproxyStarted : PlatformEventTypes.HaproxyReloaded,
            string.Create(CultureInfo.InvariantCulture, $"HAProxy {(old is null ? "started" : "reloaded")} as pid {launched.Pid} with {files.ConfigPath}.")));
        await _servers.RefreshAsync(cancellationToken);
    }

    /// <summary>Reports a restart after a death with how long the listeners served nothing, for the services HAProxy carries. Caller holds the gate.</summary>
    private void RaiseRestarted()
    {
        var now = time.GetUtcNow();
        var started = _process!.Pid;
        if (_down is not { } down)
        {
            raise(new PlatformEvent("", null, null, PlatformEventTypes.HaproxyRestarted,
                string.Create(CultureInfo.InvariantCulture, $"HAProxy restarted as pid {started}.")) { At = now });
            return;
        }

        _down = null;
        var gap = now - down.Since;
        var carried = routes.All;
        var listeners = string.Join(", ", carried.Select(r => r.Production.Text));
        raise(new PlatformEvent("", null, null, PlatformEventTypes.HaproxyRestarted,
            string.Create(CultureInfo.InvariantCulture,
                $"HAProxy (pid {down.Pid}) died and was restarted as pid {started}; its listeners ({listeners}) served nothing for {gap.TotalMilliseconds:0} ms."))
        {
            At = now,
            Gap = gap,
            Services = [.. carried.Select(r => r.Name)],
            Pids = (down.Pid, started),
        });
    }

    /// <summary>
    /// Restarts HAProxy as soon as a process this Backstay started exits, instead of at the next supervision tick. An
    /// adopted HAProxy (no process handle) is found dead by supervision's polling.
    /// </summary>
    private void WatchExit(HaproxyProcess watched)
    {
        if (watched.Process is not { } process)
        {
            return;
        }

        background.Track(Task.Run(async () =>
        {
            try
            {
                await process.WaitForExitAsync(stopping);
            }
            catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or ObjectDisposedException)
            {
                // Stopping, or the handle was let go of when a reload replaced this process.
                return;
            }

            if (!ReferenceEquals(_process, watched) || stopping.IsCancellationRequested)
            {
                return;
            }

            _exitedAt = new StrongBox<DateTimeOffset>(time.GetUtcNow());
            try
            {
                await SuperviseAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                // Supervision's next tick tries again.
                raise(new PlatformEvent("", null, null, PlatformEventTypes.LoopError, $"Restarting HAProxy after it exited failed: {ex.Message}"));
            }
        }, CancellationToken.None));
    }

    private sealed record HaproxyProcess(int Pid, long StartTicks, Process? Process);
}
