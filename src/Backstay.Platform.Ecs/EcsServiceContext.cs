using System.Collections.Concurrent;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Aws.Ecs;
using Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2;

namespace Backstay.Platform.Ecs;

/// <summary>What the platform knows about one Backstay service on ECS: its spec, clients and short-lived reads.</summary>
internal sealed class EcsServiceContext(ServiceSpec spec, AwsClients aws)
{
    public ServiceSpec Spec { get; set; } = spec;

    public AwsClients Aws { get; } = aws;

    public EcsPlatformSpec Ecs => Spec.Platform.Ecs!;

    public EcsLoadBalancerSpec LoadBalancer => Ecs.LoadBalancer!;

    public string Cluster => Ecs.Cluster;

    /// <summary>The ECS service name, which is also the task-definition family.</summary>
    public string ServiceName => Ecs.Service ?? Spec.Service;

    public string Family => ServiceName;

    public string ResourceId => $"service/{Cluster}/{ServiceName}";

    public EcsSnapshot? Snapshot { get; set; }

    public DateTimeOffset SnapshotAt { get; set; }

    /// <summary>The last state of a platform-run rollout read from ECS, and when.</summary>
    public (Core.Ports.NativeRolloutStatus Status, DateTimeOffset At)? LastRollout { get; set; }

    /// <summary>Whether Application Auto Scaling owns the desired count, and when that was read.</summary>
    public bool AutoScaled { get; set; }

    public DateTimeOffset? AutoScaledAt { get; set; }

    public Dictionary<string, IReadOnlyList<TargetHealthDescription>>? Health { get; set; }

    public DateTimeOffset HealthAt { get; set; }

    public IReadOnlyList<EcsTask> StoppedTasks { get; set; } = [];

    public DateTimeOffset StoppedTasksAt { get; set; }

    /// <summary>Task definition of each revision once found or registered.</summary>
    public ConcurrentDictionary<int, TaskDefinition> TaskDefinitions { get; } = new();

    /// <summary>The load balancer dimension ("app/name/id") of each target group, for CloudWatch.</summary>
    public ConcurrentDictionary<string, string> LoadBalancerDimensions { get; } = new(StringComparer.Ordinal);

    public bool LoadBalancerChecked { get; set; }

    /// <summary>Recent CloudWatch figures by revision, window and start.</summary>
    public ConcurrentDictionary<(int Revision, TimeSpan Window, DateTimeOffset? Since), (DateTimeOffset At, Core.Ports.RevisionMetrics Metrics)> Metrics { get; } = new();

    public void Invalidate()
    {
        Snapshot = null;
        Health = null;
    }
}

/// <summary>One read of the ECS service with its task sets.</summary>
internal sealed record EcsSnapshot(Service Service)
{
    public IReadOnlyList<TaskSet> TaskSets => Service.TaskSets ?? [];

    public int DesiredCount => Service.DesiredCount;

    /// <summary>Task sets Backstay created, with their revision; draining ones are on their way out and left out.</summary>
    public IEnumerable<(int Revision, TaskSet Set)> Revisions =>
        TaskSets.Where(t => t.Status != "DRAINING")
            .Select(t => (Revision: Tags.RevisionOf(t), Set: t))
            .Where(x => x.Revision is not null)
            .Select(x => (x.Revision!.Value, x.Set));

    public TaskSet? SetOf(int revision) => Revisions.Where(r => r.Revision == revision).Select(r => r.Set).FirstOrDefault();

    public TaskSet? Primary => TaskSets.FirstOrDefault(t => t.Status == "PRIMARY");

    public static string? TargetGroupOf(TaskSet set) => set.LoadBalancers?.FirstOrDefault(l => l.TargetGroupArn is not null)?.TargetGroupArn;

    /// <summary>Tasks ECS runs for a task set: its computed count, or the documented formula when the answer has none.</summary>
    public int CountOf(TaskSet set) =>
        set.Status == "DRAINING" ? 0 : set.ComputedDesiredCount ?? TaskSetMath.Count(set.Scale?.Value ?? 0, DesiredCount);

    /// <summary>Which revision's task set uses each target group (every task set, Backstay's or not, holds its group).</summary>
    public Dictionary<string, int?> TargetGroupOwners()
    {
        var owners = new Dictionary<string, int?>(StringComparer.Ordinal);
        foreach (var set in TaskSets.Where(t => t.Status != "DRAINING"))
        {
            if (TargetGroupOf(set) is { } tg)
            {
                owners[tg] = Tags.RevisionOf(set);
            }
        }

        return owners;
    }
}
