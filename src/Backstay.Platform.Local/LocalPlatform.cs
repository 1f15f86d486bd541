using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Backstay.Core.Ports;

namespace Backstay.Platform.Local;

/// <summary>The built-in platform: every instance a process on a loopback port, HAProxy in front, per-request metrics from HAProxy's log.</summary>
/// <remarks>
/// Instances and HAProxy run in their own sessions and outlive Backstay; platform.json records them so the next
/// <see cref="StartAsync(LocalPlatformOptions, TimeProvider, CancellationToken)"/> adopts them.
/// </remarks>
public sealed partial class LocalPlatform : IPlatform, ICompute, ITraffic, ISignals
{
    private static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(100);

    private readonly LocalPlatformOptions _options;
    private readonly TimeProvider _time;
    private readonly string _stateDirectory;
    private readonly string _localDirectory;
    private readonly string _logDirectory;
    private readonly PlatformStateFile _stateFile;
    private readonly string _configPath;
    private readonly string _serverStatePath;
    private readonly Lock _sync = new();
    private readonly SemaphoreSlim _opGate = new(1, 1);
    private readonly SemaphoreSlim _haproxyGate = new(1, 1);
    private readonly List<ServiceState> _services = [];
    private readonly List<PersistedProcess> _retiringHaproxy = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly HttpClient _healthClient;
    private readonly BackgroundTasks _background = new();
    private string _haproxyPath = "";
    private string _socketPath = "";
    private HaproxyClient? _haproxy;
    private RequestLogReceiver? _requestLog;
    private Task? _supervisor;
    private Task? _receiver;
    private long _nextSequence = 1;
    private bool _started;
    private bool _closed;

    /// <summary>Creates the platform; <see cref="StartAsync(CancellationToken)"/> must run before it is used.</summary>
    public LocalPlatform(LocalPlatformOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _time = time;
        _stateDirectory = Path.GetFullPath(options.StateDirectory);
        _localDirectory = Path.Combine(_stateDirectory, "local");
        _logDirectory = Path.Combine(_stateDirectory, "logs");
        _stateFile = new PlatformStateFile(PlatformStateFile.PathIn(_stateDirectory), Snapshot);
        _configPath = Path.Combine(_localDirectory, "haproxy.cfg");
        _serverStatePath = Path.Combine(_localDirectory, "haproxy.state");
        _healthClient = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5),
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public string Name => "local";

    public ICompute Compute => this;

    public ITraffic Traffic => this;

    public ISignals Signals => this;

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
        _haproxyPath = await HaproxyExecutable.FindAsync(_options.HaproxyPath, cancellationToken);
        Directory.CreateDirectory(_localDirectory);
        Directory.CreateDirectory(_logDirectory);

        var persisted = PlatformStateFile.Read(_stateFile.Path);
        _socketPath = persisted?.SocketPath ?? ChooseSocketPath(_localDirectory);
        Directory.CreateDirectory(Path.GetDirectoryName(_socketPath)!);
        _haproxy = new HaproxyClient(_socketPath, _time);
        _requestLog = new RequestLogReceiver(persisted?.UdpPort ?? 0, _time, Raise);

        var events = persisted is null ? [] : Restore(persisted);
        await AdoptOrStartHaproxyAsync(persisted?.Haproxy, cancellationToken);
        foreach (var e in events)
        {
            Raise(e);
        }

        await SyncAsync(cancellationToken);
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

        lock (_sync)
        {
            foreach (var instance in _services.SelectMany(s => s.Instances))
            {
                instance.Process?.Dispose();
                instance.Process = null;
            }
        }

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
            List<InstanceState> instances;
            lock (_sync)
            {
                instances = [.. _services.SelectMany(s => s.Instances)];
                foreach (var instance in instances)
                {
                    instance.Stopping = true;
                }
            }

            var stops = instances.Select(StopInstanceAsync).ToList();
            if (_haproxyProcess is { } haproxy)
            {
                stops.Add(ProcFs.StopAsync(haproxy.Pid, haproxy.StartTicks, TimeSpan.FromSeconds(5), _time));
            }

