namespace Backstay.Platform.Local;

/// <summary>Something the local platform noticed or did on its own: an instance died or was restarted, HAProxy was restarted, a loop failed.</summary>
public sealed record PlatformEvent(string Service, int? Revision, string? InstanceId, string Type, string Message)
{
    /// <summary>When it happened.</summary>
    public DateTimeOffset At { get; init; }

    /// <summary>For a HAProxy restart: how long its listeners served nothing, from its death (or the last time it was seen alive) until the new process served.</summary>
    public TimeSpan? Gap { get; init; }

    /// <summary>For a HAProxy restart: the services whose listeners it carries.</summary>
    public IReadOnlyList<string> Services { get; init; } = [];

    /// <summary>For a HAProxy restart: the pid that died and the pid that replaced it.</summary>
    public (int Died, int Started)? Pids { get; init; }
}

/// <summary>The values of <see cref="PlatformEvent.Type"/>.</summary>
public static class PlatformEventTypes
{
    public const string InstanceHealthy = "instance.healthy";
    public const string InstanceUnhealthy = "instance.unhealthy";
    public const string InstanceDied = "instance.died";
    public const string InstanceRestarted = "instance.restarted";
    public const string InstanceStartFailed = "instance.start-failed";
    public const string InstanceAdopted = "instance.adopted";
    public const string HaproxyStarted = "haproxy.started";
    public const string HaproxyReloaded = "haproxy.reloaded";
    public const string HaproxyAdopted = "haproxy.adopted";
    public const string HaproxyDied = "haproxy.died";
    public const string HaproxyRestarted = "haproxy.restarted";
    public const string HaproxyCommandFailed = "haproxy.command-failed";
    public const string LoopError = "loop.error";
    public const string LoopStopped = "loop.stopped";
}
