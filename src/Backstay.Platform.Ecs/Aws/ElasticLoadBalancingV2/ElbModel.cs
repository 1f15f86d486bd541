using System.Xml.Linq;

namespace Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2;

// Shapes as in Amazon.ElasticLoadBalancingV2.Model, limited to what Backstay reads and writes.

internal sealed record TargetGroupTuple(string TargetGroupArn, int? Weight);

internal sealed record TargetGroupStickinessConfig(bool? Enabled, int? DurationSeconds);

internal sealed record ForwardActionConfig
{
    public IReadOnlyList<TargetGroupTuple> TargetGroups { get; init; } = [];
    public TargetGroupStickinessConfig? TargetGroupStickinessConfig { get; init; }
}

/// <summary>A listener or rule action; actions other than forward are kept as they came so they can be sent back unchanged.</summary>
internal sealed record Action
{
    public required string Type { get; init; }
    public int? Order { get; init; }
    public string? TargetGroupArn { get; init; }
    public ForwardActionConfig? ForwardConfig { get; init; }

    /// <summary>The action as the service sent it, for writing back actions Backstay does not change.</summary>
    public XElement? Source { get; init; }

    public bool IsForward => Type == "forward";
}

internal sealed record Listener
{
    public required string ListenerArn { get; init; }
    public string? LoadBalancerArn { get; init; }
    public int? Port { get; init; }
    public string? Protocol { get; init; }
    public IReadOnlyList<Action> DefaultActions { get; init; } = [];
}

internal sealed record Rule
{
    public required string RuleArn { get; init; }
    public string? Priority { get; init; }
    public bool IsDefault { get; init; }
    public IReadOnlyList<Action> Actions { get; init; } = [];
}

internal sealed record TargetGroup
{
    public required string TargetGroupArn { get; init; }
    public string? TargetGroupName { get; init; }
    public int? Port { get; init; }
    public string? Protocol { get; init; }
    public string? TargetType { get; init; }
    public string? VpcId { get; init; }
    public string? HealthCheckPath { get; init; }
    public IReadOnlyList<string> LoadBalancerArns { get; init; } = [];
}

internal sealed record TargetDescription(string Id, int? Port, string? AvailabilityZone = null);

internal sealed record TargetHealth(string? State, string? Reason, string? Description);

internal sealed record TargetHealthDescription
{
    public required TargetDescription Target { get; init; }
    public string? HealthCheckPort { get; init; }
    public required TargetHealth TargetHealth { get; init; }
}
