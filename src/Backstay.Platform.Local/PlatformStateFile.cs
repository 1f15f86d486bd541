using System.Text.Json;
using System.Text.Json.Serialization;
using Backstay.Core.Model;

namespace Backstay.Platform.Local;

/// <summary>platform.json: what a later Backstay process needs to adopt (or clean up) the processes this one started.</summary>
internal sealed record PersistedState
{
    public int Version { get; set; } = 1;
    public int UdpPort { get; init; }
    public string? SocketPath { get; init; }
    public PersistedProcess? Haproxy { get; init; }

    /// <summary>HAProxy processes replaced by a reload that may still be finishing their connections.</summary>
    public IReadOnlyList<PersistedProcess> RetiringHaproxy { get; set; } = [];
    public IReadOnlyList<PersistedService> Services { get; set; } = [];
}

internal sealed record PersistedProcess(int Pid, long StartTicks);

internal sealed record PersistedService
{
    public required string Name { get; init; }
    public required string ProductionListener { get; init; }
    public string? TestListener { get; init; }
    public HealthCheckSpec HealthCheck { get; set; } = new();
    public int NextSlot { get; set; } = 1;

    /// <summary>Server slots of the service's backends; files written before slots were sized hold none, meaning all 64.</summary>
    public int Slots { get; set; } = HaproxyConfig.SlotsPerBackend;
    public IReadOnlyDictionary<int, int> ProductionWeights { get; set; } = new Dictionary<int, int>();
    public IReadOnlyDictionary<int, int> TestWeights { get; set; } = new Dictionary<int, int>();
    public IReadOnlyList<PersistedRevision> Revisions { get; set; } = [];
}

internal sealed record PersistedRevision
{
    public int Number { get; init; }
    public int DesiredCount { get; init; }
    public required LaunchSpec Launch { get; init; }
    public IReadOnlyList<PersistedInstance> Instances { get; set; } = [];
}

internal sealed record PersistedInstance
{
    public required string Id { get; init; }
    public int Slot { get; init; }
    public long Sequence { get; init; }
    public int Port { get; init; }
    public int Pid { get; init; }
    public long StartTicks { get; init; }
    public int Restarts { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public string? LastError { get; init; }
}

/// <summary>Reads and atomically writes platform.json.</summary>
/// <remarks>
/// An instance saves one platform's state: it owns the file and the lock that keeps a write from going back in time.
/// The snapshot is taken inside that lock, so the file lock comes before the locks the snapshot takes (the instance
/// supervisor's); nobody saves while holding one of those.
/// </remarks>
internal sealed class PlatformStateFile(string path, Func<PersistedState> snapshot)
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, TypeInfoResolver = LocalJsonContext.Default };

    private readonly Lock _lock = new();
    private long _requested;
    private long _written;

    public string Path { get; } = path;

    /// <summary>
    /// Writes what the platform holds now. Saves that queue up behind one write are done by the next: a snapshot taken
    /// after a request already holds that request's change.
    /// </summary>
    public void Save()
    {
        var request = Interlocked.Increment(ref _requested);
        lock (_lock)
        {
            if (request <= _written)
            {
                return;
            }

            var covered = Interlocked.Read(ref _requested);
            Write(Path, snapshot());
            _written = covered;
        }
    }

    public static string PathIn(string stateDirectory) => System.IO.Path.Combine(stateDirectory, "local", "platform.json");

    public static PersistedState? Read(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return BackstayJson.Deserialize<PersistedState>(File.ReadAllText(path), JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new PlatformException($"{path} is not readable ({ex.Message}); stop what it started by hand and delete it, or run `backstay serve --clean`.", ex);
        }
    }

    /// <summary>Stops every process the state directory's platform.json records (instances and HAProxy) and clears them from it.</summary>
    public static async Task StopRecordedAsync(string stateDirectory)
    {
        var path = PathIn(System.IO.Path.GetFullPath(stateDirectory));
        var state = Read(path);
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
            HaproxyFiles.DeleteSocket(state.SocketPath);
        }

        Write(path, state with
        {
            Haproxy = null,
            RetiringHaproxy = [],
            Services = [.. state.Services.Select(s => s with { Revisions = [] })],
        });
    }

    /// <summary>Writes platform.json and, beside it, the Prometheus targets that follow from it (<see cref="PrometheusTargets"/>).</summary>
    public static void Write(string path, PersistedState state)
    {
        Replace(path, BackstayJson.Serialize(state, JsonOptions));
        Replace(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path)!, PrometheusTargets.FileName), PrometheusTargets.Render(state));
    }

    /// <summary>
    /// Writes to a temporary file and renames it over the old one, so a crash never leaves half a file and a reader
    /// (Prometheus) never sees one. UTF-8 without a byte-order mark, which Prometheus's JSON reader refuses.
    /// </summary>
    private static void Replace(string path, string content)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, content);
        File.Move(temp, path, overwrite: true);
    }
}

/// <summary>platform.json's contract, generated at build time: names as declared, enums as numbers, as the file always had them.</summary>
[JsonSerializable(typeof(PersistedState))]
internal sealed partial class LocalJsonContext : JsonSerializerContext;
