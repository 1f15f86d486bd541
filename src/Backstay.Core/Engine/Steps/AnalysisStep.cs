using Backstay.Core.Analysis;
using Backstay.Core.Model;

namespace Backstay.Core.Engine.Steps;

/// <summary>
/// Judges the target's traffic each interval for one window: passes as soon as every check's test is sure the target is
/// within its limits, or when the window is over and the last verdict passed; fails as soon as a sequential test is sure
/// it is not (or after the spec's consecutive failures of the other checks); and gives up after three windows without
/// enough evidence. Every verdict it records carries its numbers.
/// </summary>
internal static class AnalysisStep
{
    public static async Task RunAsync(DeploymentContext context, AnalysisAction action, CancellationToken cancellationToken)
    {
        var spec = action.Analysis;
        var started = context.Time.GetUtcNow();
        var counter = new ConsecutiveFailureCounter(spec.ConsecutiveFailures);
        while (true)
        {
            await context.Watchdog.TickAsync(cancellationToken, spec.Interval);
            if (context.SkipPauses)
            {
                await context.Record.EventAsync("StepSkipped", "analysis cut short (continue --full)", cancellationToken);
                return;
            }

            var evaluating = context.Time.GetTimestamp();
            var result = await context.Watchdog.JudgeAsync(spec, cancellationToken);
            context.Timings.Analysis.Observe(context.Time.GetElapsedTime(evaluating).TotalSeconds);
            if (counter.Record(result, context.Time.GetUtcNow(), spec.Interval))
            {
                await context.Watchdog.OnAnalysisFailedAsync(spec, result, cancellationToken);
                counter.Reset();
                continue;
            }

            var elapsed = context.Time.GetUtcNow() - started;
            if ((elapsed >= spec.Window || result.PassedConclusively) && result.Verdict == Verdict.Pass)
            {
                await context.Record.EventAsync("AnalysisPassed", $"analysis passed{(elapsed < spec.Window ? " early" : "")}: {result.Reason}", cancellationToken,
                    data: new EventData.AnalysisEvidence(result.Verdict.ToString(), result.Checks));
                return;
            }

            if (elapsed >= spec.Window * 3 && result.Verdict == Verdict.Inconclusive)
            {
                throw new StepAbortedException(
                    $"analysis inconclusive after {Durations.Format(elapsed)}: {result.Reason}; send more traffic or lower minRequests",
                    Trigger.AutomaticRollback, evidence: result.Checks);
            }
        }
    }
}
