using Backstay.Core.Analysis;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Engine;

/// <summary>
/// What is watched while a deployment waits between its acts: the commands people send (continue, stop, rollback),
/// the target's crash loops, the spec's alarms, the background analysis of its production traffic, drift while it is
/// paused, and the progress shown to people. A finding aborts the running step with a <see cref="StepAbortedException"/>.
/// </summary>
internal sealed class Watchdog(DeploymentContext context)
{
    /// <summary>Restarts of one instance after which the revision counts as crash-looping.</summary>
    public const int CrashLoopRestarts = 3;

    private static readonly TimeSpan ProgressEvery = TimeSpan.FromMilliseconds(500);

    /// <summary>How often at least a paused deployment reads the platform back for drift.</summary>
    private static readonly TimeSpan PausedDriftCheckInterval = TimeSpan.FromSeconds(2);

    /// <summary>How often alarm states are read; CloudWatch alarms evaluate once a minute at best.</summary>
    private static readonly TimeSpan AlarmPollInterval = TimeSpan.FromSeconds(2);

    private readonly ConsecutiveFailureCounter _background = new(context.Plan.Analysis.ConsecutiveFailures);

    /// <summary>Checks a person accepted after they failed with `onFailure: pause`: measured and shown from then on, no longer acted on.</summary>
    private readonly HashSet<string> _acknowledged = new(StringComparer.Ordinal);
    private DeploymentCommand? _pendingAnswer;
    private AnalysisReading? _analysis;
    private DateTimeOffset _lastProgress;
    private DateTimeOffset _lastAlarmCheck;
    private DateTimeOffset _lastPausedDriftCheck;

    /// <summary>The background analysis's latest verdict, or null before the target had production traffic.</summary>
    public AnalysisReading? LastAnalysis => _analysis;

    /// <summary>The chart points of both revisions, recorded at the evaluations this watch makes.</summary>
    public SeriesRecorder Series { get; } = new(context);

    /// <summary>Between steps: a stop or rollback aborts now; a continue is kept for the next pause to act on.</summary>
    public async Task BetweenStepsAsync(CancellationToken cancellationToken) =>
        _pendingAnswer = await HandleCommandsAsync(cancellationToken) ?? _pendingAnswer;

    /// <summary>
    /// Waits one interval, then answers commands and watches the target: crash loops, and the background analysis
    /// of its production traffic. Returns a Continue command for a pause to act on.
    /// </summary>
    public async Task<DeploymentCommand?> TickAsync(CancellationToken cancellationToken, TimeSpan? interval = null)
    {
        await WaitAsync(interval ?? context.Plan.Analysis.Interval, cancellationToken);
        var started = context.Time.GetTimestamp();
        try
        {
            var answer = await HandleCommandsAsync(cancellationToken) ?? _pendingAnswer;
            _pendingAnswer = null;
            if (!context.Watches)
            {
                // A rollback is not judged, but its chart goes on: traffic moving back to the stable revision.
                await Series.RecordAsync(null, cancellationToken);
                return answer;
            }

            return await WatchAsync(answer, cancellationToken);
        }
        finally
        {
            context.Timings.Watch.Observe(context.Time.GetElapsedTime(started).TotalSeconds);
        }
    }

