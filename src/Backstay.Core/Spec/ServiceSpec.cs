using System.Text.Json.Serialization;

namespace Backstay.Core.Spec;

/// <summary>A parsed and validated backstay.yaml.</summary>
public sealed record ServiceSpec
{
    public required string Service { get; init; }
    public required PlatformSpec Platform { get; init; }
    public required TaskSpec Task { get; init; }
    public StrategySpec Strategy { get; set; } = new() { Rolling = new RollingSpec() };
    public AnalysisSpec Analysis { get; set; } = new();
    public IReadOnlyDictionary<string, IReadOnlyList<HookSpec>> Hooks { get; set; } = new Dictionary<string, IReadOnlyList<HookSpec>>();
    public RollbackSpec Rollback { get; set; } = new();
    public RetentionSpec Retention { get; set; } = new();
    public IReadOnlyList<NotificationSpec> Notifications { get; set; } = [];

    /// <summary>The file the spec was read from, when it was read from one.</summary>
    [JsonIgnore]
    public string? SourcePath { get; init; }

    /// <summary>Directory of the spec file: exec hooks and relative images are resolved from it, also in a controller.</summary>
    public string? BaseDirectory { get; init; }
}

/// <summary>Which platform runs the service; exactly one of the members is set.</summary>
public sealed record PlatformSpec
{
    /// <summary>The <see cref="Kind"/> of a service on the built-in local runtime.</summary>
    public const string LocalKind = "local";

    /// <summary>The <see cref="Kind"/> of a service on Amazon ECS.</summary>
    public const string EcsKind = "ecs";

    public LocalPlatformSpec? Local { get; init; }
    public EcsPlatformSpec? Ecs { get; init; }

    [JsonIgnore]
    public string Kind => Local is not null ? LocalKind : EcsKind;

    /// <summary>How many instances (tasks) of a revision serve when it is stable.</summary>
    [JsonIgnore]
    public int Instances => Local?.Instances ?? Ecs?.DesiredCount ?? 1;

    // What the engine needs to know about a platform, asked as capabilities rather than by name.

    /// <summary>The service has a test listener that test traffic steps can point at a revision.</summary>
    [JsonIgnore]
    public bool HasTestListener => Local?.TestListener is not null || Ecs?.LoadBalancer?.TestListener is not null;

    /// <summary>The platform rolls a rolling strategy out itself (ECS's own deployment controller); Backstay follows and judges it.</summary>
    [JsonIgnore]
    public bool RollsOutNatively => Ecs is { NativeRolling: true };

    /// <summary>What runs on the platform but not in Backstay's record can be read back (`backstay import`).</summary>
    [JsonIgnore]
    public bool CanImport => Ecs is not null;
}

/// <summary>The built-in local runtime: processes on loopback behind HAProxy.</summary>
public sealed record LocalPlatformSpec
{
    public int Instances { get; set; } = 3;

    /// <summary>Address of the production listener, host:port.</summary>
    public string ProductionListener { get; set; } = "127.0.0.1:8080";

    /// <summary>Address of the test listener, host:port, or null for none.</summary>
    public string? TestListener { get; init; }
}

/// <summary>An Amazon ECS service (built in the ECS platform issue).</summary>
public sealed record EcsPlatformSpec
{
    public required string Cluster { get; init; }
    public string? Service { get; init; }
    public string? Region { get; init; }
    public string? Container { get; init; }
    public int DesiredCount { get; set; } = 1;
    public EcsLoadBalancerSpec? LoadBalancer { get; init; }
    public IReadOnlyList<string> Alarms { get; set; } = [];

    /// <summary>FARGATE or EC2, for a service Backstay creates; null: the platform's default (FARGATE).</summary>
    public string? LaunchType { get; init; }

    /// <summary>awsvpc subnets and security groups of a service Backstay creates.</summary>
    public IReadOnlyList<string> Subnets { get; set; } = [];

    public IReadOnlyList<string> SecurityGroups { get; set; } = [];

    public bool AssignPublicIp { get; init; }

    /// <summary>Task size of a task definition built from the spec (Fargate sizes such as "256" and "512").</summary>
    public string? Cpu { get; init; }

    public string? Memory { get; init; }

    public string? ExecutionRoleArn { get; init; }

    public string? TaskRoleArn { get; init; }

    /// <summary>EXTERNAL (task sets, every strategy) or ECS (ECS runs a rolling update itself; strategy rolling only).</summary>
    public string DeploymentController { get; set; } = EcsDeploymentControllers.External;

    /// <summary>True when ECS's own deployment controller rolls revisions out and Backstay follows it.</summary>
    [JsonIgnore]
    public bool NativeRolling => DeploymentController == EcsDeploymentControllers.Ecs;
}

