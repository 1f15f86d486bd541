// The local platform as the engine sees it: the ports (compute, traffic, signals), start with adoption of what an
// earlier Backstay left running, detach and dispose. It keeps no platform state itself; it sequences collaborators
// that each own their state and its guard:
//
//   ServiceRoutes       listeners, health check, backend slots, traffic splits  immutable table; writers take its lock
//   InstanceSupervisor  instance processes: start, health checks, restarts      its lock, a leaf
//   HaproxyRuntime      the HAProxy process, its config and runtime API         its async gate
//   HaproxyServers      server slots as HAProxy holds them                      HaproxyRuntime's gate
//   RequestLogReceiver  HAProxy's per-request log over UDP, metrics             none needed (swapped map, buffers lock)
//   PlatformStateFile   platform.json                                           its lock
//
// Lock order, outermost first: this class's operation gate, HaproxyRuntime's gate, PlatformStateFile's lock,
// InstanceSupervisor's lock. The two gates are held across awaits, the locks never are. PlatformStateFile's lock is
// held only to snapshot (which takes the supervisor's lock) and write; the supervisor's lock and ServiceRoutes' lock
// are leaves. The supervisor calls back into HAProxy (a health change) only with its lock released, so no cycle forms.
using Backstay.Core.Model;

namespace Backstay.Platform.Local;

/// <summary>The built-in platform: every instance a process on a loopback port, HAProxy in front, per-request metrics from HAProxy's log.</summary>
/// <remarks>
/// Instances and HAProxy run in their own sessions and outlive Backstay; platform.json records them so the next
/// <see cref="StartAsync(LocalPlatformOptions, TimeProvider, CancellationToken)"/> adopts them.
/// </remarks>
public sealed class LocalPlatform : IPlatform, ICompute, ITraffic, ISignals
{
    private static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(100);

    private readonly LocalPlatformOptions _options;
    private readonly TimeProvider _time;
    private readonly string _localDirectory;
    private readonly string _logDirectory;

    /// <summary>One scale or service change at a time: each reads the model, changes processes, then HAProxy.</summary>
    private readonly SemaphoreSlim _opGate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly BackgroundTasks _background = new();
    private readonly ServiceRoutes _routes = new();
    private readonly InstanceSupervisor _instances;
    private readonly PlatformStateFile _stateFile;
    private HaproxyRuntime? _haproxy;
    private RequestLogReceiver? _requestLog;
    private Task? _supervisor;
    private Task? _receiver;
    private bool _started;
    private bool _closed;

    /// <summary>Creates the platform; <see cref="StartAsync(CancellationToken)"/> must run before it is used.</summary>
    public LocalPlatform(LocalPlatformOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _time = time;
        var stateDirectory = Path.GetFullPath(options.StateDirectory);
        _localDirectory = Path.Combine(stateDirectory, "local");
        _logDirectory = Path.Combine(stateDirectory, "logs");
        _stateFile = new PlatformStateFile(PlatformStateFile.PathIn(stateDirectory), Snapshot);
        _instances = new InstanceSupervisor(_routes, _logDirectory, options.StopGracePeriod, time, Raise, SyncSafeAsync, _background);
    }

    public string Name => "local";

    public ICompute Compute => this;

    public ITraffic Traffic => this;

    public ISignals Signals => this;

    internal string SocketPath => _haproxy?.SocketPath ?? "";

    /// <summary>Creates and starts a platform on the state directory, adopting what an earlier Backstay process left running there.</summary>
    public static async Task<LocalPlatform> StartAsync(LocalPlatformOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        var platform = new LocalPlatform(options, time);
        try
        {
            await platform.StartAsync(cancellationToken);
            return platform;
        }
        catch
        {
            // Leave whatever runs alone: it may be serving production, and the next start adopts it.
            await platform.DetachAsync();
            throw;
        }
    }

    /// <summary>Checks HAProxy, adopts running processes recorded in platform.json, restarts dead instances, and starts the background loops.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (_started)
        {
            throw new InvalidOperationException("The local platform is already started.");
        }

        _started = true;
        var executable = await HaproxyExecutable.FindAsync(_options.HaproxyPath, cancellationToken);
        Directory.CreateDirectory(_localDirectory);
        Directory.CreateDirectory(_logDirectory);

        var persisted = PlatformStateFile.Read(_stateFile.Path);
        var files = HaproxyFiles.In(_localDirectory, _logDirectory, executable, persisted?.SocketPath);
        Directory.CreateDirectory(Path.GetDirectoryName(files.SocketPath)!);
        _requestLog = new RequestLogReceiver(persisted?.UdpPort ?? 0, _time, Raise);
        _haproxy = new HaproxyRuntime(files, new HaproxyClient(files.SocketPath, _time), _routes, _instances, _requestLog, _time, Raise, Save, _background, _stopping.Token);

