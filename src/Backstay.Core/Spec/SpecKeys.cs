namespace Backstay.Core.Spec;

/// <summary>The keys each mapping of backstay.yaml accepts; the loader, the JSON Schema test and docs/spec.md follow these lists.</summary>
internal static class SpecKeys
{
    public static readonly IReadOnlyList<string> Root =
        ["service", "platform", "task", "strategy", "analysis", "hooks", "rollback", "retention", "notifications"];

    public static readonly IReadOnlyList<string> Platform = ["local", "ecs"];

    public static readonly IReadOnlyList<string> LocalPlatform = ["instances", "listeners"];

    public static readonly IReadOnlyList<string> Listeners = ["production", "test"];

    public static readonly IReadOnlyList<string> EcsPlatform =
        ["cluster", "service", "region", "container", "desiredCount", "loadBalancer", "alarms", "launchType", "subnets", "securityGroups", "assignPublicIp", "cpu", "memory", "executionRoleArn", "taskRoleArn", "deploymentController"];

    public static readonly IReadOnlyList<string> LaunchTypes = ["FARGATE", "EC2"];

    public static readonly IReadOnlyList<string> DeploymentControllers = [EcsDeploymentControllers.Ecs, EcsDeploymentControllers.External];

    public static readonly IReadOnlyList<string> LoadBalancer = ["productionListener", "testListener", "targetGroups"];

    public static readonly IReadOnlyList<string> Task = ["image", "args", "port", "env", "startTimeout", "healthCheck"];

    public static readonly IReadOnlyList<string> HealthCheck =
        ["path", "interval", "timeout", "healthyThreshold", "unhealthyThreshold"];

    public static readonly IReadOnlyList<string> Strategy = ["rolling", "blueGreen", "canary", "linear", "phased"];

    public static readonly IReadOnlyList<string> Rolling = ["batch", "maxUnavailable"];

    public static readonly IReadOnlyList<string> BlueGreen = ["testTraffic", "bake", "keepPreviousFor"];

    public static readonly IReadOnlyList<string> Canary = ["steps"];

    public static readonly IReadOnlyList<string> CanaryStep = ["setWeight", "pause", "analysis"];

    public static readonly IReadOnlyList<string> PauseStep = ["duration"];

    public static readonly IReadOnlyList<string> Linear = ["stepPercent", "interval"];

    public static readonly IReadOnlyList<string> Phased = ["phases", "pauseBetween"];

    public static readonly IReadOnlyList<string> Analysis =
        ["window", "minRequests", "errorRate", "latency", "latencyP99", "latencyP90", "consecutiveFailures", "interval", "confidence",
         "onFailure", "pauseTimeout", "onPauseTimeout", "metrics"];

    /// <summary><c>analysis.metrics[]</c>: a custom metric read from one provider.</summary>
    public static readonly IReadOnlyList<string> Metric = ["name", "max", "min", "interval", "timeout", "dryRun", "prometheus", "web", "cloudWatch"];

    public static readonly IReadOnlyList<string> MetricProviderKeys = ["prometheus", "web", "cloudWatch"];

    public static readonly IReadOnlyList<string> PrometheusMetric = ["address", "query", "secretEnv"];

    public static readonly IReadOnlyList<string> WebMetric = ["url", "jsonPath", "secretEnv"];

    public static readonly IReadOnlyList<string> CloudWatchMetric = ["queries"];

    public static readonly IReadOnlyList<string> CloudWatchQuery = ["id", "expression", "namespace", "metricName", "dimensions", "stat", "period", "returnData"];

    public static readonly IReadOnlyList<string> Threshold = ["max", "dryRun"];

    public static readonly IReadOnlyList<string> ErrorRateThreshold = ["max", "maxIncrease", "dryRun"];

    /// <summary><c>analysis.latency</c>: the comparison of the new revision's latency with the stable revision's.</summary>
    public static readonly IReadOnlyList<string> LatencyComparison = ["maxIncrease", "dryRun"];

    /// <summary>What a failed analysis does (<c>analysis.onFailure</c>).</summary>
    public static readonly IReadOnlyList<string> AnalysisFailureActions = ["rollback", "pause"];

    /// <summary>Lifecycle stages, in the order a deployment passes them.</summary>
    public static readonly IReadOnlyList<string> HookStages =
    [
        "BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
        "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic", "Bake", "Cleanup",
    ];

    public static readonly IReadOnlyList<string> Hook = ["exec", "http", "pause"];

    public static readonly IReadOnlyList<string> ExecHook = ["command", "timeout"];

    public static readonly IReadOnlyList<string> HttpHook = ["url", "timeout", "secretEnv", "retries"];

    public static readonly IReadOnlyList<string> PauseHook = ["timeout", "onTimeout"];

    public static readonly IReadOnlyList<string> OnTimeoutActions = ["rollback", "continue"];

    public static readonly IReadOnlyList<string> Rollback = ["automatic", "allPhasesAtOnce"];

    public static readonly IReadOnlyList<string> Retention = ["keepPrevious"];

    public static readonly IReadOnlyList<string> Notification = ["url", "format", "secretEnv", "events"];

    public static readonly IReadOnlyList<string> NotificationFormats = ["json", "slack"];

    public static readonly IReadOnlyList<string> NotificationEvents = ["started", "paused", "succeeded", "rolledBack", "failed", "stopped"];

    /// <summary>The keys of a release file (release.yaml, docs/releases.md) and of each of its services.</summary>
    public static readonly IReadOnlyList<string> ReleaseRoot = ["release", "services", "onFailure"];

    public static readonly IReadOnlyList<string> ReleaseService = ["spec", "image", "env", "dependsOn"];

    public static readonly IReadOnlyList<string> ReleaseOnFailure = ["rollbackAll", "rollbackFailed", "pause"];

    public static string Join(IEnumerable<string> keys) => string.Join(", ", keys);
}
