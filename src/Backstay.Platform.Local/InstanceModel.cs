// The instance model: services, revisions and instances as the instance supervisor keeps them, their state changes
// (a process attached, a death, a health-check result) and their platform.json form. Plain classes changed in place,
// so every member here is used only under InstanceSupervisor's lock; none of them waits or calls out.
using System.Diagnostics;

namespace Backstay.Platform.Local;

/// <summary>The instances of one service, by revision, and where its next instance goes.</summary>
internal sealed class ServiceInstances
{
    public required string Name { get; init; }
    public Dictionary<int, RevisionState> Revisions { get; } = [];
    public int NextSlot { get; set; } = 1;

    public IEnumerable<InstanceState> Instances => Revisions.Values.SelectMany(r => r.Instances);

    /// <summary>A service recorded in platform.json, with an event for each of its instances: adopted, or found dead.</summary>
    public static ServiceInstances FromPersisted(PersistedService saved, string logDirectory, DateTimeOffset now, List<PlatformEvent> events)
    {
        var service = new ServiceInstances { Name = saved.Name, NextSlot = saved.NextSlot };
        foreach (var savedRevision in saved.Revisions)
        {
            var revision = new RevisionState { Number = savedRevision.Number, Launch = savedRevision.Launch, DesiredCount = savedRevision.DesiredCount };
            foreach (var savedInstance in savedRevision.Instances)
            {
                var instance = InstanceState.FromPersisted(savedInstance, service.Name, revision.Number, InstanceState.LogPathIn(logDirectory, service.Name, savedInstance.Id), now);
                revision.Instances.Add(instance);
                events.Add(instance.Pid > 0
                    ? new PlatformEvent(service.Name, revision.Number, instance.Id, PlatformEventTypes.InstanceAdopted,
                        string.Create(CultureInfo.InvariantCulture, $"Adopted {instance.Id} (pid {instance.Pid}, port {instance.Port})."))
                    : new PlatformEvent(service.Name, revision.Number, instance.Id, PlatformEventTypes.InstanceDied,
                        $"{instance.Id} exited while Backstay was not running; restarting it.\n{ProcFs.Tail(instance.LogPath)}"));
            }

            service.Revisions[revision.Number] = revision;
        }

        return service;
    }

    /// <summary>A free server slot of the service's backends, of the given count; fails naming the limit when all are taken.</summary>
    public int AllocateSlot(int slots)
    {
        var used = Instances.Select(i => i.Slot).ToHashSet();
        for (var i = 0; i < slots; i++)
        {
            // Round robin, so a slot just freed is not reused while HAProxy may still log its last requests.
            var slot = ((NextSlot - 1 + i) % slots) + 1;
            if (!used.Contains(slot))
            {
                NextSlot = (slot % slots) + 1;
                return slot;
            }
        }

        throw new PlatformException(
            $"Service '{Name}' already has {slots} instances, all its load-balancer slots (three times platform.local.instances, plus two); scale a revision down first, or raise instances.");
    }

    public string NewInstanceId(int revision)
    {
        while (true)
        {
            // Instance ids only need to be distinct, not secret.
            var suffix = Random.Shared.Next(0x10000).ToString("x4", CultureInfo.InvariantCulture);
            var id = string.Create(CultureInfo.InvariantCulture, $"{Name}-r{revision}-{suffix}");
            if (!Instances.Any(i => i.Id == id))
            {
                return id;
            }
        }
    }

    /// <summary>Its revisions that have instances or want some, as the compute port reports them; stopping instances are left out.</summary>
    public IReadOnlyList<InstanceSet> ToSets() =>
    [
        .. Revisions.Values
            .Where(r => r.DesiredCount > 0 || r.Instances.Any(i => !i.Stopping))
            .OrderBy(r => r.Number)
            .Select(r => new InstanceSet
            {
                Service = Name,
                Revision = r.Number,
                DesiredCount = r.DesiredCount,
                Instances = [.. r.Instances.Where(i => !i.Stopping).OrderBy(i => i.Sequence).Select(i => i.ToStatus())],
            }),
    ];

    /// <summary>The service's platform.json entry with its revisions and next slot added.</summary>
    public PersistedService ToPersisted(PersistedService route) => route with
    {
        NextSlot = NextSlot,
        Revisions = [.. Revisions.Values.OrderBy(r => r.Number).Select(r => new PersistedRevision
        {
            Number = r.Number,
            DesiredCount = r.DesiredCount,
            Launch = r.Launch,
            Instances = [.. r.Instances.Where(i => !i.Stopping || i.Pid > 0).Select(i => i.ToPersisted())],
        })],
    };
}