        List<PlatformEvent> events = [];
        if (persisted is not null)
        {
            _haproxy.RestoreRetiring(persisted.RetiringHaproxy);
            _routes.Restore(persisted.Services);
            events = _instances.Restore(persisted.Services);
        }

        if (await _haproxy.AdoptOrStartAsync(persisted?.Haproxy, cancellationToken) is { } ready)
        {
            _instances.AdoptServing(ready);
        }

        foreach (var e in events)
        {
            Raise(e);
        }

        await _haproxy.SyncAsync(cancellationToken);
        Save();

        var token = _stopping.Token;
        _receiver = Task.Run(() => _requestLog.ReceiveAsync(token), CancellationToken.None);
        _supervisor = Task.Run(() => SuperviseAsync(token), CancellationToken.None);
    }

    /// <summary>Stops the background loops but leaves instances and HAProxy running, recorded in platform.json for the next start to adopt.</summary>
    public async Task DetachAsync()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        await StopLoopsAsync();
        if (_started && _haproxy is not null)
        {
            Save();
        }

        _instances.ReleaseHandles();
        Release();
    }

    /// <summary>Stops every instance (gracefully, then by force) and HAProxy, so that nothing Backstay started is left running.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        await StopLoopsAsync();
        var gate = await _opGate.WaitAsync(TimeSpan.FromSeconds(10));
        try
        {
            await Task.WhenAll(_instances.StopAllAsync(), _haproxy?.StopAsync() ?? Task.CompletedTask);
            if (_started && _haproxy is not null)
            {
                Save();
                HaproxyFiles.DeleteSocket(_haproxy.SocketPath);
            }
        }
        finally
        {
            if (gate)
            {
                _opGate.Release();
            }

            Release();
        }
    }

    /// <summary>Stops every process platform.json in the state directory records (instances and HAProxy), e.g. after Backstay was killed.</summary>
    public static Task StopLeftoversAsync(string stateDirectory) => PlatformStateFile.StopRecordedAsync(stateDirectory);

    public async Task EnsureServiceAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ThrowIfNotRunning();
        await _opGate.WaitAsync(cancellationToken);
        try
        {
            await _haproxy!.EnsureServiceAsync(spec, cancellationToken);
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
        await _haproxy!.ResyncAsync(cancellationToken);
    }

    /// <summary>
    /// Checks, changing nothing, that the service can be set up as its spec says: its listeners parse, are not another
    /// service's, and are free (or already HAProxy's for this service). A deployment asks before it records anything.
    /// </summary>
    public Task CheckServiceAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ThrowIfNotRunning();
        _routes.Check(spec);
        return Task.CompletedTask;
    }

    public async Task ScaleAsync(ServiceSpec spec, Revision revision, int count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(revision);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, HaproxyConfig.SlotsPerBackend);
        ThrowIfNotRunning();

        IReadOnlyList<InstanceState> surplus;
        await _opGate.WaitAsync(cancellationToken);
        try
        {
            await _haproxy!.EnsureServiceAsync(spec, cancellationToken);
            var launch = ImageResolver.Resolve(spec, revision, _options.BuiltinImages);
            try
            {
                surplus = await _instances.ScaleAsync(spec.Service, revision.Number, launch, count, cancellationToken);
            }
            finally
            {
                Save();
            }

            // Drain first: the surplus leaves HAProxy before it is signalled.
            await _haproxy.SyncAsync(cancellationToken);
        }
        finally
        {
            _opGate.Release();
        }

        if (surplus.Count > 0)
        {
            await _instances.RetireAsync(spec.Service, revision.Number, surplus);
            Save();
            await _haproxy.SyncAsync(cancellationToken);
        }
        else if (count == 0)
        {
            _instances.ForgetIfEmpty(spec.Service, revision.Number);
            Save();
        }
    }

    public Task<IReadOnlyList<InstanceSet>> ListAsync(string service, CancellationToken cancellationToken)
    {
        ThrowIfNotRunning();
        return Task.FromResult(_instances.List(service));
    }

    public async Task SetWeightsAsync(string service, Listener listener, IReadOnlyDictionary<int, int> weightByRevision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(weightByRevision);
        ThrowIfNotRunning();
        if (weightByRevision.Values.Any(w => w is < 0 or > 100) || (weightByRevision.Count > 0 && weightByRevision.Values.Sum() != 100))
        {
            throw new ArgumentException(
                $"Weights must be percentages from 0 to 100 that add up to 100; got {string.Join(", ", weightByRevision.Select(p => $"revision {p.Key}: {p.Value}"))}.",
                nameof(weightByRevision));
        }

        _routes.SetSplit(service, listener, weightByRevision.Where(p => p.Value > 0).ToDictionary(p => p.Key, p => p.Value));
        Save();
        await _haproxy!.SyncAsync(cancellationToken);
    }

    /// <summary>Reads the weights HAProxy actually holds (servers in maintenance count as 0) and turns them back into percentages per revision.</summary>
    public async Task<IReadOnlyDictionary<int, int>> GetWeightsAsync(string service, Listener listener, CancellationToken cancellationToken)
    {
        ThrowIfNotRunning();
        var route = _routes.Find(service);
        if (route is null || (listener == Listener.Test && route.Test is null) || _haproxy!.Pid is null)
        {
            return new Dictionary<int, int>();
        }

        return await _haproxy.ReadWeightsAsync(route.Backend(listener), _instances.RevisionBySlot(service), cancellationToken);
    }

    /// <summary>One "show servers state" for every backend, instead of one read per service.</summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyDictionary<int, int>>> GetProductionWeightsAsync(IReadOnlyCollection<string> services, CancellationToken cancellationToken)
    {
        ThrowIfNotRunning();
        var weights = new Dictionary<string, IReadOnlyDictionary<int, int>>(StringComparer.Ordinal);
        var routed = services.Select(s => (Service: s, Route: _routes.Find(s))).Where(r => r.Route is not null).ToList();
        if (routed.Count == 0 || _haproxy!.Pid is null)
        {
            return weights;
        }

        var rows = await _haproxy.ReadAllServersAsync(cancellationToken);
        foreach (var (service, route) in routed)
        {
            weights[service] = WeightPlanner.FromServers(rows, route!.Backend(Listener.Production), _instances.RevisionBySlot(service));
        }

        return weights;
    }

    /// <summary>Requests of the revision on the production listener, from HAProxy's per-request log; latency is HAProxy's %Tr (time to the server's response headers).</summary>
    public Task<RevisionMetrics> GetMetricsAsync(string service, int revision, TimeSpan window, DateTimeOffset? since, CancellationToken cancellationToken)
    {
        ThrowIfNotRunning();
        return Task.FromResult(_requestLog!.Metrics(service, revision, window, since));
    }

    public bool ReportsArrivals => true;

    /// <summary>Completes when HAProxy's log reports the revision's next production request.</summary>
    public Task WaitForRequestsAsync(string service, int revision, CancellationToken cancellationToken)
    {
        ThrowIfNotRunning();
        return _requestLog!.NextRequestAsync(service, revision, cancellationToken);
    }

    /// <summary>Requests of the service that no revision served (no server available), by backend; for diagnostics and tests.</summary>
    internal long UnattributedRequests(string backend) => _requestLog?.Unattributed(backend) ?? 0;

    /// <summary>The pids of HAProxy and of every instance, for tests and diagnostics.</summary>
    internal (int? Haproxy, IReadOnlyList<int> Instances) ProcessIds() => (_haproxy?.Pid, _instances.Pids());

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
                    if (await _instances.SuperviseOnceAsync(cancellationToken))
                    {
                        Save();
                        await SyncSafeAsync(cancellationToken);
                    }

                    await _haproxy!.SuperviseAsync(cancellationToken);
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

    private Task SyncSafeAsync(CancellationToken cancellationToken) => _haproxy?.SyncSafeAsync(cancellationToken) ?? Task.CompletedTask;

    private async Task StopLoopsAsync()
    {
        await _stopping.CancelAsync();
        var loops = new[] { _supervisor, _receiver }.OfType<Task>().Concat(_background.Running).ToArray();
        try
        {
            await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            Raise(new PlatformEvent("", null, null, PlatformEventTypes.LoopError, "A background loop did not stop within 10 s."));
        }
        catch (OperationCanceledException)
        {
        }

        _requestLog?.Dispose();
    }

    private void Release()
    {
        _instances.Dispose();
        _stopping.Dispose();
    }

    private void ThrowIfNotRunning()
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (!_started || _haproxy is null)
        {
            throw new InvalidOperationException("Start the local platform first (LocalPlatform.StartAsync).");
        }
    }

    private void Raise(PlatformEvent e)
    {
        try
        {
            _options.OnEvent?.Invoke(e);
        }
        catch (Exception)
        {
            // A faulty event handler must not take the platform's loops down.
        }
    }

    private void Save() => _stateFile.Save();

    private PersistedState Snapshot() => new()
    {
        UdpPort = _requestLog?.Port ?? 0,
        SocketPath = _haproxy?.SocketPath,
        Haproxy = _haproxy?.Persisted,
        RetiringHaproxy = _haproxy?.Retiring ?? [],
        Services = _instances.Persist(_routes.All.Select(r => r.ToPersisted())),
    };
}
