// Over 400 lines on purpose: the ECS API's request and response shapes Backstay uses, as data only, in one file.
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Backstay.Platform.Ecs.Aws.Ecs;

// Request and answer shapes of the ECS operations Backstay calls, named as in the AWS SDK for .NET (Amazon.ECS.Model)
// so that moving to AWSSDK.ECS later is mechanical. Members Backstay does not read are left out, except where a
// definition is copied whole (task definitions), which keep every other member in ExtensionData.

internal sealed record Tag(string Key, string Value);

internal sealed record Failure
{
    public string? Arn { get; init; }
    public string? Reason { get; init; }
    public string? Detail { get; init; }
}

internal sealed record DeploymentController
{
    public string? Type { get; init; }
}

internal sealed record Scale
{
    public double Value { get; init; }
    public string Unit { get; set; } = "PERCENT";
}

internal sealed record LoadBalancer
{
    public string? TargetGroupArn { get; init; }
    public string? LoadBalancerName { get; init; }
    public string? ContainerName { get; init; }
    public int? ContainerPort { get; init; }
}

internal sealed record AwsVpcConfiguration
{
    public IReadOnlyList<string>? Subnets { get; init; }
    public IReadOnlyList<string>? SecurityGroups { get; init; }
    public string? AssignPublicIp { get; init; }
}

internal sealed record NetworkConfiguration
{
    public AwsVpcConfiguration? AwsvpcConfiguration { get; init; }
}

internal sealed record CapacityProviderStrategyItem
{
    public string? CapacityProvider { get; init; }
    public int? Weight { get; init; }
    public int? Base { get; init; }
}

internal sealed record DeploymentCircuitBreaker
{
    public bool Enable { get; init; }
    public bool Rollback { get; init; }
}

internal sealed record DeploymentConfiguration
{
    public DeploymentCircuitBreaker? DeploymentCircuitBreaker { get; init; }
    public int? MaximumPercent { get; init; }
    public int? MinimumHealthyPercent { get; init; }
}

/// <summary>One deployment of a service under the ECS (rolling) controller.</summary>
internal sealed record Deployment
{
    public string? Id { get; init; }
    public string? Status { get; init; }
    public string? TaskDefinition { get; init; }
    public int DesiredCount { get; init; }
    public int PendingCount { get; init; }
    public int RunningCount { get; init; }
    public int FailedTasks { get; init; }
    public string? RolloutState { get; init; }
    public string? RolloutStateReason { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
    public DateTimeOffset? UpdatedAt { get; init; }
}

internal sealed record ServiceEvent
{
    public string? Id { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
    public string? Message { get; init; }
}

internal sealed record TaskSet
{
    public string? Id { get; init; }
    public string? TaskSetArn { get; init; }
    public string? ServiceArn { get; init; }
    public string? ClusterArn { get; init; }
    public string? StartedBy { get; init; }
    public string? ExternalId { get; init; }

    /// <summary>PRIMARY, ACTIVE or DRAINING.</summary>
    public string? Status { get; init; }
    public string? TaskDefinition { get; init; }
    public int? ComputedDesiredCount { get; init; }
    public int PendingCount { get; init; }
    public int RunningCount { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
    public DateTimeOffset? UpdatedAt { get; init; }
    public string? LaunchType { get; init; }
    public IReadOnlyList<CapacityProviderStrategyItem>? CapacityProviderStrategy { get; init; }
    public string? PlatformVersion { get; init; }
    public NetworkConfiguration? NetworkConfiguration { get; init; }
    public IReadOnlyList<LoadBalancer>? LoadBalancers { get; init; }
    public Scale? Scale { get; init; }

    /// <summary>STEADY_STATE or STABILIZING.</summary>
    public string? StabilityStatus { get; init; }
    public IReadOnlyList<Tag>? Tags { get; init; }
}

internal sealed record Service
{
    public string? ServiceArn { get; init; }
    public string? ServiceName { get; init; }
    public string? ClusterArn { get; init; }