    /// <summary>
    /// Waits one interval; where the platform reports requests as they arrive, only until the target's next request (after
    /// at least a quarter of the interval, so heavy traffic does not turn the watch into a busy loop). So the request that
    /// tips a sequential test is judged when it arrives, not up to an interval later.
    /// </summary>
    private async Task WaitAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        var signals = context.Platform.Signals;
        if (!signals.ReportsArrivals || !context.Watches || context.TargetTrafficSince is null)
        {
            await Task.Delay(interval, context.Time, cancellationToken);
            return;
        }

        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        async Task ArrivalAsync()
        {
            try
            {
                await Task.Delay(interval / 4, context.Time, waiting.Token);
                await signals.WaitForRequestsAsync(context.Service, context.Target.Number, waiting.Token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The platform could not say: the interval decides, as on a platform that does not report arrivals.
                await Task.Delay(Timeout.InfiniteTimeSpan, context.Time, waiting.Token);
            }
        }

        await Task.WhenAny(Task.Delay(interval, context.Time, waiting.Token), ArrivalAsync());
        await waiting.CancelAsync();
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// While a deployment waits for a person, someone may change the platform by hand: it is read back every observation
    /// interval (2 s at least; ECS asks for 10 s, its reads count against rate limits) and drift stops the deployment then,
    /// recorded and shown, rather than when `continue` comes.
    /// </summary>
    public async Task CheckDriftWhilePausedAsync(CancellationToken cancellationToken)
    {
        var now = context.Time.GetUtcNow();
        var every = context.Platform.ObservationInterval(context.Plan.Spec.Platform.Kind);
        if (!context.Watches || now - _lastPausedDriftCheck < (every > PausedDriftCheckInterval ? every : PausedDriftCheckInterval))
        {
            return;
        }

        _lastPausedDriftCheck = now;
        var observation = await Observations.ReadAsync(context.Platform, context.Service, context.Time, cancellationToken);
        var differences = DriftDetector.CompareDeployment(context.Deployment, context.Plan, observation);
        if (differences.Count > 0)
        {
            throw new StepAbortedException(
                $"the platform differs from the record while deployment {context.Deployment.Id} is paused: {string.Join("; ", differences)}; someone changed it by hand. Run `backstay status {context.Service}` and `backstay reset {context.Service}`",
                Trigger.AutomaticRollback, drift: differences);
        }
    }

    /// <summary>Judges the target's traffic against <paramref name="spec"/>; checks a person accepted are dry runs from then on.</summary>
    public async Task<AnalysisResult> JudgeAsync(AnalysisSpec spec, CancellationToken cancellationToken)
    {
        var result = await context.JudgeAsync(spec, cancellationToken);
        return _acknowledged.Count == 0 || !result.Checks.Any(c => _acknowledged.Contains(c.Metric) && !c.DryRun)
            ? result
            : AnalysisEvaluator.Combine([.. result.Checks.Select(c => _acknowledged.Contains(c.Metric) ? c with { DryRun = true } : c)], result.Metrics)
                with { Comparison = result.Comparison };
    }

    /// <summary>
    /// A failed analysis rolls the deployment back, or with `onFailure: pause` holds the traffic where it is for a person
    /// (<see cref="AnalysisHold"/>); returns when they accepted it.
    /// </summary>
    public async Task OnAnalysisFailedAsync(AnalysisSpec spec, AnalysisResult result, CancellationToken cancellationToken)
    {
        await Series.RecordAsync(result.Metrics, cancellationToken, force: true);
        if (spec.OnFailure != AnalysisFailure.Pause)
        {
            throw new StepAbortedException($"analysis failed: {result.Reason}", Trigger.AutomaticRollback, result.Metrics.FirstErrorAt, evidence: result.Checks);
        }

        foreach (var metric in await AnalysisHold.HoldAsync(context, spec, result, HandleCommandsAsync, cancellationToken))
        {
            _acknowledged.Add(metric);
        }

        _background.Reset();
    }

    private async Task<DeploymentCommand?> HandleCommandsAsync(CancellationToken cancellationToken)
    {
        DeploymentCommand? answer = null;
        foreach (var command in await context.Store.TakeCommandsAsync(context.Deployment.Id, cancellationToken))
        {
            var who = command.RequestedBy ?? "a user";
            switch (command.Kind)
            {
                case CommandKind.Rollback when !context.IsRollback:
                    throw new StepAbortedException($"rollback requested by {who}", Trigger.ManualRollback, requestedBy: command.RequestedBy);
                case CommandKind.Stop when !context.IsRollback:
                    throw new StepAbortedException($"stopped by {who}", Trigger.User, requestedBy: command.RequestedBy, stop: true);
                case CommandKind.Continue or CommandKind.ContinueFull:
                    answer = command;
                    if (command.Kind == CommandKind.ContinueFull)
                    {
                        context.SkipPauses = true;
                    }

                    await context.Record.EventAsync("ContinueRequested", command.Kind == CommandKind.ContinueFull
                        ? $"continue --full requested by {who}: remaining pauses, analyses and steps are skipped"
                        : $"continue requested by {who}", cancellationToken);
                    break;
                default:
                    await context.Record.EventAsync("CommandIgnored", $"{command.Kind} is not possible now", cancellationToken);
                    break;
            }
        }

        return answer;
    }

    private async Task<DeploymentCommand?> WatchAsync(DeploymentCommand? answer, CancellationToken cancellationToken)
    {
        var set = await context.GetSetAsync(context.Target.Number, cancellationToken);
        if (set?.Instances.FirstOrDefault(i => i.Restarts >= CrashLoopRestarts) is { } looping)
        {
            throw new StepAbortedException(
                $"instance {looping.Id} of revision {context.Target.Number} is crash-looping ({looping.Restarts} restarts){Wording.Detail(looping.LastError)}",
                Trigger.AutomaticRollback);
        }

        await WatchAlarmsAsync(cancellationToken);
        RevisionMetrics? metrics = null;
        if (context.Stable is not null && context.TargetTrafficSince is not null && context.Deployment.TargetWeight > 0)
        {
            var result = await JudgeAsync(context.Plan.Analysis, cancellationToken);
            metrics = result.Metrics;
            var fails = _background.Record(result, context.Time.GetUtcNow(), context.Plan.Analysis.Interval);
            // A sequential test's failure needs no more looks: one is all it takes.
            var toRollBack = result.Checks.Any(c => c is { Verdict: Verdict.Fail, Sequential: true, DryRun: false }) ? 1 : context.Plan.Analysis.ConsecutiveFailures;
            _analysis = new AnalysisReading(result.Verdict, result.Reason, _background.Failures, toRollBack, context.Time.GetUtcNow())
            {
                Checks = result.Checks,
            };
            if (fails)
            {
                await OnAnalysisFailedAsync(context.Plan.Analysis, result, cancellationToken);
            }
        }

        await Series.RecordAsync(metrics, cancellationToken);
        await ReportProgressAsync(set, metrics, cancellationToken);
        return answer;
    }

    /// <summary>Any alarm the spec names going to ALARM during the deployment rolls it back.</summary>
    private async Task WatchAlarmsAsync(CancellationToken cancellationToken)
    {
        var now = context.Time.GetUtcNow();
        if (now - _lastAlarmCheck < AlarmPollInterval)
        {
            return;
        }

        _lastAlarmCheck = now;
        ThrowIfFiring(await context.Platform.Signals.GetAlarmsAsync(context.Plan.Spec, cancellationToken));
    }

    /// <summary>
    /// Before production traffic moves up to the target and before the deployment succeeds, the alarms are read fresh:
    /// between two paced watching reads (seconds apart on ECS) an alarm may have fired.
    /// </summary>
    public async Task CheckAlarmsBeforeActingAsync(CancellationToken cancellationToken)
    {
        if (!context.Watches)
        {
            return;
        }

        _lastAlarmCheck = context.Time.GetUtcNow();
        ThrowIfFiring(await context.Platform.Signals.GetAlarmsBeforeActingAsync(context.Plan.Spec, cancellationToken));
    }

    private static void ThrowIfFiring(IReadOnlyList<AlarmStatus> alarms)
    {
        if (alarms.FirstOrDefault(a => a.InAlarm) is { } firing)
        {
            throw new StepAbortedException($"alarm {firing.Name} went to ALARM{Wording.Detail(firing.Reason)}", Trigger.AutomaticRollback);
        }
    }

    /// <summary>
    /// Puts a revision's instance counts into the recorded progress at once, before an event states them ("3/3 instances of
    /// revision 2 healthy", "revision 2 scaled to 3"): progress, read after that event, then never shows older figures than
    /// the event. Nothing is written while there are no figures yet.
    /// </summary>
    /// <param name="healthy">Healthy instances, or null to keep the recorded count.</param>
    public async Task ReportInstancesAsync(int revision, int? healthy, int desired, CancellationToken cancellationToken)
    {
        if (DeploymentProgress.Parse(context.Deployment.ProgressJson) is not { } progress)
        {
            return;
        }

        var updated = revision == context.Target.Number
            ? progress with { TargetHealthy = healthy ?? progress.TargetHealthy, TargetDesired = desired }
            : revision == context.Stable?.Number
                ? progress with { StableHealthy = healthy ?? progress.StableHealthy, StableDesired = desired }
                : progress;
        if (updated != progress)
        {
            await context.Record.SaveAsync(context.Deployment with { ProgressJson = BackstayJson.Serialize(updated, DeploymentProgress.JsonOptions) }, cancellationToken);
        }
    }

    private async Task ReportProgressAsync(InstanceSet? target, RevisionMetrics? metrics, CancellationToken cancellationToken)
    {
        var now = context.Time.GetUtcNow();
        if (now - _lastProgress < ProgressEvery)
        {
            return;
        }

        _lastProgress = now;
        var stableSet = context.Stable is null ? null : await context.GetSetAsync(context.Stable.Number, cancellationToken);
        var progress = new DeploymentProgress
        {
            TargetWeight = context.Deployment.TargetWeight,
            TargetHealthy = target?.HealthyCount ?? 0,
            TargetDesired = target?.DesiredCount ?? 0,
            StableHealthy = stableSet?.HealthyCount ?? 0,
            StableDesired = stableSet?.DesiredCount ?? 0,
            Requests = metrics?.Requests,
            ErrorRate = metrics?.ErrorRate,
            LatencyP99Ms = metrics?.LatencyP99Ms,
            Analysis = _analysis,
        };
        await context.Record.SaveAsync(context.Deployment with { ProgressJson = BackstayJson.Serialize(progress, DeploymentProgress.JsonOptions) }, cancellationToken);
    }
}
