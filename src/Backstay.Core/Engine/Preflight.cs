using Backstay.Core.Model;

namespace Backstay.Core.Engine;

/// <summary>
/// What a new deployment checks before it acts: the platform still matches the record, and no alarm it watches is
/// already firing. Either stops the deployment before anything moves.
/// </summary>
internal static class Preflight
{
    /// <summary>Reads the platform back before trusting the record: a service changed by hand stops the deployment before it acts.</summary>
    public static async Task CheckDriftAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        var service = context.Service;
        if (context.Stable is not { } stable || await context.Store.GetServiceAsync(service, cancellationToken) is not { } record)
        {
            return;
        }

        var observation = await Observations.ReadAsync(context.Platform, service, context.Time, cancellationToken);
        var last = (await context.Store.ListDeploymentsAsync(service, 2, cancellationToken)).FirstOrDefault(d => d.Id != context.Deployment.Id);
        if (last is { Kind: DeploymentKind.Deploy, State: DeploymentState.Stopped, TargetWeight: 0 } stopped)
        {
            // The stopped deployment on record accounts for its target's instances; this deployment scales them to 0 when it succeeds.
            observation = observation with { Sets = [.. observation.Sets.Where(set => set.Revision != stopped.TargetRevision)] };
        }

        var differences = DriftDetector.Compare(record, observation);
        if (differences.Count > 0)
        {
            throw new StepAbortedException(DriftDetector.Describe(service, differences), Trigger.AutomaticRollback, drift: differences);
        }

        // Its instances never had production traffic, and on ECS its task set holds the target group this deployment needs.
        if (last is { Kind: DeploymentKind.Deploy, State: DeploymentState.Stopped, TargetWeight: 0 } leftover
            && leftover.TargetRevision != context.Target.Number && leftover.TargetRevision != stable.Number
            && await context.Store.GetRevisionAsync(service, leftover.TargetRevision, cancellationToken) is { } revision)
        {
            await context.Platform.Compute.ScaleAsync(context.Plan.Spec, revision, 0, cancellationToken);
            await context.Record.EventAsync("Scaled", $"revision {revision.Number} scaled to 0: stopped deployment {leftover.Id} left it running without production traffic", cancellationToken);
        }
    }

    /// <summary>An alarm already firing when a deployment starts stops it before any traffic moves (ECS silently ignores one).</summary>
    public static async Task CheckAlarmsAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        var firing = (await context.Platform.Signals.GetAlarmsAsync(context.Plan.Spec, cancellationToken)).Where(a => a.InAlarm).ToList();
        if (firing.Count > 0)
        {
            throw new StepAbortedException(
                $"alarm(s) {string.Join(", ", firing.Select(a => a.Name))} already in ALARM before any traffic moved; fix them or remove them from the spec, then deploy again",
                Trigger.AutomaticRollback, stop: true);
        }
    }
}
