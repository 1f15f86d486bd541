using Backstay.Core.Analysis;
using Backstay.Core.Model;

namespace Backstay.Core.Engine.Steps;

/// <summary>
/// Holds the deployment where it stands: until a person continues it (the deployment is Paused), or for a set time
/// (a wait in progress). Drift is read back while it holds.
/// </summary>
internal static class PauseStep
{
    public static async Task RunAsync(DeploymentContext context, PauseAction pause, CancellationToken cancellationToken)
    {
        if (context.SkipPauses)
        {
            return;
        }

        var until = pause.Duration is { } d ? context.Time.GetUtcNow() + d : (DateTimeOffset?)null;
        if (until is null)
        {
            // Only a pause that waits for a person makes the deployment Paused; a timed one is a wait in progress.
            await context.Record.SaveAsync(context.Deployment with { State = DeploymentState.Paused }, cancellationToken);
            context.Record.Notify("paused", context.Deployment);
            await context.Record.EventAsync("Paused", $"paused until continued: `backstay continue {context.Deployment.Id}` (or `backstay rollback {context.Service}`)", cancellationToken);
        }
        else
        {
            await context.Record.EventAsync("Waiting", $"waiting {Durations.Format(pause.Duration!.Value)} (`backstay continue {context.Deployment.Id} --full` skips it)", cancellationToken);
        }

        try
        {
            while (until is null || context.Time.GetUtcNow() < until)
            {
                if (await context.Watchdog.TickAsync(cancellationToken) is { HookId: null } || context.SkipPauses)
                {
                    break;
                }

                await context.Watchdog.CheckDriftWhilePausedAsync(cancellationToken);
            }
        }
        finally
        {
            if (!cancellationToken.IsCancellationRequested && context.Deployment.State == DeploymentState.Paused)
            {
                await context.Record.SaveAsync(context.Deployment with { State = DeploymentState.InProgress }, CancellationToken.None);
            }
        }

        // A wait is not a verdict: when the analysis could not judge the target yet, the timeline says so rather than
        // letting the next step look vouched for.
        var unjudged = context.Watchdog.LastAnalysis is { Verdict: Verdict.Inconclusive } reading ? $"; analysis could not judge revision {context.Target.Number} yet: {reading.Reason}" : "";
        await context.Record.EventAsync("Continued", (until is null ? "pause ended" : "wait ended") + unjudged, cancellationToken);
    }
}
