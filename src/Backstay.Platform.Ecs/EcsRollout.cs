namespace Backstay.Platform.Ecs;

/// <summary>Where a rollout of the ECS deployment controller stands.</summary>
public enum EcsRolloutState
{
    InProgress,
    Completed,
    Failed,

    /// <summary>The circuit breaker (or someone) rolled the service back to an earlier task definition.</summary>
    RolledBack,
}

/// <summary>A rolling deployment run by ECS itself (UpdateService), as Backstay follows it through deployments[].</summary>
public sealed record EcsRollout
{
    public required string DeploymentId { get; init; }
    public required string TaskDefinition { get; init; }
    public EcsRolloutState State { get; init; }

    /// <summary>ECS's rolloutStateReason and the service events about this deployment, newest first.</summary>
    public string? Reason { get; init; }
    public int Desired { get; init; }
    public int Running { get; init; }
    public int Pending { get; init; }
    public int FailedTasks { get; init; }

    /// <summary>The circuit breaker's verdict on this rollout, when it gave one.</summary>
    public bool CircuitBreakerTripped { get; init; }
}

/// <summary>Reads a rolling deployment's state from a DescribeServices answer.</summary>
internal static class RolloutInterpreter
{
    public static EcsRollout Interpret(Service service, string deploymentId, string taskDefinition)
    {
        ArgumentNullException.ThrowIfNull(service);
        var deployments = service.Deployments ?? [];
        var events = (service.Events ?? [])
            .Where(e => e.Message is not null && e.Message.Contains(deploymentId, StringComparison.Ordinal))
            .OrderByDescending(e => e.CreatedAt)
            .Select(e => e.Message!)
            .ToList();
        var deployment = deployments.FirstOrDefault(d => d.Id == deploymentId);
        if (deployment is null)
        {
            // Gone from deployments[]: replaced. If what runs now is another task definition, this one was rolled back.
            var primary = deployments.FirstOrDefault(d => d.Status == "PRIMARY");
            var rolledBack = primary is not null && !SameTaskDefinition(primary.TaskDefinition, taskDefinition);
            return new EcsRollout
            {
                DeploymentId = deploymentId,
                TaskDefinition = taskDefinition,
                State = rolledBack ? EcsRolloutState.RolledBack : EcsRolloutState.Completed,
                Reason = Join(rolledBack ? $"ECS replaced deployment {deploymentId} with {primary!.Id} running {primary.TaskDefinition}" : null, events),
                CircuitBreakerTripped = rolledBack && events.Any(e => e.Contains("circuit breaker", StringComparison.OrdinalIgnoreCase)),
            };
        }

        var state = deployment.RolloutState switch
        {
            "COMPLETED" => EcsRolloutState.Completed,
            "FAILED" => EcsRolloutState.Failed,
            _ => EcsRolloutState.InProgress,
        };
        return new EcsRollout
        {
            DeploymentId = deploymentId,
            TaskDefinition = deployment.TaskDefinition ?? taskDefinition,
            State = state,
            Reason = Join(deployment.RolloutStateReason, events),
            Desired = deployment.DesiredCount,
            Running = deployment.RunningCount,
            Pending = deployment.PendingCount,
            FailedTasks = deployment.FailedTasks,
            CircuitBreakerTripped = state == EcsRolloutState.Failed
                && (deployment.RolloutStateReason?.Contains("circuit breaker", StringComparison.OrdinalIgnoreCase) ?? false),
        };
    }

    /// <summary>Task definitions compared by "family:revision", so a full ARN matches the short form a journaled rollout id keeps.</summary>
    private static bool SameTaskDefinition(string? a, string? b) =>
        a is not null && b is not null && string.Equals(a[(a.LastIndexOf('/') + 1)..], b[(b.LastIndexOf('/') + 1)..], StringComparison.Ordinal);

    private static string? Join(string? first, List<string> events)
    {
        var parts = new List<string>();
        if (!string.IsNullOrWhiteSpace(first))
        {
            parts.Add(first.Trim());
        }

        parts.AddRange(events.Take(3).Where(e => !parts.Contains(e)));
        return parts.Count == 0 ? null : string.Join(" | ", parts);
    }
}
