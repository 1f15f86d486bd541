using System.Diagnostics;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Platform.Local;

/// <summary>A service on the local platform: its listeners, health check, revisions and traffic splits. Guarded by the platform's lock.</summary>
internal sealed class ServiceState
{
    public required string Name { get; init; }
    public required ListenerAddress Production { get; set; }
    public ListenerAddress? Test { get; set; }
    public required HealthCheckSpec HealthCheck { get; set; }
    public Dictionary<int, RevisionState> Revisions { get; } = [];
    public Dictionary<int, int> ProductionSplit { get; set; } = [];
    public Dictionary<int, int> TestSplit { get; set; } = [];
    public int NextSlot { get; set; } = 1;

    /// <summary>Server slots of its backends (HaproxyConfig.SlotsFor its instances; only grows).</summary>
    public int Slots { get; set; } = HaproxyConfig.SlotsPerBackend;

    public string ProductionBackend => Name + "_prod";
    public string TestBackend => Name + "_test";

    public IEnumerable<InstanceState> Instances => Revisions.Values.SelectMany(r => r.Instances);

    public Dictionary<int, int> Split(Listener listener) => listener == Listener.Production ? ProductionSplit : TestSplit;
}

/// <summary>The instances Backstay keeps running for one revision of a service.</summary>
internal sealed class RevisionState
{
    public required int Number { get; init; }
    public required LaunchSpec Launch { get; set; }
    public int DesiredCount { get; set; }
    public List<InstanceState> Instances { get; } = [];
}

/// <summary>One instance: a process on a loopback port, assigned to one HAProxy server slot of its service.</summary>
internal sealed class InstanceState
{
    public required string Id { get; init; }
    public required string Service { get; init; }
    public required int Revision { get; init; }
    public required int Slot { get; init; }
    public required long Sequence { get; init; }
    public required string LogPath { get; init; }
    public int Port { get; set; }
    public int Pid { get; set; }
    public long StartTicks { get; set; }
    public Process? Process { get; set; }
    public InstanceHealth Health { get; set; } = InstanceHealth.Starting;
    public int Passes { get; set; }
    public int Failures { get; set; }
    public bool CheckInFlight { get; set; }
    public DateTimeOffset NextCheckAt { get; set; }
    public int Restarts { get; set; }
    public int CrashesSinceHealthy { get; set; }
    public DateTimeOffset? RestartAt { get; set; }
    public string? LastError { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public bool Stopping { get; set; }

    /// <summary>Whether HAProxy may send it traffic: Backstay has seen it healthy and is not stopping it.</summary>
    public bool Serving => Health == InstanceHealth.Healthy && !Stopping && Pid > 0;
}
