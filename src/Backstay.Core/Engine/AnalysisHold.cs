using Backstay.Core.Analysis;
using Backstay.Core.Model;
using Backstay.Core.Spec;

namespace Backstay.Core.Engine;

/// <summary>
/// `analysis.onFailure: pause`: a failed analysis holds the traffic where it is and waits for a person, for releases whose
/// migrations cannot be undone. `continue` accepts the failure (the checks that failed are measured and shown from then on,
/// no longer acted on), `rollback` and `stop` do what they always do, and after `pauseTimeout` the spec's
/// `onPauseTimeout` is taken (rollback by default).
/// </summary>
internal static class AnalysisHold
{
    /// <summary>How often a held deployment looks for a person's answer.</summary>
    private static readonly TimeSpan AnswerPoll = TimeSpan.FromMilliseconds(250);

    /// <summary>Holds until answered; returns the checks the person accepted, or throws to roll back.</summary>
    public static async Task<IReadOnlyList<string>> HoldAsync(DeploymentContext context, AnalysisSpec spec, AnalysisResult result,
        Func<CancellationToken, Task<DeploymentCommand?>> answerCommands, CancellationToken cancellationToken)
    {
        var failed = result.Checks.Where(c => c is { Verdict: Verdict.Fail, DryRun: false }).Select(c => c.Metric).Distinct().ToList();
        var deployment = context.Deployment;
        var until = context.Time.GetUtcNow() + spec.PauseTimeout;
        await context.Record.SaveAsync(deployment with { State = DeploymentState.Paused }, cancellationToken);
        context.Record.Notify("paused", context.Deployment);
        await context.Record.EventAsync("AnalysisFailedPaused",
            $"analysis failed: {result.Reason}. Production traffic is held at {deployment.TargetWeight}% on revision {context.Target.Number} for a person " +
            $"(onFailure: pause): `backstay continue {deployment.Id}` accepts it, `backstay rollback {context.Service}` rolls back; " +
            $"after {Durations.Format(spec.PauseTimeout)} without an answer it will {(spec.OnPauseTimeout == AnalysisFailure.Continue ? "continue" : "roll back")}",
            cancellationToken, data: new EventData.AnalysisEvidence(result.Verdict.ToString(), result.Checks));
        try
        {
            while (context.Time.GetUtcNow() < until)
            {
                await Task.Delay(AnswerPoll, context.Time, cancellationToken);
                if (await answerCommands(cancellationToken) is { HookId: null } answer)
                {
                    await AcceptedAsync(context, failed, $"accepted by {answer.RequestedBy ?? "a user"}", result, cancellationToken);
                    return failed;
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

        if (spec.OnPauseTimeout == AnalysisFailure.Continue)
        {
            await AcceptedAsync(context, failed, $"nobody answered within {Durations.Format(spec.PauseTimeout)} (onPauseTimeout: continue)", result, cancellationToken);
            return failed;
        }

        throw new StepAbortedException(
            $"analysis failed and nobody answered within {Durations.Format(spec.PauseTimeout)} (onPauseTimeout: rollback): {result.Reason}",
            Trigger.AutomaticRollback, result.Metrics.FirstErrorAt, evidence: result.Checks);
    }

    private static Task AcceptedAsync(DeploymentContext context, IReadOnlyList<string> failed, string why, AnalysisResult result, CancellationToken cancellationToken) =>
        context.Record.EventAsync("AnalysisAccepted",
            $"failed analysis {why}: {string.Join(", ", failed)} measured and shown from now on, no longer acted on",
            cancellationToken, data: new EventData.AnalysisEvidence(result.Verdict.ToString(), result.Checks));
}
