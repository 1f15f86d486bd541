namespace Backstay.Platform.Ecs.Aws.ApplicationAutoScaling;

// Shapes as in Amazon.ApplicationAutoScaling.Model; this service's JSON members are PascalCase.

internal sealed record SuspendedState
{
    public bool? DynamicScalingInSuspended { get; init; }
    public bool? DynamicScalingOutSuspended { get; init; }
    public bool? ScheduledScalingSuspended { get; init; }

    public bool AllSuspended => DynamicScalingInSuspended == true && DynamicScalingOutSuspended == true && ScheduledScalingSuspended == true;

    public bool AnySuspended => DynamicScalingInSuspended == true || DynamicScalingOutSuspended == true || ScheduledScalingSuspended == true;
}

internal sealed record ScalableTarget
{
    public string? ServiceNamespace { get; init; }
    public string? ResourceId { get; init; }
    public string? ScalableDimension { get; init; }
    public int MinCapacity { get; init; }
    public int MaxCapacity { get; init; }
    public string? RoleARN { get; init; }
    public string? ScalableTargetARN { get; init; }
    public SuspendedState? SuspendedState { get; init; }
}

internal sealed record DescribeScalableTargetsRequest
{
    public required string ServiceNamespace { get; init; }
    public IReadOnlyList<string>? ResourceIds { get; init; }
    public string? ScalableDimension { get; init; }
    public string? NextToken { get; init; }
}

internal sealed record DescribeScalableTargetsResponse
{
    public IReadOnlyList<ScalableTarget> ScalableTargets { get; set; } = [];
    public string? NextToken { get; init; }
}

internal sealed record RegisterScalableTargetRequest
{
    public required string ServiceNamespace { get; init; }
    public required string ResourceId { get; init; }
    public required string ScalableDimension { get; init; }
    public int? MinCapacity { get; init; }
    public int? MaxCapacity { get; init; }
    public SuspendedState? SuspendedState { get; init; }
}

internal sealed record RegisterScalableTargetResponse
{
    public string? ScalableTargetARN { get; init; }
}