    /// <summary>ACTIVE, DRAINING or INACTIVE.</summary>
    public string? Status { get; init; }
    public int DesiredCount { get; init; }
    public int RunningCount { get; init; }
    public int PendingCount { get; init; }
    public string? LaunchType { get; init; }
    public string? TaskDefinition { get; init; }
    public DeploymentController? DeploymentController { get; init; }
    public DeploymentConfiguration? DeploymentConfiguration { get; init; }
    public IReadOnlyList<TaskSet>? TaskSets { get; init; }
    public IReadOnlyList<Deployment>? Deployments { get; init; }
    public IReadOnlyList<ServiceEvent>? Events { get; init; }
    public IReadOnlyList<Tag>? Tags { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
}

internal sealed record DescribeServicesRequest
{
    public string? Cluster { get; init; }
    public required IReadOnlyList<string> Services { get; init; }
    public IReadOnlyList<string>? Include { get; init; }
}

internal sealed record DescribeServicesResponse
{
    public IReadOnlyList<Service> Services { get; set; } = [];
    public IReadOnlyList<Failure> Failures { get; set; } = [];
}

internal sealed record CreateServiceRequest
{
    public string? Cluster { get; init; }
    public required string ServiceName { get; init; }
    public int DesiredCount { get; init; }
    public DeploymentController? DeploymentController { get; init; }
    public DeploymentConfiguration? DeploymentConfiguration { get; init; }
    public string? TaskDefinition { get; init; }
    public IReadOnlyList<LoadBalancer>? LoadBalancers { get; init; }
    public NetworkConfiguration? NetworkConfiguration { get; init; }
    public string? LaunchType { get; init; }
    public string? SchedulingStrategy { get; init; }
    public string? PropagateTags { get; init; }
    public bool? EnableECSManagedTags { get; init; }
    public string? ClientToken { get; init; }
    public IReadOnlyList<Tag>? Tags { get; init; }
}

internal sealed record ServiceResponse
{
    public Service? Service { get; init; }
}

internal sealed record UpdateServiceRequest
{
    public string? Cluster { get; init; }
    public required string Service { get; init; }
    public int? DesiredCount { get; init; }
    public string? TaskDefinition { get; init; }
    public DeploymentConfiguration? DeploymentConfiguration { get; init; }
    public bool? ForceNewDeployment { get; init; }
}

internal sealed record DeleteServiceRequest
{
    public string? Cluster { get; init; }
    public required string Service { get; init; }
    public bool? Force { get; init; }
}

internal sealed record DescribeTaskSetsRequest
{
    public required string Cluster { get; init; }
    public required string Service { get; init; }
    public IReadOnlyList<string>? TaskSets { get; init; }
    public IReadOnlyList<string>? Include { get; init; }
}

internal sealed record DescribeTaskSetsResponse
{
    public IReadOnlyList<TaskSet> TaskSets { get; set; } = [];
    public IReadOnlyList<Failure> Failures { get; set; } = [];
}

internal sealed record CreateTaskSetRequest
{
    public required string Service { get; init; }
    public required string Cluster { get; init; }
    public string? ExternalId { get; init; }
    public required string TaskDefinition { get; init; }
    public NetworkConfiguration? NetworkConfiguration { get; init; }
    public IReadOnlyList<LoadBalancer>? LoadBalancers { get; init; }
    public string? LaunchType { get; init; }
    public IReadOnlyList<CapacityProviderStrategyItem>? CapacityProviderStrategy { get; init; }
    public string? PlatformVersion { get; init; }
    public Scale? Scale { get; init; }
    public string? ClientToken { get; init; }
    public IReadOnlyList<Tag>? Tags { get; init; }
}

internal sealed record TaskSetResponse
{
    public TaskSet? TaskSet { get; init; }
}

internal sealed record UpdateTaskSetRequest
{
    public required string Cluster { get; init; }
    public required string Service { get; init; }
    public required string TaskSet { get; init; }
    public required Scale Scale { get; init; }
}

internal sealed record DeleteTaskSetRequest
{
    public required string Cluster { get; init; }
    public required string Service { get; init; }
    public required string TaskSet { get; init; }
    public bool? Force { get; init; }
}

internal sealed record UpdateServicePrimaryTaskSetRequest
{
    public required string Cluster { get; init; }
    public required string Service { get; init; }
    public required string PrimaryTaskSet { get; init; }
}

internal sealed record EcsKeyValuePair(string Name, string Value);

internal sealed record PortMapping
{
    public int? ContainerPort { get; init; }
    public int? HostPort { get; init; }
    public string? Protocol { get; init; }
    public string? Name { get; init; }
    public string? AppProtocol { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}

internal sealed record ContainerDefinition
{
    public string? Name { get; init; }
    public string? Image { get; init; }
    public bool? Essential { get; init; }
    public int? Memory { get; init; }
    public IReadOnlyList<PortMapping>? PortMappings { get; init; }
    public IReadOnlyList<EcsKeyValuePair>? Environment { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}

internal sealed record TaskDefinition
{
    /// <summary>Members ECS fills in and that must not be sent back when registering a copy.</summary>
    public static readonly IReadOnlySet<string> ReadOnlyMembers = new HashSet<string>(StringComparer.Ordinal)
    {
        "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt", "registeredBy", "deregisteredAt",
    };