/// <summary>The values of platform.ecs.deploymentController.</summary>
public static class EcsDeploymentControllers
{
    public const string External = "EXTERNAL";
    public const string Ecs = "ECS";
}

/// <summary>The ALB listeners and target groups of an ECS service.</summary>
public sealed record EcsLoadBalancerSpec
{
    public required string ProductionListener { get; init; }
    public string? TestListener { get; init; }
    public IReadOnlyList<string> TargetGroups { get; set; } = [];
}

/// <summary>What runs: image, port, environment, health check.</summary>
public sealed record TaskSpec
{
    /// <summary>Local: a path to an executable or .dll (relative to the spec file) or "builtin:hello"; ECS: a container image.</summary>
    public required string Image { get; init; }
    public IReadOnlyList<string> Args { get; set; } = [];
    public int Port { get; set; } = 8080;
    public IReadOnlyDictionary<string, string> Env { get; set; } = new Dictionary<string, string>();
    public HealthCheckSpec HealthCheck { get; set; } = new();

    /// <summary>How long a new instance may take to become healthy before the deployment fails.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>HTTP health check of each instance.</summary>
public sealed record HealthCheckSpec
{
    public string Path { get; set; } = "/healthz";
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMilliseconds(500);
    public int HealthyThreshold { get; set; } = 2;
    public int UnhealthyThreshold { get; set; } = 3;
}

/// <summary>How a deployment moves traffic; exactly one member is set.</summary>
public sealed record StrategySpec
{
    public RollingSpec? Rolling { get; init; }
    public BlueGreenSpec? BlueGreen { get; init; }
    public CanarySpec? Canary { get; init; }
    public LinearSpec? Linear { get; init; }
    public PhasedSpec? Phased { get; init; }

    [JsonIgnore]
    public string Kind => BlueGreen is not null ? "blueGreen"
        : Canary is not null ? "canary"
        : Linear is not null ? "linear"
        : Phased is not null ? "phased"
        : "rolling";
}

/// <summary>Replace instances in health-gated batches.</summary>
public sealed record RollingSpec
{
    public int Batch { get; set; } = 1;
    public int MaxUnavailable { get; init; }
}

/// <summary>Replacement set behind the test listener, then all traffic at once.</summary>
public sealed record BlueGreenSpec
{
    public bool TestTraffic { get; set; } = true;