            lock (_sync)
            {
                stops.AddRange(_retiringHaproxy.Select(r => ProcFs.StopAsync(r.Pid, r.StartTicks, TimeSpan.FromSeconds(2), _time)));
            }

            await Task.WhenAll(stops);

            _haproxyProcess = null;
            lock (_sync)
            {
                _retiringHaproxy.Clear();
                foreach (var service in _services)
                {
                    service.Revisions.Clear();
                }
            }

            if (_started && _haproxy is not null)
            {
                Save();
                DeleteSocket(_socketPath);
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
    public static async Task StopLeftoversAsync(string stateDirectory)
    {
        var path = PlatformStateFile.PathIn(Path.GetFullPath(stateDirectory));
        var state = PlatformStateFile.Read(path);
        if (state is null)
        {
            return;
        }

        var time = TimeProvider.System;
        var processes = state.Services
            .SelectMany(s => s.Revisions)
            .SelectMany(r => r.Instances)
            .Select(i => new PersistedProcess(i.Pid, i.StartTicks))
            .Concat(state.RetiringHaproxy)
            .Append(state.Haproxy)
            .OfType<PersistedProcess>()
            .Where(p => p.Pid > 0);
        await Task.WhenAll(processes.Select(p => ProcFs.StopAsync(p.Pid, p.StartTicks, TimeSpan.FromSeconds(2), time)));
        if (state.SocketPath is not null)
        {
            DeleteSocket(state.SocketPath);
        }

        PlatformStateFile.Write(path, state with
        {
            Haproxy = null,
            RetiringHaproxy = [],
            Services = [.. state.Services.Select(s => s with { Revisions = [] })],
        });
    }

    /// <summary>The pids of HAProxy and of every instance, for tests and diagnostics.</summary>
    internal (int? Haproxy, IReadOnlyList<int> Instances) ProcessIds()
    {
        lock (_sync)
        {
            return (_haproxyProcess?.Pid, [.. _services.SelectMany(s => s.Instances).Select(i => i.Pid).Where(p => p > 0)]);
        }
    }

    internal string SocketPath => _socketPath;

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
        _healthClient.Dispose();
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

    private PersistedState Snapshot()
    {
        lock (_sync)
        {
            return new()
            {
        UdpPort = _requestLog?.Port ?? 0,
        SocketPath = _socketPath,
        Haproxy = _haproxyProcess is { } h ? new PersistedProcess(h.Pid, h.StartTicks) : null,
        RetiringHaproxy = [.. _retiringHaproxy],
        Services = [.. _services.Select(s => new PersistedService
        {
            Name = s.Name,
            ProductionListener = s.Production.Text,
            TestListener = s.Test?.Text,
            HealthCheck = s.HealthCheck,
            NextSlot = s.NextSlot,
            Slots = s.Slots,
            ProductionWeights = new Dictionary<int, int>(s.ProductionSplit),
            TestWeights = new Dictionary<int, int>(s.TestSplit),
            Revisions = [.. s.Revisions.Values.OrderBy(r => r.Number).Select(r => new PersistedRevision
            {
                Number = r.Number,
                DesiredCount = r.DesiredCount,
                Launch = r.Launch,
                Instances = [.. r.Instances.Where(i => !i.Stopping || i.Pid > 0).Select(i => new PersistedInstance
                {
                    Id = i.Id,
                    Slot = i.Slot,
                    Sequence = i.Sequence,
                    Port = i.Port,
                    Pid = i.Pid,
                    StartTicks = i.StartTicks,
                    Restarts = i.Restarts,
                    StartedAt = i.StartedAt,
                    LastError = i.LastError,
                })],
            })],
        })],
            };
        }
    }

    /// <summary>Rebuilds the model from platform.json: live instances are adopted, dead ones are due for a restart now.</summary>
    private List<PlatformEvent> Restore(PersistedState persisted)
    {
        var events = new List<PlatformEvent>();
        var now = _time.GetUtcNow();
        lock (_sync)
        {
            _retiringHaproxy.AddRange(persisted.RetiringHaproxy.Where(p => ProcFs.IsRunning(p.Pid, p.StartTicks)));
            foreach (var saved in persisted.Services)
            {
                var service = new ServiceState
                {
                    Name = saved.Name,
                    Production = ListenerAddress.Parse(saved.Name, "production", saved.ProductionListener),
                    Test = saved.TestListener is null ? null : ListenerAddress.Parse(saved.Name, "test", saved.TestListener),
                    HealthCheck = saved.HealthCheck,
                    NextSlot = saved.NextSlot,
                    Slots = Math.Clamp(saved.Slots, 1, HaproxyConfig.SlotsPerBackend),
                    ProductionSplit = new Dictionary<int, int>(saved.ProductionWeights),
                    TestSplit = new Dictionary<int, int>(saved.TestWeights),
                };
                foreach (var savedRevision in saved.Revisions)
                {
                    var revision = new RevisionState { Number = savedRevision.Number, Launch = savedRevision.Launch, DesiredCount = savedRevision.DesiredCount };
                    foreach (var savedInstance in savedRevision.Instances)
                    {
                        var alive = savedInstance.Pid > 0 && ProcFs.IsRunning(savedInstance.Pid, savedInstance.StartTicks);
                        var instance = new InstanceState
                        {
                            Id = savedInstance.Id,
                            Service = service.Name,
                            Revision = revision.Number,
                            Slot = savedInstance.Slot,
                            Sequence = savedInstance.Sequence,
                            LogPath = InstanceLogPath(service.Name, savedInstance.Id),
                            Port = savedInstance.Port,
                            Pid = alive ? savedInstance.Pid : 0,
                            StartTicks = alive ? savedInstance.StartTicks : 0,
                            Restarts = savedInstance.Restarts,
                            StartedAt = savedInstance.StartedAt,
                            LastError = alive ? savedInstance.LastError : "exited while Backstay was not running",
                            Health = alive ? InstanceHealth.Starting : InstanceHealth.Dead,
                            RestartAt = alive ? null : now,
                            NextCheckAt = now,
                        };
                        revision.Instances.Add(instance);
                        _nextSequence = Math.Max(_nextSequence, instance.Sequence + 1);
                        events.Add(alive
                            ? new PlatformEvent(service.Name, revision.Number, instance.Id, PlatformEventTypes.InstanceAdopted,
                                string.Create(CultureInfo.InvariantCulture, $"Adopted {instance.Id} (pid {instance.Pid}, port {instance.Port})."))
                            : new PlatformEvent(service.Name, revision.Number, instance.Id, PlatformEventTypes.InstanceDied,
                                $"{instance.Id} exited while Backstay was not running; restarting it.\n{ProcFs.Tail(instance.LogPath)}"));
                    }

                    service.Revisions[revision.Number] = revision;
                }

                _services.Add(service);
            }
        }

        return events;
    }

    private string InstanceLogPath(string service, string instanceId) => Path.Combine(_logDirectory, service, instanceId + ".log");

    /// <summary>The runtime socket goes in the state directory unless that path is too long for a unix socket (HAProxy adds a suffix while binding).</summary>
    private static string ChooseSocketPath(string localDirectory)
    {
        var path = Path.Combine(localDirectory, "haproxy.sock");
        if (path.Length <= 100)
        {
            return path;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(localDirectory)))[..12];
        return Path.Combine(Path.GetTempPath(), "backstay-" + hash, "haproxy.sock");
    }

    private static void DeleteSocket(string socketPath)
    {
        try
        {
            File.Delete(socketPath);
            var directory = Path.GetDirectoryName(socketPath);
            if (directory is not null
                && Path.GetFileName(directory).StartsWith("backstay-", StringComparison.Ordinal)
                && !Directory.EnumerateFileSystemEntries(directory).Any())
            {
                Directory.Delete(directory);
            }
        }
        catch (IOException)
        {
        }
    }
}
