using System.Globalization;
using Backstay.Core.Model;
using Backstay.Core.Ports;

namespace Backstay.Core.Engine.Steps;

/// <summary>Moves production traffic between the stable revision and the target; in a rollback, back to the restored revision first.</summary>
internal static class TrafficStep
{
    public static Task RunAsync(DeploymentContext context, WeightAction weight, CancellationToken cancellationToken) =>
        context.IsRollback
            ? MoveBackAsync(context, weight.TargetWeight, cancellationToken)
            : SetWeightAsync(context, weight.TargetWeight, cancellationToken);

    /// <summary>During a rollback, records when the failed revision stopped receiving production traffic (time to safety).</summary>
    public static async Task MarkUndoneSafeAsync(DeploymentContext context, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (context.IsRollback && context.Deployment.RollbackOf is { } undoneId
            && await context.Store.GetDeploymentAsync(undoneId, cancellationToken) is { SafeAt: null } undone)
        {
            await context.Store.UpdateDeploymentAsync(undone with { SafeAt = now, UpdatedAt = now }, cancellationToken);
            await context.Record.EventAsync("Safe", $"revision {context.Stable?.Number} no longer receives production traffic", cancellationToken);
        }
    }

    /// <summary>
    /// A rollback's traffic step: production traffic goes to the instances of the restored revision that are healthy
    /// now, before any capacity is restored. When none is, the revision is brought up first (to the count of the
    /// rollback's next restore step), and traffic moves as soon as one instance is healthy; the timeline says so.
    /// </summary>
    private static async Task MoveBackAsync(DeploymentContext context, int targetWeight, CancellationToken cancellationToken)
    {
        var target = context.Target.Number;
        var healthy = await context.CountAsync(target, healthyOnly: true, cancellationToken);
        if (healthy == 0)
        {
            var count = context.Plan.Actions.Skip(context.Deployment.CurrentStep + 1).OfType<ScaleAction>().FirstOrDefault(a => a is { Role: Role.Target, Count: > 0 })?.Count
                ?? Math.Max(1, context.Plan.DesiredCount);
            await context.Record.EventAsync("NoHealthyInstance",
                $"revision {target} has no healthy instance left: bringing it up to {count} before production traffic moves to it"
                + (context.Stable is null ? "" : $" (revision {context.Stable.Number} keeps its {100 - context.Deployment.TargetWeight}% until then)"),
                cancellationToken);
            await ScaleStep.RunAsync(context, new ScaleAction(Role.Target, count, WaitHealthy: true), cancellationToken, healthyEnough: 1);
            healthy = await context.CountAsync(target, healthyOnly: true, cancellationToken);
        }

        await SetWeightAsync(context, targetWeight, cancellationToken, $" (to the {healthy} healthy instance(s) of revision {target})");
    }

    private static async Task SetWeightAsync(DeploymentContext context, int targetWeight, CancellationToken cancellationToken, string? detail = null)
    {
        if (!context.IsRollback && context.Stable is not null && context.Deployment.TargetWeight > 0)
        {
            await CheckDriftAsync(context, targetWeight, cancellationToken);
        }

        if (!context.IsRollback && targetWeight > context.Deployment.TargetWeight)
        {
            await context.Watchdog.CheckAlarmsBeforeActingAsync(cancellationToken);
        }

        var weights = context.Weights(targetWeight);
        await context.Platform.Traffic.SetWeightsAsync(context.Service, Listener.Production, weights, cancellationToken);
        var now = context.Time.GetUtcNow();
        if (targetWeight > 0 && context.TargetTrafficSince is null)
        {
            context.TargetTrafficSince = now;
        }

        await context.Record.SaveAsync(context.Deployment with { TargetWeight = targetWeight }, cancellationToken);
        await context.Record.EventAsync("TrafficShifted", "production traffic: " + string.Join(", ", weights.Select(w => $"revision {w.Key} {w.Value}%")) + detail, cancellationToken,
            data: new EventData.TrafficWeights(weights.ToDictionary(w => w.Key.ToString(CultureInfo.InvariantCulture), w => w.Value)));

        if (targetWeight == 100)
        {
            await MarkUndoneSafeAsync(context, now, cancellationToken);
        }
    }

    /// <summary>Before moving traffic on, the listener must still give what Backstay set last; a change by hand stops the deployment.</summary>
    private static async Task CheckDriftAsync(DeploymentContext context, int targetWeight, CancellationToken cancellationToken)
    {
        var expected = context.Weights(context.Deployment.TargetWeight);
        var actual = await context.Platform.Traffic.GetWeightsAsync(context.Service, Listener.Production, cancellationToken);

        // A step run again after a restart may find its own change already made: that is its journaled intent, not drift.
        if (context.Weights(targetWeight).All(w => Math.Abs((actual.TryGetValue(w.Key, out var live) ? live : 0) - w.Value) <= 2))
        {
            return;
        }

        foreach (var (revision, weight) in expected)
        {
            var live = actual.TryGetValue(revision, out var w) ? w : 0;
            if (Math.Abs(live - weight) > 2)
            {
                throw new StepAbortedException(
                    $"the platform differs from the record: revision {revision} has {live}% of production traffic, Backstay set {weight}%; someone changed it by hand. Run `backstay status {context.Service}` and `backstay reset {context.Service}`",
                    Trigger.AutomaticRollback, drift: [$"revision {revision} has {live}% of production traffic, Backstay set {weight}% for deployment {context.Deployment.Id}"]);
            }
        }
    }
}