    public string? TaskDefinitionArn { get; init; }
    public string? Family { get; init; }
    public int Revision { get; init; }
    public string? Status { get; init; }
    public string? NetworkMode { get; init; }
    public IReadOnlyList<string>? RequiresCompatibilities { get; init; }
    public string? Cpu { get; init; }
    public string? Memory { get; init; }
    public string? ExecutionRoleArn { get; init; }
    public string? TaskRoleArn { get; init; }
    public IReadOnlyList<ContainerDefinition> ContainerDefinitions { get; set; } = [];

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}

internal sealed record RegisterTaskDefinitionRequest
{
    public required string Family { get; init; }
    public string? NetworkMode { get; init; }
    public IReadOnlyList<string>? RequiresCompatibilities { get; init; }
    public string? Cpu { get; init; }
    public string? Memory { get; init; }
    public string? ExecutionRoleArn { get; init; }
    public string? TaskRoleArn { get; init; }
    public required IReadOnlyList<ContainerDefinition> ContainerDefinitions { get; init; }
    public IReadOnlyList<Tag>? Tags { get; init; }

    /// <summary>Every other member of the definition it was copied from (volumes, placement, runtime platform, ...).</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}

internal sealed record TaskDefinitionResponse
{
    public TaskDefinition? TaskDefinition { get; init; }
    public IReadOnlyList<Tag>? Tags { get; init; }
}

internal sealed record DeregisterTaskDefinitionRequest
{
    public required string TaskDefinition { get; init; }
}

internal sealed record DescribeTaskDefinitionRequest
{
    public required string TaskDefinition { get; init; }
    public IReadOnlyList<string>? Include { get; init; }
}

internal sealed record ListTaskDefinitionsRequest
{
    public string? FamilyPrefix { get; init; }
    public string? Status { get; init; }
    public string? Sort { get; init; }
    public string? NextToken { get; init; }
    public int? MaxResults { get; init; }
}

internal sealed record ListTaskDefinitionsResponse
{
    public IReadOnlyList<string> TaskDefinitionArns { get; set; } = [];
    public string? NextToken { get; init; }
}

internal sealed record TagResourceRequest
{
    public required string ResourceArn { get; init; }
    public required IReadOnlyList<Tag> Tags { get; init; }
}

internal sealed record UntagResourceRequest
{
    public required string ResourceArn { get; init; }
    public required IReadOnlyList<string> TagKeys { get; init; }
}

internal sealed record EmptyResponse;

internal sealed record ListTasksRequest
{
    public string? Cluster { get; init; }
    public string? ServiceName { get; init; }
    public string? DesiredStatus { get; init; }
    public string? StartedBy { get; init; }
    public string? NextToken { get; init; }
    public int? MaxResults { get; init; }
}

internal sealed record ListTasksResponse
{
    public IReadOnlyList<string> TaskArns { get; set; } = [];
    public string? NextToken { get; init; }
}

internal sealed record DescribeTasksRequest
{
    public string? Cluster { get; init; }
    public required IReadOnlyList<string> Tasks { get; init; }
}

internal sealed record Container
{
    public string? Name { get; init; }
    public string? Image { get; init; }

    /// <summary>The digest the task pulled: what the image's tag pointed to when the task started.</summary>
    public string? ImageDigest { get; init; }
    public string? LastStatus { get; init; }
    public int? ExitCode { get; init; }
    public string? Reason { get; init; }
    public string? HealthStatus { get; init; }
}

/// <summary>A task, as Amazon.ECS.Model.Task (renamed to stay clear of System.Threading.Tasks.Task).</summary>
internal sealed record EcsTask
{
    public string? TaskArn { get; init; }
    public string? TaskDefinitionArn { get; init; }
    public string? LastStatus { get; init; }
    public string? DesiredStatus { get; init; }
    public string? HealthStatus { get; init; }
    public string? StartedBy { get; init; }
    public string? Group { get; init; }
    public string? StopCode { get; init; }
    public string? StoppedReason { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? StoppedAt { get; init; }
    public IReadOnlyList<Container>? Containers { get; init; }
}

internal sealed record DescribeTasksResponse
{
    public IReadOnlyList<EcsTask> Tasks { get; set; } = [];
    public IReadOnlyList<Failure> Failures { get; set; } = [];
}
