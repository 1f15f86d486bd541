using System.Collections.Concurrent;
using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2;

namespace Backstay.Platform.Ecs;

/// <summary>What the platform knows about one Backstay service on ECS: its spec, clients and short-lived reads.</summary>
internal sealed class EcsServiceContext(ServiceSpec spec, AwsClients aws, ReadPacing pacing, TimeSpan alarmsTtl)
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

    /// <summary>The service with its task sets and deployments (DescribeServices), paced; a rollout of the ECS controller is followed on it too.</summary>
    public PacedRead<EcsSnapshot> Snapshot { get; } = new(pacing, s => s.Fingerprint());

    /// <summary>The targets of the task sets' target groups (one DescribeTargetHealth per group), paced.</summary>
    public PacedRead<TargetHealthRead> Health { get; } = new(pacing, h => h.Fingerprint());

    /// <summary>The spec's CloudWatch alarms (DescribeAlarms), reused for a fixed time: alarms evaluate once a minute at best.</summary>
    public PacedRead<IReadOnlyList<Aws.CloudWatch.Alarm>> Alarms { get; } = new(new ReadPacing(alarmsTtl, alarmsTtl),
        alarms => string.Join(";", alarms.Select(a => $"{a.AlarmName}={a.StateValue}")));

    /// <summary>The alarm names the kept alarm read was for.</summary>
    public string? AlarmNames { get; set; }

    /// <summary>Whether Application Auto Scaling owns the desired count, and when that was read.</summary>
    public bool AutoScaled { get; set; }

    public DateTimeOffset? AutoScaledAt { get; set; }

    /// <summary>The service's desired count when <see cref="AutoScaledAt"/> was read.</summary>
    public int AutoScaledDesired { get; set; }

    public IReadOnlyList<EcsTask> StoppedTasks { get; set; } = [];

    public DateTimeOffset StoppedTasksAt { get; set; }

    /// <summary>Task definition of each revision once found or registered.</summary>
    public ConcurrentDictionary<int, TaskDefinition> TaskDefinitions { get; } = new();

    /// <summary>The load balancer dimension ("app/name/id") of each target group, for CloudWatch.</summary>
    public ConcurrentDictionary<string, string> LoadBalancerDimensions { get; } = new(StringComparer.Ordinal);

    public bool LoadBalancerChecked { get; set; }

    /// <summary>Recent CloudWatch figures by revision, window and start.</summary>
    public ConcurrentDictionary<(int Revision, TimeSpan Window, DateTimeOffset? Since), (DateTimeOffset At, Core.Ports.RevisionMetrics Metrics)> Metrics { get; } = new();

    /// <summary>After a write: the next read of the service and its targets goes to AWS, and reads stay quick until they stop changing.</summary>
    public void Invalidate()
    {
        Snapshot.Invalidate();
        Health.Invalidate();
    }
}

/// <summary>The targets of some target groups, read together; <see cref="Key"/> names which groups.</summary>
internal sealed record TargetHealthRead(string Key, IReadOnlyDictionary<string, IReadOnlyList<TargetHealthDescription>> ByTargetGroup)
{
    public static string KeyOf(IEnumerable<string> targetGroups) => string.Join(" ", targetGroups.Order(StringComparer.Ordinal));

    /// <summary>What matters of the answer: each target's id, port, state and reason.</summary>
    public string Fingerprint() => string.Join(";", ByTargetGroup.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv =>
        kv.Key + ":" + string.Join(",", kv.Value
            .Select(t => $"{t.Target.Id}/{t.Target.Port}/{t.TargetHealth.State}/{t.TargetHealth.Reason}")
            .Order(StringComparer.Ordinal))));
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

    /// <summary>
    /// What matters of the answer for pacing: the service's state and counts, each task set's and each deployment's state,
    /// scale and counts. Timestamps, events and tags are left out: they change without anything to act on.
    /// </summary>
    public string Fingerprint()
    {
        var s = Service;
        var sets = TaskSets.Select(t =>
            $"{t.Id}/{t.Status}/{t.TaskDefinition}/{t.Scale?.Value}/{t.ComputedDesiredCount}/{t.RunningCount}/{t.PendingCount}/{t.StabilityStatus}")
            .Order(StringComparer.Ordinal);
        var deployments = (s.Deployments ?? []).Select(d =>
            $"{d.Id}/{d.Status}/{d.TaskDefinition}/{d.RolloutState}/{d.DesiredCount}/{d.RunningCount}/{d.PendingCount}/{d.FailedTasks}")
            .Order(StringComparer.Ordinal);
        return $"{s.Status}/{s.TaskDefinition}/{s.DesiredCount}/{s.RunningCount}/{s.PendingCount}|{string.Join(";", sets)}|{string.Join(";", deployments)}";
    }

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
