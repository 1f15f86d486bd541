using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Core.Ports;

namespace Backstay.Core.Engine.Steps;

/// <summary>The platform rolls the target out itself (e.g. an ECS rolling update); Backstay follows and judges it.</summary>
internal static class NativeRolloutStep
{
    /// <summary>How long past task.startTimeout a platform-run rollout may go without another instance running.</summary>
    private static readonly TimeSpan NativeRolloutStallMargin = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Lets the platform roll the target out itself and follows it each tick. The rollout's id is journaled once it
    /// started, so a runner resumed after a restart follows the same rollout instead of starting another. The platform
    /// only reports: its failure verdict (e.g. ECS's circuit breaker) aborts the step, and the engine rolls back.
    /// </summary>
    public static async Task RunAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        var native = context.Platform.NativeRollout
            ?? throw new PlatformException($"the {context.Platform.Name} platform cannot run a rolling update itself; deploy '{context.Service}' with a strategy Backstay runs");
        var step = context.Deployment.CurrentStep;
        NativeRolloutStatus status;
        if (await JournaledRolloutIdAsync(context, step, cancellationToken) is { } journaled)
        {
            status = await native.GetAsync(context.Plan.Spec, journaled, cancellationToken);
            await context.Record.EventAsync("RolloutResumed", $"following rollout {journaled} of revision {context.Target.Number} again after a restart of Backstay", cancellationToken, step);
        }
        else
        {
            status = await native.StartAsync(context.Plan.Spec, context.Target, cancellationToken);
            await context.Record.JournalAsync(new JournalEntry
            {
                DeploymentId = context.Deployment.Id,
                Step = step,
                Phase = StepPhase.Started,
                Action = $"rollout {status.Id} started",
                DetailJson = BackstayJson.Serialize(new NativeRolloutJournal(status.Id), NativeRolloutJournal.JsonOptions),
                At = context.Time.GetUtcNow(),
            }, cancellationToken);
            await context.Record.EventAsync("RolloutStarted", $"the platform rolls revision {context.Target.Number} out (rollout {status.Id})", cancellationToken, step,
                data: new EventData.RolloutStarted(status.Id));
        }

        // New instances take production traffic as they become healthy: background analysis and alarms judge them from now on.
        context.TargetTrafficSince ??= context.Time.GetUtcNow();
        var reported = -1;
        var progressAt = context.Time.GetUtcNow();
        while (true)
        {
            if (status.Running != reported)
            {
                if (status.Running > reported)
                {
                    progressAt = context.Time.GetUtcNow();
                }

                reported = status.Running;
                await context.Record.EventAsync("RolloutProgress", $"rollout {status.Id}: {status.Running}/{status.Desired} instance(s) of revision {context.Target.Number} running"
                    + (status.FailedTasks > 0 ? $", {status.FailedTasks} failed to start" : ""), cancellationToken, step,
                    data: new EventData.RolloutProgress(status.Running, status.Desired, status.FailedTasks));
                await context.Record.SaveAsync(context.Deployment with
                {
                    ProgressJson = BackstayJson.Serialize(new DeploymentProgress
                    {
                        TargetWeight = context.Deployment.TargetWeight,
                        TargetHealthy = status.Running,
                        TargetDesired = status.Desired,
                    }, DeploymentProgress.JsonOptions),
                }, cancellationToken);
            }

            switch (status.State)
            {
                case NativeRolloutState.Completed:
                    var now = context.Time.GetUtcNow();
                    await context.Record.SaveAsync(context.Deployment with { TargetWeight = 100 }, cancellationToken);
                    await context.Record.EventAsync("RolloutCompleted", $"rollout {status.Id} completed: revision {context.Target.Number} serves with {status.Running}/{status.Desired} instance(s)", cancellationToken, step);
                    await TrafficStep.MarkUndoneSafeAsync(context, now, cancellationToken);
                    return;
                case NativeRolloutState.Failed:
                    throw new StepAbortedException(
                        $"the platform's rollout {status.Id} of revision {context.Target.Number} failed{Wording.Because(status.Reason)}",
                        Trigger.AutomaticRollback);
                case NativeRolloutState.RolledBack:
                    throw new StepAbortedException(
                        $"the platform rolled revision {context.Target.Number} back on its own (rollout {status.Id}){Wording.Because(status.Reason)}",
                        Trigger.AutomaticRollback);
            }

            // ECS's circuit breaker counts tasks that fail; tasks it cannot place (no capacity, no IP) leave a rollout waiting for ever.
            // Between batches ECS waits for the old tasks to drain (the target group's deregistration delay, 5 min by default), hence the margin.
            var stallLimit = context.Plan.Spec.Task.StartTimeout + NativeRolloutStallMargin;
            if (status.Running < status.Desired && context.Time.GetUtcNow() - progressAt > stallLimit)
            {
                throw new StepAbortedException(
                    $"the platform's rollout {status.Id} of revision {context.Target.Number} made no progress for {Durations.Format(stallLimit)} (task.startTimeout + 10m): " +
                    $"{status.Running}/{status.Desired} instance(s) running{(status.FailedTasks > 0 ? $", {status.FailedTasks} failed to start" : "")}; " +
                    "the platform may be unable to place or start them (see the service's events)",
                    Trigger.AutomaticRollback);
            }

            await context.Watchdog.TickAsync(cancellationToken);
            status = await native.GetAsync(context.Plan.Spec, status.Id, cancellationToken);
        }
    }

    private static async Task<string?> JournaledRolloutIdAsync(DeploymentContext context, int step, CancellationToken cancellationToken)
    {
        var journal = await context.Store.ListJournalAsync(context.Deployment.Id, cancellationToken);
        return journal.Where(e => e.Step == step && e.DetailJson is not null)
            .Select(e => NativeRolloutJournal.Parse(e.DetailJson!)?.RolloutId)
            .LastOrDefault(id => id is not null);
    }

}

/// <summary>What the journal keeps of a platform-run rollout: its id, to follow it again after a restart.</summary>
internal sealed record NativeRolloutJournal(string RolloutId)
{
    internal static JsonSerializerOptions JsonOptions => CoreJson.Web;

    public static NativeRolloutJournal? Parse(string json)
    {
        try
        {
            return BackstayJson.Deserialize<NativeRolloutJournal>(json, JsonOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