/// <summary>Where an instance sits in its service's backends, as the HAProxy runtime needs it to set the servers.</summary>
internal readonly record struct Placement(int Slot, int Port, int Revision, long Sequence, bool Serving);

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
    /// <summary>Starting instances are probed at least this often until their first passing check, so a fast starter is seen at once.</summary>
    private static readonly TimeSpan StartingProbeInterval = TimeSpan.FromMilliseconds(200);

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

    /// <summary>Where the instance's output goes: logs/SERVICE/INSTANCE-ID.log, appended across restarts.</summary>
    public static string LogPathIn(string logDirectory, string service, string instanceId) => Path.Combine(logDirectory, service, instanceId + ".log");

    /// <summary>An instance recorded in platform.json: adopted when its process still runs, else due for a restart now.</summary>
    public static InstanceState FromPersisted(PersistedInstance saved, string service, int revision, string logPath, DateTimeOffset now)
    {
        var alive = saved.Pid > 0 && ProcFs.IsRunning(saved.Pid, saved.StartTicks);
        return new InstanceState
        {
            Id = saved.Id,
            Service = service,
            Revision = revision,
            Slot = saved.Slot,
            Sequence = saved.Sequence,
            LogPath = logPath,
            Port = saved.Port,
            Pid = alive ? saved.Pid : 0,
            StartTicks = alive ? saved.StartTicks : 0,
            Restarts = saved.Restarts,
            StartedAt = saved.StartedAt,
            LastError = alive ? saved.LastError : "exited while Backstay was not running",
            Health = alive ? InstanceHealth.Starting : InstanceHealth.Dead,
            RestartAt = alive ? null : now,
            NextCheckAt = now,
        };
    }

    public PersistedInstance ToPersisted() => new()
    {
        Id = Id,
        Slot = Slot,
        Sequence = Sequence,
        Port = Port,
        Pid = Pid,
        StartTicks = StartTicks,
        Restarts = Restarts,
        StartedAt = StartedAt,
        LastError = LastError,
    };

    public InstanceStatus ToStatus() => new()
    {
        Id = Id,
        Revision = Revision,
        Health = Health,
        Address = Port > 0 ? string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}") : null,
        Restarts = Restarts,
        LastError = LastError,
        StartedAt = StartedAt,
    };

    /// <summary>A newly started process becomes the instance; it starts unproven and is checked at once.</summary>
    public void Attach(LaunchedProcess launched, int port, DateTimeOffset now)
    {
        Pid = launched.Pid;
        StartTicks = launched.StartTicks;
        Process = launched.Process;
        Port = port;
        Health = InstanceHealth.Starting;
        Passes = 0;
        Failures = 0;
        RestartAt = null;
        StartedAt = now;
        NextCheckAt = StartedAt;
    }

    /// <summary>The process is gone: one more crash since it was last healthy, and a restart after the back-off.</summary>
    public void MarkDead(DateTimeOffset now)
    {
        Health = InstanceHealth.Dead;
        Passes = 0;
        Failures = 0;
        CheckInFlight = false;
        CrashesSinceHealthy++;
        RestartAt = now + RestartBackoff.After(CrashesSinceHealthy);
        Process = null;
        Pid = 0;
    }

    /// <summary>Counts a check against the thresholds and schedules the next; returns the event when the health changed.</summary>
    public PlatformEvent? RecordCheck(bool passed, string? error, HealthCheckSpec healthCheck, DateTimeOffset now)
    {
        PlatformEvent? change = null;
        if (passed)
        {
            Passes++;
            Failures = 0;
            if (Health != InstanceHealth.Healthy && Passes >= healthCheck.HealthyThreshold)
            {
                Health = InstanceHealth.Healthy;
                CrashesSinceHealthy = 0;
                LastError = null;
                change = new PlatformEvent(Service, Revision, Id, PlatformEventTypes.InstanceHealthy,
                    string.Create(CultureInfo.InvariantCulture, $"{Id} is healthy on port {Port}."));
            }
        }
        else
        {
            Failures++;
            Passes = 0;
            LastError = error;
            if (Health == InstanceHealth.Healthy && Failures >= healthCheck.UnhealthyThreshold)
            {
                Health = InstanceHealth.Unhealthy;
                change = new PlatformEvent(Service, Revision, Id, PlatformEventTypes.InstanceUnhealthy, $"{Id} is unhealthy: {error}.");
            }
        }

        var interval = Health == InstanceHealth.Starting && Passes == 0 && healthCheck.Interval > StartingProbeInterval
            ? StartingProbeInterval
            : healthCheck.Interval;
        NextCheckAt = now + interval;
        return change;
    }
}
