using Backstay.Core.Model;

namespace Backstay.Core.Engine.Steps;

/// <summary>Scales a revision (target or stable) to a count and, when asked, waits for its instances to be healthy.</summary>
internal static class ScaleStep
{
    /// <param name="healthyEnough">How many healthy instances end the wait, when fewer than all will do.</param>
    public static async Task RunAsync(DeploymentContext context, ScaleAction scale, CancellationToken cancellationToken, int? healthyEnough = null)
    {
        var revision = scale.Role == Role.Target ? context.Target : context.Stable;
        if (revision is null)
        {
            return;
        }

        var spec = context.Plan.Spec;
        await context.Platform.Compute.ScaleAsync(spec, revision, scale.Count, cancellationToken);
        await context.Watchdog.ReportInstancesAsync(revision.Number, healthy: null, scale.Count, cancellationToken);
        await context.Record.EventAsync("Scaled", $"revision {revision.Number} scaled to {scale.Count}", cancellationToken);
        if (!scale.WaitHealthy || scale.Count == 0)
        {
            return;
        }

        var deadline = context.Time.GetUtcNow() + spec.Task.StartTimeout;
        while (true)
        {
            var set = await context.GetSetAsync(revision.Number, cancellationToken);
            if (set is not null && set.HealthyCount >= (healthyEnough ?? scale.Count))
            {
                await context.Watchdog.ReportInstancesAsync(revision.Number, set.HealthyCount, scale.Count, cancellationToken);
                await context.Record.EventAsync("InstancesHealthy", $"{set.HealthyCount}/{scale.Count} instances of revision {revision.Number} healthy", cancellationToken);
                return;
            }

            if (set?.Instances.FirstOrDefault(i => i.Restarts >= Watchdog.CrashLoopRestarts) is { } looping)
            {
                throw new StepAbortedException(
                    $"instance {looping.Id} of revision {revision.Number} is crash-looping ({looping.Restarts} restarts){Wording.Detail(looping.LastError)}; {await context.Platform.LogsHintAsync(spec, revision.Number, cancellationToken)}",
                    Trigger.AutomaticRollback);
            }

            if (context.Time.GetUtcNow() >= deadline)
            {
                var healthy = set?.HealthyCount ?? 0;
                var error = set?.Instances.Select(i => i.LastError).LastOrDefault(e => e is not null);
                throw new StepAbortedException(
                    $"only {healthy} of {scale.Count} instances of revision {revision.Number} became healthy within {Durations.Format(spec.Task.StartTimeout)}{Wording.Detail(error)}; {await context.Platform.LogsHintAsync(spec, revision.Number, cancellationToken)}",
                    Trigger.AutomaticRollback);
            }

            await context.Watchdog.TickAsync(cancellationToken);
        }
    }
}
