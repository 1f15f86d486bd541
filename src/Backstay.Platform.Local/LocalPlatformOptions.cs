namespace Backstay.Platform.Local;

/// <summary>Settings of the local platform, fixed for the lifetime of one <see cref="LocalPlatform"/>.</summary>
public sealed record LocalPlatformOptions
{
    /// <summary>Directory for the platform's state, HAProxy files and instance logs, e.g. ".backstay".</summary>
    public required string StateDirectory { get; init; }

    /// <summary>The haproxy executable; null finds it on PATH or at /usr/sbin/haproxy.</summary>
    public string? HaproxyPath { get; init; }

    /// <summary>Images usable as "builtin:NAME": name to the path of a .dll run with dotnet.</summary>
    public IReadOnlyDictionary<string, string> BuiltinImages { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Called (on a background thread) for every <see cref="PlatformEvent"/>; must not block.</summary>
    public Action<PlatformEvent>? OnEvent { get; init; }

    /// <summary>How long a stopping instance gets between SIGTERM and SIGKILL.</summary>
    public TimeSpan StopGracePeriod { get; init; } = TimeSpan.FromSeconds(5);
}