    /// <summary>Time the new revision serves all production traffic, watched by analysis, before the deployment succeeds.</summary>
    public TimeSpan Bake { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the previous set stays warm (at weight 0) so a rollback is one switch.</summary>
    public TimeSpan KeepPreviousFor { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>Explicit traffic steps.</summary>
public sealed record CanarySpec
{
    public IReadOnlyList<CanaryStep> Steps { get; set; } = [];
}

/// <summary>Equal traffic increments at a fixed interval.</summary>
public sealed record LinearSpec
{
    public int StepPercent { get; set; } = 10;
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>Instance-count phases in percent of the desired count; percentages only grow.</summary>
public sealed record PhasedSpec
{
    public IReadOnlyList<int> Phases { get; set; } = [];
    public TimeSpan PauseBetween { get; set; } = TimeSpan.Zero;
}

/// <summary>One step of a canary.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(SetWeightStep), "setWeight")]
[JsonDerivedType(typeof(PauseStep), "pause")]
[JsonDerivedType(typeof(AnalysisStep), "analysis")]
public abstract record CanaryStep;

/// <summary>Send this percentage of production traffic to the new revision.</summary>
public sealed record SetWeightStep(int Weight) : CanaryStep;

/// <summary>Wait for a duration, or until continued when Duration is null.</summary>
public sealed record PauseStep(TimeSpan? Duration) : CanaryStep;

/// <summary>Judge the new revision over a window before going on.</summary>
public sealed record AnalysisStep(AnalysisSpec Analysis) : CanaryStep;

/// <summary>How the new revision is judged from its own traffic.</summary>
public sealed record AnalysisSpec
{
    /// <summary>Sliding window the figures are taken over.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Requests the revision must have served in the window before it may be failed.</summary>
    public int MinRequests { get; set; } = 20;

    /// <summary>Highest acceptable error rate (0..1), or null to not judge errors.</summary>
    public double? MaxErrorRate { get; set; } = 0.05;

    /// <summary>
    /// How much higher than the stable revision's error rate, over the same window, the new revision's may be
    /// (<c>errorRate.maxIncrease</c>: <c>+1%</c> or <c>2x</c>); null to judge the new revision on its own.
    /// </summary>
    public ErrorRateIncrease? MaxErrorRateIncrease { get; init; }

    /// <summary>Confidence of the comparison with the stable revision, held across all its looks (0.95: at most 5% false rollbacks).</summary>
    public double Confidence { get; set; } = 0.95;

    public TimeSpan? MaxLatencyP99 { get; init; }

    public TimeSpan? MaxLatencyP90 { get; init; }

    /// <summary>
    /// How much slower than the stable revision, over the same window, the new revision may be (<c>latency.maxIncrease</c>);
    /// null to not compare latency.
    /// </summary>
    public TimeSpan? MaxLatencyIncrease { get; init; }

    /// <summary>The checks measured and shown but never acted on (their <c>dryRun: true</c>): errorRate, latency, latencyP99, latencyP90.</summary>
    public IReadOnlyList<string> DryRun { get; set; } = [];

    /// <summary>What a failed analysis does: <c>rollback</c> (default) or <c>pause</c> (hold traffic where it is and wait for a person).</summary>
    public string OnFailure { get; set; } = AnalysisFailure.Rollback;

    /// <summary>With <c>onFailure: pause</c>, how long to wait for a person.</summary>
    public TimeSpan PauseTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>With <c>onFailure: pause</c>, what happens when nobody answered in time: <c>rollback</c> (default) or <c>continue</c>.</summary>
    public string OnPauseTimeout { get; set; } = AnalysisFailure.Rollback;

    /// <summary>Consecutive bad evaluations needed to fail the revision.</summary>
    public int ConsecutiveFailures { get; set; } = 2;

    /// <summary>How often the figures are evaluated.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Metrics read from a provider (Prometheus, CloudWatch, a web endpoint) besides the built-in per-request figures.</summary>
    public IReadOnlyList<MetricSpec> Metrics { get; set; } = [];

    /// <summary>Equal settings, the lists compared by their items (a plan read back from JSON equals the one written).</summary>
    public bool Equals(AnalysisSpec? other) =>
        other is not null
        && (Window, MinRequests, MaxErrorRate, MaxErrorRateIncrease, Confidence, MaxLatencyP99, MaxLatencyP90, MaxLatencyIncrease)
            == (other.Window, other.MinRequests, other.MaxErrorRate, other.MaxErrorRateIncrease, other.Confidence, other.MaxLatencyP99, other.MaxLatencyP90, other.MaxLatencyIncrease)
        && (OnFailure, PauseTimeout, OnPauseTimeout, ConsecutiveFailures, Interval)
            == (other.OnFailure, other.PauseTimeout, other.OnPauseTimeout, other.ConsecutiveFailures, other.Interval)
        && DryRun.SequenceEqual(other.DryRun)
        && Metrics.SequenceEqual(other.Metrics);

    public override int GetHashCode() => HashCode.Combine(Window, MinRequests, MaxErrorRate, MaxLatencyIncrease, OnFailure, DryRun.Count, Metrics.Count);
}

/// <summary>The answers to a failed analysis (<c>analysis.onFailure</c>, <c>analysis.onPauseTimeout</c>).</summary>
public static class AnalysisFailure
{
    public const string Rollback = "rollback";
    public const string Pause = "pause";
    public const string Continue = "continue";
}

/// <summary>A lifecycle hook (run by the hooks issue; parsed and validated here).</summary>
public sealed record HookSpec
{
    public ExecHookSpec? Exec { get; init; }
    public HttpHookSpec? Http { get; init; }
    public PauseHookSpec? Pause { get; init; }
}

public sealed record ExecHookSpec
{
    public required IReadOnlyList<string> Command { get; init; }
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(5);
}

public sealed record HttpHookSpec
{
    public required string Url { get; init; }
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
    public string? SecretEnv { get; init; }
    public int Retries { get; set; } = 2;
}

public sealed record PauseHookSpec
{
    public TimeSpan Timeout { get; set; } = TimeSpan.FromHours(1);
    public string OnTimeout { get; set; } = "rollback";
}

/// <summary>Rollback behaviour.</summary>
public sealed record RollbackSpec
{
    public bool Automatic { get; set; } = true;
    public bool AllPhasesAtOnce { get; init; }
}

/// <summary>How many previous revisions are kept.</summary>
public sealed record RetentionSpec
{
    public int KeepPrevious { get; set; } = 3;
}

/// <summary>A webhook told when a deployment starts, pauses, succeeds, is rolled back, fails or stops.</summary>
public sealed record NotificationSpec
{
    public required string Url { get; init; }

    /// <summary>json (Backstay's event document) or slack (a Slack-compatible incoming-webhook payload).</summary>
    public string Format { get; set; } = "json";

    /// <summary>Environment variable holding the HMAC-SHA256 secret the body is signed with, if any.</summary>
    public string? SecretEnv { get; init; }

    public IReadOnlyList<string> Events { get; set; } = ["started", "paused", "succeeded", "rolledBack", "failed", "stopped"];
}
