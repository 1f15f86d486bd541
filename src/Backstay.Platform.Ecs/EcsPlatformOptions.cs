using Backstay.Platform.Ecs.Aws;

namespace Backstay.Platform.Ecs;

/// <summary>
/// Settings of the ECS platform that are not (yet) in the spec: the region flag, AWS call limits, and what a service
/// Backstay creates from nothing runs on.
/// </summary>
public sealed record EcsPlatformOptions
{
    /// <summary>Region from the command line; the spec's region wins, the environment comes after.</summary>
    public string? Region { get; init; }

    /// <summary>Credentials; null uses the AWS SDK's default chain.</summary>
    public IAwsCredentialSource? Credentials { get; init; }

    /// <summary>Environment variables to read instead of the process's (AWS_REGION, AWS_ENDPOINT_URL, ...); for tests.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    public AwsClientOptions Aws { get; init; } = new();

    /// <summary>
    /// The minimum age of a read of a service (DescribeServices, with its task sets and deployments) and of its targets
    /// (DescribeTargetHealth): what is read right after a change Backstay makes (which clears both) or sees. A read about to
    /// be acted on (weights, drift checks) is never older than this.
    /// </summary>
    public TimeSpan SnapshotTtl { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The maximum age of those reads while nothing changes: each read that finds the service (or its targets) as it was
    /// doubles how long the next one waits, from <see cref="SnapshotTtl"/> up to this. A bake, a pause or a rollout ECS
    /// leaves waiting then costs three reads (the service, two target groups) per this interval, not per engine tick.
    /// </summary>
    public TimeSpan QuietReadInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long alarm states are reused. CloudWatch evaluates an alarm once per period (a minute for most).</summary>
    public TimeSpan AlarmsTtl { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Launch type of task sets of a service that has none yet to copy from: FARGATE or EC2.</summary>
    public string LaunchType { get; init; } = "FARGATE";

    /// <summary>Network mode of a task definition built from the spec; null: awsvpc on Fargate, bridge on EC2.</summary>
    public string? NetworkMode { get; init; }

    /// <summary>awsvpc subnets of task sets of a new service.</summary>
    public IReadOnlyList<string> Subnets { get; init; } = [];

    public IReadOnlyList<string> SecurityGroups { get; init; } = [];

    public bool AssignPublicIp { get; init; }

    /// <summary>Task size of a task definition built from the spec (Fargate sizes).</summary>
    public string Cpu { get; init; } = "256";

    public string Memory { get; init; } = "512";

    /// <summary>Execution role of a task definition built from the spec; needed to pull from private ECR on Fargate.</summary>
    public string? ExecutionRoleArn { get; init; }

    public string? TaskRoleArn { get; init; }

    /// <summary>
    /// How long CloudWatch figures are reused. ALB publishes them once a minute, one to three minutes late, so reading
    /// them on every analysis tick would only cost API calls.
    /// </summary>
    public TimeSpan MetricsTtl { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How far back the recent stopped tasks of a revision are read to explain why it is not healthy.</summary>
    public TimeSpan StoppedTaskCheckInterval { get; init; } = TimeSpan.FromSeconds(10);
}
