using Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2;

namespace Backstay.Platform.Ecs;

/// <summary>
/// Turns what AWS reports into Backstay's instance health: a target of the revision's target group is an instance
/// (ECS registers each task there), and a stopped task of the revision is a dead one that says why it stopped.
/// </summary>
internal static class InstanceHealthMapping
{
    /// <summary>The instance a registered target stands for; null for a target on its way out (draining).</summary>
    public static InstanceStatus? FromTarget(TargetHealthDescription target, int revision)
    {
        ArgumentNullException.ThrowIfNull(target);
        var state = target.TargetHealth.State;
        if (state == "draining")
        {
            return null;
        }

        var address = target.Target.Port is { } port ? $"{target.Target.Id}:{port.ToString(CultureInfo.InvariantCulture)}" : target.Target.Id;
        var health = state switch
        {
            "healthy" => InstanceHealth.Healthy,
            "initial" => InstanceHealth.Starting,
            "unavailable" when target.TargetHealth.Reason == "Target.HealthCheckDisabled" => InstanceHealth.Healthy,
            "unavailable" => InstanceHealth.Starting,
            _ => InstanceHealth.Unhealthy,
        };
        var reason = string.Join(": ", new[] { target.TargetHealth.Reason, target.TargetHealth.Description }.Where(s => !string.IsNullOrWhiteSpace(s)));
        return new InstanceStatus
        {
            Id = address,
            Revision = revision,
            Health = health,
            Address = address,
            LastError = health == InstanceHealth.Healthy || reason.Length == 0 ? null : $"target {state} ({reason})",
        };
    }

    /// <summary>
    /// Dead instances for the task set's tasks that stopped since it was created. ECS replaces a stopped task with a
    /// new one, so their number is reported as the restarts of each.
    /// </summary>
    public static IReadOnlyList<InstanceStatus> FromStoppedTasks(IReadOnlyList<EcsTask> tasks, TaskSet set, int revision)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(set);
        var stopped = tasks
            .Where(t => t.LastStatus == "STOPPED" && t.TaskDefinitionArn == set.TaskDefinition
                && (set.CreatedAt is null || (t.StoppedAt ?? t.CreatedAt ?? DateTimeOffset.MaxValue) >= set.CreatedAt))
            .OrderBy(t => t.StoppedAt ?? t.CreatedAt)
            .ToList();
        return stopped.Select(t => new InstanceStatus
        {
            Id = t.TaskArn is { } arn ? arn[(arn.LastIndexOf('/') + 1)..] : "task",
            Revision = revision,
            Health = InstanceHealth.Dead,
            Restarts = stopped.Count,
            LastError = Reason(t),
            StartedAt = t.StartedAt ?? t.CreatedAt ?? default,
        }).ToList();
    }

    private static string Reason(EcsTask task)
    {
        var parts = new List<string>();
        if (!string.IsNullOrWhiteSpace(task.StoppedReason))
        {
            parts.Add(task.StoppedReason.Trim());
        }

        foreach (var container in task.Containers ?? [])
        {
            if (!string.IsNullOrWhiteSpace(container.Reason))
            {
                parts.Add($"{container.Name}: {container.Reason.Trim()}");
            }
            else if (container.ExitCode is { } code && code != 0)
            {
                parts.Add($"{container.Name} exited with {code.ToString(CultureInfo.InvariantCulture)}");
            }
        }

        return parts.Count == 0 ? $"task stopped ({task.StopCode ?? "no reason given"})" : string.Join("; ", parts);
    }
}
