using Backstay.Core.Model;

namespace Backstay.Core.Engine;

/// <summary>The one place a deployment record is made: a new id, Pending, its plan and its step count, created now.</summary>
internal static class DeploymentRecord
{
    public static Deployment Pending(string service, DeploymentKind kind, Trigger trigger, string strategy, int? stable, int target,
        DeploymentPlan plan, string requestedBy, DateTimeOffset now) => new()
    {
        Id = Ids.NewDeploymentId(),
        Service = service,
        Kind = kind,
        Trigger = trigger,
        Strategy = strategy,
        StableRevision = stable,
        TargetRevision = target,
        State = DeploymentState.Pending,
        TotalSteps = plan.Actions.Count,
        PlanJson = plan.ToJson(),
        RequestedBy = requestedBy,
        CreatedAt = now,
        UpdatedAt = now,
    };
}
