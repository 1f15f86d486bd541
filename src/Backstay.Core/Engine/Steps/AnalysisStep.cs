using Backstay.Core.Analysis;
using Backstay.Core.Model;

namespace Backstay.Core.Engine.Steps;

/// <summary>
/// Judges the target's traffic each interval for one window: passes when the window is over and the last verdict
/// passed, fails after the spec's consecutive failures, and gives up after three windows without enough evidence.
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
            var result = await context.JudgeAsync(spec, cancellationToken);
            context.Timings.Analysis.Observe(context.Time.GetElapsedTime(evaluating).TotalSeconds);
            if (counter.Record(result))
            {
                await context.Watchdog.Series.RecordAsync(result.Metrics, cancellationToken, force: true);
                throw new StepAbortedException($"analysis failed: {result.Reason}", Trigger.AutomaticRollback, result.Metrics.FirstErrorAt);
            }

            // Against the stable revision the decision is sequential: once the interval says the new revision is within
            // what is allowed, waiting out the window adds nothing.
            var elapsed = context.Time.GetUtcNow() - started;
            if ((elapsed >= spec.Window || result.Comparison is { WithinAllowed: true }) && result.Verdict == Verdict.Pass)
            {
                await context.Record.EventAsync("AnalysisPassed", $"analysis passed: {result.Reason}", cancellationToken);
                return;
            }

            if (elapsed >= spec.Window * 3 && result.Verdict == Verdict.Inconclusive)
            {
                throw new StepAbortedException(
                    $"analysis inconclusive after {Durations.Format(elapsed)}: {result.Reason}; send more traffic or lower minRequests",
                    Trigger.AutomaticRollback);
            }
        }
    }
}
