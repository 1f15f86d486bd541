using Backstay.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Backstay.Cli.Runtime;

/// <summary>What a <see cref="BackstayRuntime"/> is made of; everything not asked for is not made.</summary>
internal sealed record BackstayRuntimeOptions
{
    public required RuntimeStore Store { get; init; }

    /// <summary>
    /// Runs the local platform (processes and HAProxy) in the SQLite store's state directory and restores its services
    /// to their records. Its instances live on this machine, so it needs that store: never a shared one.
    /// </summary>
    public bool LocalPlatform { get; init; }

    /// <summary>Logs what the local platform does on its own and records its HAProxy restarts in the services' timelines (the controller).</summary>
    public bool RecordPlatformEvents { get; init; }

    /// <summary>Runs Amazon ECS, with the AWS credentials of this process.</summary>
    public bool Ecs { get; init; }

    /// <summary>AWS region of ECS and ECR where the spec names none.</summary>
    public string? Region { get; init; }

    /// <summary>Who the deployment engine runs deployments as (its lease owner); null makes no engine.</summary>
    public string? EngineOwner { get; init; }

    /// <summary>How long the engine's hold on a service lasts unless renewed; null for the engine's default.</summary>
    public TimeSpan? LeaseTtl { get; init; }

    /// <summary>Whether a controller runs the recorded deployments, as the control plane reports it.</summary>
    public Func<bool> ControllerRunning { get; init; } = () => true;

    /// <summary>The engine's and the local platform's log; null logs nothing.</summary>
    public ILogger? Log { get; init; }

    /// <summary>The ECS platform's log (AWS calls retried, auto scaling left suspended); null logs nothing.</summary>
    public ILogger? EcsLog { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>Where a runtime keeps its state.</summary>
internal abstract record RuntimeStore
{
    private RuntimeStore()
    {
    }

    /// <summary>SQLite in a state directory, created owner-only when missing.</summary>
    public sealed record Sqlite(string StateDirectory) : RuntimeStore;

    /// <summary>PostgreSQL, shared by replicas of the controller, possibly on several machines.</summary>
    public sealed record Postgres(string ConnectionString) : RuntimeStore
    {
        // The connection string may carry a password.
        public override string ToString() => "PostgreSQL";
    }

    /// <summary>A store opened by someone else, who keeps disposing it.</summary>
    public sealed record Borrowed(IStateStore Store) : RuntimeStore;
}
