using System.Text.Json;
using Backstay.Core.Analysis;
using Backstay.Core.Hooks;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Backstay.Core.Engine;

/// <summary>Why a running step stopped early.</summary>
internal sealed class StepAbortedException(string reason, Trigger trigger, DateTimeOffset? firstErrorAt = null,
    string? requestedBy = null, bool stop = false, IReadOnlyList<string>? drift = null) : Exception(reason)
{
    public Trigger Trigger { get; } = trigger;

    /// <summary>Who asked for the rollback, when a person did.</summary>
    public string? RequestedBy { get; } = requestedBy;

    /// <summary>Stop where the deployment stands rather than roll back (asked for, or the platform no longer matches the record).</summary>
    public bool Stop { get; } = stop || drift is not null;

    /// <summary>What differs between the platform and the record, when drift stops the deployment: then nothing more is changed.</summary>
    public IReadOnlyList<string>? Drift { get; } = drift;

    /// <summary>When the target served its first failed request, for time-to-safety figures.</summary>
    public DateTimeOffset? FirstErrorAt { get; } = firstErrorAt;
}

/// <summary>
/// Runs one deployment's plan step by step, journaling the intent of each step before acting and its result
/// after, while watching the target's health and traffic; turns a failure into a rollback deployment.
/// </summary>
internal sealed class DeploymentRunner
{
    /// <summary>Restarts of one instance after which the revision counts as crash-looping.</summary>
    private const int CrashLoopRestarts = 3;

    private static readonly TimeSpan ProgressEvery = TimeSpan.FromMilliseconds(500);

    /// <summary>How long past task.startTimeout a platform-run rollout may go without another instance running.</summary>
    private static readonly TimeSpan NativeRolloutStallMargin = TimeSpan.FromMinutes(10);

    /// <summary>How often at least a paused deployment reads the platform back for drift.</summary>
    private static readonly TimeSpan PausedDriftCheckInterval = TimeSpan.FromSeconds(2);

    /// <summary>How often alarm states are read; CloudWatch alarms evaluate once a minute at best.</summary>
    private static readonly TimeSpan AlarmPollInterval = TimeSpan.FromSeconds(2);

    private readonly IStateStore _store;
    private readonly IPlatform _platform;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly EngineTimings _timings;
    private Deployment _deployment;
    private DeploymentPlan _plan;
    private Revision _target = null!;
    private Revision? _stable;
    private DateTimeOffset? _targetTrafficSince;
    private ConsecutiveFailureCounter _background;
    private DateTimeOffset _lastProgress;
    private DateTimeOffset _lastAlarmCheck;
    private bool _skipPauses;

    public DeploymentRunner(IStateStore store, IPlatform platform, TimeProvider time, ILogger logger, Deployment deployment, EngineTimings? timings = null)
    {
        _store = store;
        _platform = platform;
        _time = time;
        _logger = logger;
        _timings = timings ?? new EngineTimings();
        _deployment = deployment;
        _plan = DeploymentPlan.FromJson(deployment.PlanJson);
        _background = new ConsecutiveFailureCounter(_plan.Analysis.ConsecutiveFailures);
    }

    private string Service => _deployment.Service;

    private bool IsRollback => _deployment.Kind == DeploymentKind.Rollback;

    /// <summary>Only a deployment of a new revision is judged; rollbacks and resets restore what was known good.</summary>
    private bool Watches => _deployment.Kind == DeploymentKind.Deploy;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (_deployment.Kind == DeploymentKind.Reset && _plan.Actions.Count == 0)
        {
            await AdoptAsync(cancellationToken);
            return;
        }

        _target = await RequireRevisionAsync(_deployment.TargetRevision, cancellationToken);
        _stable = _deployment.StableRevision is { } s ? await RequireRevisionAsync(s, cancellationToken) : null;
        try
        {
            if (_deployment.Kind == DeploymentKind.Reset)
            {
                await _platform.RecreateServiceAsync(_plan.Spec, cancellationToken);
            }
            else
            {
                await _platform.EnsureServiceAsync(_plan.Spec, cancellationToken);
            }
        }
        catch (PlatformException ex) when (_deployment.State == DeploymentState.Pending)
        {
            // Nothing has moved yet: a platform that cannot take the service stops the deployment with its message.
            await EventAsync("Stopped", ex.Message, cancellationToken);
            await SaveAsync(Finish(DeploymentState.Stopped, ex.Message), cancellationToken);
            return;
        }

        if (_plan.Actions.Count == 0 && IsRollback)
        {
            await PlanManualRollbackAsync(cancellationToken);
        }

        if (_deployment.State == DeploymentState.Pending)
        {
            var stableCount = await CountAsync(_stable?.Number, healthyOnly: false, cancellationToken);
            await SaveAsync(_deployment with
            {
                State = DeploymentState.InProgress,
                StableCountBefore = _deployment.StableCountBefore > 0 ? _deployment.StableCountBefore : stableCount,
            }, cancellationToken);
            await EventAsync(IsRollback ? "RollbackStarted" : "Started",
                IsRollback
                    ? $"rolling back to revision {_target.Number}" + (_stable is null ? "" : $" from revision {_stable.Number}")
                    : _deployment.Kind == DeploymentKind.Reset
                    ? $"reset: bringing back revision {_target.Number} (the last good revision) at its count with all production traffic"
                    : $"deploying revision {_target.Number}" + (_stable is null ? " (first deployment)" : $" over revision {_stable.Number}") + $" with {_deployment.Strategy}",
                cancellationToken);
            if (!IsRollback)
            {
                Notify("started", _deployment);
            }
        }
        else
        {
            EngineLog.Resuming(_logger, _deployment.Id, Service, _deployment.CurrentStep);
            await EventAsync("Resumed", $"resumed at step {_deployment.CurrentStep + 1} of {_plan.Actions.Count} after a restart of Backstay", cancellationToken);
            if (_deployment.TargetWeight > 0)
            {
                _targetTrafficSince = _time.GetUtcNow();
            }
        }

        try
        {
            var starting = Watches && _deployment.TargetWeight == 0 && _deployment.CurrentStep == 0 && _deployment.StepPhase == StepPhase.NotStarted;
            if (starting)
            {
                // Before anything is suspended or scaled: a deployment that finds drift must leave the platform exactly as it found it.
                await CheckDriftBeforeStartAsync(cancellationToken);
            }

            await _platform.BeginDeploymentAsync(_plan.Spec, cancellationToken);
            if (starting)
            {
                await CheckAlarmsBeforeStartAsync(cancellationToken);
            }

            var first = _deployment.StepPhase == StepPhase.Completed ? _deployment.CurrentStep + 1 : _deployment.CurrentStep;
            for (var step = first; step < _plan.Actions.Count; step++)
            {
                var action = _plan.Actions[step];
                _pendingAnswer = await HandleCommandsAsync(cancellationToken) ?? _pendingAnswer;
                await JournalAsync(step, StepPhase.Started, action, cancellationToken);
                await SaveAsync(_deployment with { CurrentStep = step, StepPhase = StepPhase.Started }, cancellationToken);
                await EventAsync("StepStarted", $"step {step + 1}/{_plan.Actions.Count}: {action.Describe()}", cancellationToken, step);
                await ExecuteAsync(action, cancellationToken);
                await JournalAsync(step, StepPhase.Completed, action, cancellationToken);
                await SaveAsync(_deployment with { StepPhase = StepPhase.Completed }, cancellationToken);
            }
        }
        catch (StepAbortedException aborted) when (aborted.Drift is { } differences)
        {
            await StopForDriftAsync(aborted, differences, cancellationToken);
            return;
        }
        catch (PlatformDriftException ex)
        {
            await StopForDriftAsync(new StepAbortedException(ex.Message, Trigger.AutomaticRollback, drift: [ex.Message]), [ex.Message], cancellationToken);
            return;
        }
        catch (StepAbortedException aborted) when (aborted.Stop)
        {
            await CloseAwaitingHooksAsync(aborted, cancellationToken);
            await EventAsync("Stopped", aborted.Message + (_deployment.TargetWeight is > 0 and < 100 && _stable is not null
                ? $"; traffic stays split (revision {_target.Number} {_deployment.TargetWeight}%, revision {_stable.Number} {100 - _deployment.TargetWeight}%) as recorded here until `backstay reset {Service}` or a rollback"
                : ""), cancellationToken);
            await SaveAsync(Finish(DeploymentState.Stopped, aborted.Message), cancellationToken);
            Notify("stopped", _deployment);
            await _platform.EndDeploymentAsync(_plan.Spec, _stable?.Number ?? _target.Number, cancellationToken);
            return;
        }
        catch (StepAbortedException aborted)
        {
            await CloseAwaitingHooksAsync(aborted, cancellationToken);
            await FailAsync(aborted.Message, aborted.Trigger, aborted.FirstErrorAt, cancellationToken, aborted.RequestedBy);
            return;
        }
        catch (Exception ex) when (ex is not OperationCanceledException && ex is PlatformException)
        {
            await FailAsync($"the platform failed: {ex.Message}", Trigger.AutomaticRollback, null, cancellationToken);
            return;
        }

        if (_deployment.Kind == DeploymentKind.Reset && await NotServingAsync(cancellationToken) is { } problem)
        {
            await FailAsync(problem, Trigger.Reset, null, cancellationToken);
            return;
        }

        await SucceedAsync(cancellationToken);
    }

    /// <summary>
    /// Drift stops the deployment where it stands and records what differs. Nothing more is sent to the platform: not
    /// even the end-of-deployment settling (serving task set to 100%, auto scaling resumed), which would act on a
    /// service someone changed by hand; `backstay reset` decides what runs from here.
    /// </summary>
    private async Task StopForDriftAsync(StepAbortedException aborted, IReadOnlyList<string> differences, CancellationToken cancellationToken)
    {
        await CloseAwaitingHooksAsync(aborted, cancellationToken);
        await EventAsync(DriftDetector.EventType, "the platform differs from the record: " + string.Join("; ", differences), cancellationToken,
            data: new { differences });
        await EventAsync("Stopped", aborted.Message + $"; Backstay changed nothing after finding it (traffic and instances stay as found). See `backstay status {Service}`, then `backstay reset {Service}`", cancellationToken);
        await SaveAsync(Finish(DeploymentState.Stopped, aborted.Message), cancellationToken);
        Notify("stopped", _deployment);
    }

    /// <summary>
    /// A reset is judged by what the production listener serves, read back from the platform, not by the calls it made:
    /// the target with all production traffic and its count of healthy instances. Null when it serves so.
    /// </summary>
    private async Task<string?> NotServingAsync(CancellationToken cancellationToken)
    {
        var weights = await _platform.Traffic.GetWeightsAsync(Service, Listener.Production, cancellationToken);
        if (weights.GetValueOrDefault(_target.Number) < 98)
        {
            return $"production traffic goes to {Split(weights)} after the reset set revision {_target.Number} to 100%: the load balancer does not serve what Backstay set";
        }

        var count = _plan.Actions.OfType<ScaleAction>().LastOrDefault(a => a.Role == Role.Target)?.Count ?? _plan.DesiredCount;
        var healthy = await CountAsync(_target.Number, healthyOnly: true, cancellationToken);
        return healthy < count ? $"only {healthy} of {count} instance(s) of revision {_target.Number} are healthy after the reset" : null;
    }

    private static string Split(IReadOnlyDictionary<int, int> weights) =>
        weights.Count == 0 ? "no revision" : string.Join(", ", weights.OrderBy(w => w.Key).Select(w => $"revision {w.Key} {w.Value}%"));

    private async Task ExecuteAsync(PlanAction action, CancellationToken cancellationToken)
    {
        if (_skipPauses && action is AnalysisAction or WaitAction or WeightAction { TargetWeight: < 100 })
        {
            await EventAsync("StepSkipped", $"{action.Describe()} skipped (continue --full)", cancellationToken);
            return;
        }

        switch (action)
        {
            case ScaleAction scale:
                await ScaleAsync(scale, cancellationToken);
                break;
            case WeightAction weight when IsRollback:
                await MoveTrafficBackAsync(weight.TargetWeight, cancellationToken);
                break;
            case WeightAction weight:
                await SetWeightAsync(weight.TargetWeight, cancellationToken);
                break;
            case TestTrafficAction test:
                await SetTestTrafficAsync(test.ToTarget, cancellationToken);
                break;
            case PauseAction pause:
                await PauseAsync(pause.Duration, cancellationToken);
                break;
            case AnalysisAction analysis:
                await AnalyseAsync(analysis.Analysis, cancellationToken);
                break;
            case WaitAction wait:
                await WaitAsync(wait.Duration, cancellationToken);
                break;
            case HookAction hook:
                await RunHooksAsync(hook, cancellationToken);
                break;
            case NativeRolloutAction:
                await NativeRolloutAsync(cancellationToken);
                break;
            default:
                throw new InvalidOperationException($"Unknown plan action {action.GetType().Name}.");
        }
    }

    /// <param name="healthyEnough">How many healthy instances end the wait, when fewer than all will do.</param>
    private async Task ScaleAsync(ScaleAction scale, CancellationToken cancellationToken, int? healthyEnough = null)
    {
        var revision = scale.Role == Role.Target ? _target : _stable;
        if (revision is null)
        {
            return;
        }

        await _platform.Compute.ScaleAsync(_plan.Spec, revision, scale.Count, cancellationToken);
        await EventAsync("Scaled", $"revision {revision.Number} scaled to {scale.Count}", cancellationToken);
        if (!scale.WaitHealthy || scale.Count == 0)
        {
            return;
        }

        var deadline = _time.GetUtcNow() + _plan.Spec.Task.StartTimeout;
        while (true)
        {
            var set = await GetSetAsync(revision.Number, cancellationToken);
            if (set is not null && set.HealthyCount >= (healthyEnough ?? scale.Count))
            {
                await EventAsync("InstancesHealthy", $"{set.HealthyCount}/{scale.Count} instances of revision {revision.Number} healthy", cancellationToken);
                return;
            }

            if (set?.Instances.FirstOrDefault(i => i.Restarts >= CrashLoopRestarts) is { } looping)
            {
                throw new StepAbortedException(
                    $"instance {looping.Id} of revision {revision.Number} is crash-looping ({looping.Restarts} restarts){Detail(looping.LastError)}; {await _platform.LogsHintAsync(_plan.Spec, revision.Number, cancellationToken)}",
                    Trigger.AutomaticRollback);
            }

            if (_time.GetUtcNow() >= deadline)
            {
                var healthy = set?.HealthyCount ?? 0;
                var error = set?.Instances.Select(i => i.LastError).LastOrDefault(e => e is not null);
                throw new StepAbortedException(
                    $"only {healthy} of {scale.Count} instances of revision {revision.Number} became healthy within {Durations.Format(_plan.Spec.Task.StartTimeout)}{Detail(error)}; {await _platform.LogsHintAsync(_plan.Spec, revision.Number, cancellationToken)}",
                    Trigger.AutomaticRollback);
            }

            await TickAsync(cancellationToken);
        }
    }

    /// <summary>
    /// A rollback's traffic step: production traffic goes to the instances of the restored revision that are healthy
    /// now, before any capacity is restored. When none is, the revision is brought up first (to the count of the
    /// rollback's next restore step), and traffic moves as soon as one instance is healthy; the timeline says so.
    /// </summary>
    private async Task MoveTrafficBackAsync(int targetWeight, CancellationToken cancellationToken)
    {
        var healthy = await CountAsync(_target.Number, healthyOnly: true, cancellationToken);
        if (healthy == 0)
        {
            var count = _plan.Actions.Skip(_deployment.CurrentStep + 1).OfType<ScaleAction>().FirstOrDefault(a => a is { Role: Role.Target, Count: > 0 })?.Count
                ?? Math.Max(1, _plan.DesiredCount);
            await EventAsync("NoHealthyInstance",
                $"revision {_target.Number} has no healthy instance left: bringing it up to {count} before production traffic moves to it"
                + (_stable is null ? "" : $" (revision {_stable.Number} keeps its {100 - _deployment.TargetWeight}% until then)"),
                cancellationToken);
            await ScaleAsync(new ScaleAction(Role.Target, count, WaitHealthy: true), cancellationToken, healthyEnough: 1);
            healthy = await CountAsync(_target.Number, healthyOnly: true, cancellationToken);
        }

        await SetWeightAsync(targetWeight, cancellationToken, $" (to the {healthy} healthy instance(s) of revision {_target.Number})");
    }

    private async Task SetWeightAsync(int targetWeight, CancellationToken cancellationToken, string? detail = null)
    {
        if (!IsRollback && _stable is not null && _deployment.TargetWeight > 0)
        {
            await CheckDriftAsync(targetWeight, cancellationToken);
        }

        var weights = Weights(targetWeight);
        await _platform.Traffic.SetWeightsAsync(Service, Listener.Production, weights, cancellationToken);
        var now = _time.GetUtcNow();
        if (targetWeight > 0 && _targetTrafficSince is null)
        {
            _targetTrafficSince = now;
        }

        await SaveAsync(_deployment with { TargetWeight = targetWeight }, cancellationToken);
        await EventAsync("TrafficShifted", "production traffic: " + string.Join(", ", weights.Select(w => $"revision {w.Key} {w.Value}%")) + detail, cancellationToken,
            data: new { weights = weights.ToDictionary(w => w.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), w => w.Value) });

        if (targetWeight == 100)
        {
            await MarkUndoneSafeAsync(now, cancellationToken);
        }
    }

    /// <summary>During a rollback, records when the failed revision stopped receiving production traffic (time to safety).</summary>
    private async Task MarkUndoneSafeAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (IsRollback && _deployment.RollbackOf is { } undoneId
            && await _store.GetDeploymentAsync(undoneId, cancellationToken) is { SafeAt: null } undone)
        {
            await _store.UpdateDeploymentAsync(undone with { SafeAt = now, UpdatedAt = now }, cancellationToken);
            await EventAsync("Safe", $"revision {_stable?.Number} no longer receives production traffic", cancellationToken);
        }
    }

    /// <summary>
    /// Lets the platform roll the target out itself and follows it each tick. The rollout's id is journaled once it
    /// started, so a runner resumed after a restart follows the same rollout instead of starting another. The platform
    /// only reports: its failure verdict (e.g. ECS's circuit breaker) aborts the step, and the engine rolls back.
    /// </summary>
    private async Task NativeRolloutAsync(CancellationToken cancellationToken)
    {
        var native = _platform.NativeRollout
            ?? throw new PlatformException($"the {_platform.Name} platform cannot run a rolling update itself; deploy '{Service}' with a strategy Backstay runs");
        var step = _deployment.CurrentStep;
        NativeRolloutStatus status;
        if (await JournaledRolloutIdAsync(step, cancellationToken) is { } journaled)
        {
            status = await native.GetAsync(_plan.Spec, journaled, cancellationToken);
            await EventAsync("RolloutResumed", $"following rollout {journaled} of revision {_target.Number} again after a restart of Backstay", cancellationToken, step);
        }
        else
        {
            status = await native.StartAsync(_plan.Spec, _target, cancellationToken);
            await _store.AppendJournalAsync(new JournalEntry
            {
                DeploymentId = _deployment.Id,
                Step = step,
                Phase = StepPhase.Started,
                Action = $"rollout {status.Id} started",
                DetailJson = JsonSerializer.Serialize(new NativeRolloutJournal(status.Id), NativeRolloutJournal.JsonOptions),
                At = _time.GetUtcNow(),
            }, cancellationToken);
            await EventAsync("RolloutStarted", $"the platform rolls revision {_target.Number} out (rollout {status.Id})", cancellationToken, step,
                data: new { rolloutId = status.Id });
        }

        // New instances take production traffic as they become healthy: background analysis and alarms judge them from now on.
        _targetTrafficSince ??= _time.GetUtcNow();
        var reported = -1;
        var progressAt = _time.GetUtcNow();
        while (true)
        {
            if (status.Running != reported)
            {
                if (status.Running > reported)
                {
                    progressAt = _time.GetUtcNow();
                }

                reported = status.Running;
                await EventAsync("RolloutProgress", $"rollout {status.Id}: {status.Running}/{status.Desired} instance(s) of revision {_target.Number} running"
                    + (status.FailedTasks > 0 ? $", {status.FailedTasks} failed to start" : ""), cancellationToken, step,
                    data: new { running = status.Running, desired = status.Desired, failedTasks = status.FailedTasks });
                await SaveAsync(_deployment with
                {
                    ProgressJson = JsonSerializer.Serialize(new DeploymentProgress
                    {
                        TargetWeight = _deployment.TargetWeight,
                        TargetHealthy = status.Running,
                        TargetDesired = status.Desired,
                    }, DeploymentProgress.JsonOptions),
                }, cancellationToken);
            }

            switch (status.State)
            {
                case NativeRolloutState.Completed:
                    var now = _time.GetUtcNow();
                    await SaveAsync(_deployment with { TargetWeight = 100 }, cancellationToken);
                    await EventAsync("RolloutCompleted", $"rollout {status.Id} completed: revision {_target.Number} serves with {status.Running}/{status.Desired} instance(s)", cancellationToken, step);
                    await MarkUndoneSafeAsync(now, cancellationToken);
                    return;
                case NativeRolloutState.Failed:
                    throw new StepAbortedException(
                        $"the platform's rollout {status.Id} of revision {_target.Number} failed{Because(status.Reason)}",
                        Trigger.AutomaticRollback);
                case NativeRolloutState.RolledBack:
                    throw new StepAbortedException(
                        $"the platform rolled revision {_target.Number} back on its own (rollout {status.Id}){Because(status.Reason)}",
                        Trigger.AutomaticRollback);
            }

            // ECS's circuit breaker counts tasks that fail; tasks it cannot place (no capacity, no IP) leave a rollout waiting for ever.
            // Between batches ECS waits for the old tasks to drain (the target group's deregistration delay, 5 min by default), hence the margin.
            var stallLimit = _plan.Spec.Task.StartTimeout + NativeRolloutStallMargin;
            if (status.Running < status.Desired && _time.GetUtcNow() - progressAt > stallLimit)
            {
                throw new StepAbortedException(
                    $"the platform's rollout {status.Id} of revision {_target.Number} made no progress for {Durations.Format(stallLimit)} (task.startTimeout + 10m): " +
                    $"{status.Running}/{status.Desired} instance(s) running{(status.FailedTasks > 0 ? $", {status.FailedTasks} failed to start" : "")}; " +
                    "the platform may be unable to place or start them (see the service's events)",
                    Trigger.AutomaticRollback);
            }

            await TickAsync(cancellationToken);
            status = await native.GetAsync(_plan.Spec, status.Id, cancellationToken);
        }
    }

    private async Task<string?> JournaledRolloutIdAsync(int step, CancellationToken cancellationToken)
    {
        var journal = await _store.ListJournalAsync(_deployment.Id, cancellationToken);
        return journal.Where(e => e.Step == step && e.DetailJson is not null)
            .Select(e => NativeRolloutJournal.Parse(e.DetailJson!)?.RolloutId)
            .LastOrDefault(id => id is not null);
    }

    private Dictionary<int, int> Weights(int targetWeight)
    {
        if (_stable is null || _stable.Number == _target.Number)
        {
            return new Dictionary<int, int> { [_target.Number] = 100 };
        }

        return new Dictionary<int, int> { [_target.Number] = targetWeight, [_stable.Number] = 100 - targetWeight };
    }

    private async Task CheckDriftAsync(int targetWeight, CancellationToken cancellationToken)
    {
        var expected = Weights(_deployment.TargetWeight);
        var actual = await _platform.Traffic.GetWeightsAsync(Service, Listener.Production, cancellationToken);

        // A step run again after a restart may find its own change already made: that is its journaled intent, not drift.
        if (Weights(targetWeight).All(w => Math.Abs((actual.TryGetValue(w.Key, out var live) ? live : 0) - w.Value) <= 2))
        {
            return;
        }

        foreach (var (revision, weight) in expected)
        {
            var live = actual.TryGetValue(revision, out var w) ? w : 0;
            if (Math.Abs(live - weight) > 2)
            {
                throw new StepAbortedException(
                    $"the platform differs from the record: revision {revision} has {live}% of production traffic, Backstay set {weight}%; someone changed it by hand. Run `backstay status {Service}` and `backstay reset {Service}`",
                    Trigger.AutomaticRollback, drift: [$"revision {revision} has {live}% of production traffic, Backstay set {weight}% for deployment {_deployment.Id}"]);
            }
        }
    }

    private async Task SetTestTrafficAsync(bool toTarget, CancellationToken cancellationToken)
    {
        if (_plan.Spec.Platform.Local is { TestListener: null } || _plan.Spec.Platform.Ecs is { LoadBalancer.TestListener: null })
        {
            return;
        }

        var revision = toTarget || _stable is null ? _target.Number : _stable.Number;
        await _platform.Traffic.SetWeightsAsync(Service, Listener.Test, new Dictionary<int, int> { [revision] = 100 }, cancellationToken);
        await SaveAsync(_deployment with { TestTrafficOnTarget = toTarget }, cancellationToken);
        await EventAsync("TestTrafficShifted", $"test traffic: revision {revision} 100%", cancellationToken);
    }

    private async Task PauseAsync(TimeSpan? duration, CancellationToken cancellationToken)
    {
        if (_skipPauses)
        {
            return;
        }

        var until = duration is { } d ? _time.GetUtcNow() + d : (DateTimeOffset?)null;
        if (until is null)
        {
            // Only a pause that waits for a person makes the deployment Paused; a timed one is a wait in progress.
            await SaveAsync(_deployment with { State = DeploymentState.Paused }, cancellationToken);
            Notify("paused", _deployment);
            await EventAsync("Paused", $"paused until continued: `backstay continue {_deployment.Id}` (or `backstay rollback {Service}`)", cancellationToken);
        }
        else
        {
            await EventAsync("Waiting", $"waiting {Durations.Format(duration!.Value)} (`backstay continue {_deployment.Id} --full` skips it)", cancellationToken);
        }

        try
        {
            while (until is null || _time.GetUtcNow() < until)
            {
                if (await TickAsync(cancellationToken) is { HookId: null } || _skipPauses)
                {
                    break;
                }

                await CheckDriftWhilePausedAsync(cancellationToken);
            }
        }
        finally
        {
            if (!cancellationToken.IsCancellationRequested && _deployment.State == DeploymentState.Paused)
            {
                await SaveAsync(_deployment with { State = DeploymentState.InProgress }, CancellationToken.None);
            }
        }

        await EventAsync("Continued", until is null ? "pause ended" : "wait ended", cancellationToken);
    }

    /// <summary>
    /// Runs a stage's hooks in order. A hook that already succeeded (before a restart) is not run again; a pause
    /// hook that was waiting goes on waiting with the same id and expiry. A failure fails the stage, except on the
    /// way back during a rollback, where it is recorded and the rollback goes on.
    /// </summary>
    private async Task RunHooksAsync(HookAction action, CancellationToken cancellationToken)
    {
        if (!_plan.Spec.Hooks.TryGetValue(action.Stage, out var hooks))
        {
            return;
        }

        var previous = await _store.ListHookRunsAsync(_deployment.Id, cancellationToken);
        for (var index = 0; index < hooks.Count; index++)
        {
            var hook = hooks[index];
            var earlier = previous.LastOrDefault(r => r.Step == _deployment.CurrentStep && r.Stage == action.Stage && r.Index == index);
            if (earlier is { State: HookState.Succeeded })
            {
                continue;
            }

            if (earlier is { State: HookState.InProgress or HookState.Pending })
            {
                await _store.SaveHookRunAsync(earlier with
                {
                    State = HookState.Failed,
                    FinishedAt = _time.GetUtcNow(),
                    Output = (earlier.Output is null ? "" : earlier.Output + "\n") + "[interrupted by a restart of Backstay; run again]",
                }, cancellationToken);
            }

            if (action.DuringRollback && hook.Pause is not null)
            {
                continue;
            }

            var run = earlier is { State: HookState.AwaitingAction } ? earlier : new HookRun
            {
                Id = Ids.NewHookId(),
                Step = _deployment.CurrentStep,
                DeploymentId = _deployment.Id,
                Stage = action.Stage,
                Index = index,
                Kind = hook.Pause is not null ? "pause" : hook.Http is not null ? "http" : "exec",
                State = HookState.InProgress,
                StartedAt = _time.GetUtcNow(),
            };
            await _store.SaveHookRunAsync(run, cancellationToken);
            await EventAsync("HookStarted", $"{action.Stage} hook {run.Id} ({run.Kind}) started", cancellationToken);
            var finished = hook.Pause is { } pause
                ? await AwaitPauseHookAsync(run, pause, cancellationToken)
                : await RunCommandHookAsync(run, hook, action, cancellationToken);
            await _store.SaveHookRunAsync(finished, cancellationToken);
            if (finished.State == HookState.Succeeded)
            {
                await EventAsync("HookSucceeded", $"{action.Stage} hook {run.Id} succeeded" + (finished.Answer is { } a ? $" ({a})" : ""), cancellationToken);
                continue;
            }

            var why = $"{action.Stage} hook {run.Id} ({run.Kind}) {(finished.State == HookState.TimedOut ? "timed out" : "failed")}{Detail(LastLine(finished.Output))}";
            if (action.DuringRollback)
            {
                await EventAsync("HookFailed", why + "; the rollback goes on", cancellationToken);
                continue;
            }

            if (finished.Answer == "rollback")
            {
                throw new StepAbortedException($"rollback requested at {action.Stage} hook {run.Id} by {finished.AnsweredBy ?? "a user"}",
                    Trigger.ManualRollback, requestedBy: finished.AnsweredBy);
            }

            throw new StepAbortedException(why, Trigger.AutomaticRollback);
        }
    }

    private async Task<HookRun> RunCommandHookAsync(HookRun run, Spec.HookSpec hook, HookAction action, CancellationToken cancellationToken)
    {
        var context = new HookContext
        {
            DeploymentId = _deployment.Id,
            HookId = run.Id,
            Service = Service,
            Stage = action.Stage,
            StableRevision = _stable?.Number,
            TargetRevision = _target.Number,
            Rollback = IsRollback,
            TestListenerUrl = await _platform.TestListenerUrlAsync(_plan.Spec, cancellationToken),
        };
        var outcome = hook.Exec is { } exec
            ? await ExecHookRunner.RunAsync(exec, context, _plan.Spec.BaseDirectory ?? Directory.GetCurrentDirectory(), cancellationToken)
            : await new HttpHookRunner(HookHttp.Client, _time).RunAsync(hook.Http!, context, Environment.GetEnvironmentVariable, cancellationToken);
        return run with
        {
            State = outcome.Passed ? HookState.Succeeded : outcome.TimedOut ? HookState.TimedOut : HookState.Failed,
            FinishedAt = _time.GetUtcNow(),
            Output = outcome.Output,
        };
    }

    /// <summary>Waits in AwaitingAction for CONTINUE or ROLLBACK (by hook id, or without one), or applies the default on expiry.</summary>
    private async Task<HookRun> AwaitPauseHookAsync(HookRun run, Spec.PauseHookSpec pause, CancellationToken cancellationToken)
    {
        if (_skipPauses)
        {
            return run with { State = HookState.Succeeded, FinishedAt = _time.GetUtcNow(), Answer = "skipped by continue --full" };
        }

        run = run.State == HookState.AwaitingAction ? run : run with { State = HookState.AwaitingAction, ExpiresAt = _time.GetUtcNow() + pause.Timeout };
        await _store.SaveHookRunAsync(run, cancellationToken);
        await SaveAsync(_deployment with { State = DeploymentState.Paused }, cancellationToken);
        Notify("paused", _deployment);
        await EventAsync("Paused", $"{run.Stage} hook {run.Id} awaits action until {run.ExpiresAt:u} (then {pause.OnTimeout}): `backstay continue {_deployment.Id}` or `backstay rollback {_deployment.Id}`", cancellationToken);
        try
        {
            while (_time.GetUtcNow() < run.ExpiresAt)
            {
                DeploymentCommand? answer;
                try
                {
                    answer = await TickAsync(cancellationToken);
                }
                catch (StepAbortedException aborted) when (aborted.Trigger == Trigger.ManualRollback)
                {
                    return run with { State = HookState.Failed, FinishedAt = _time.GetUtcNow(), Answer = "rollback", AnsweredBy = aborted.RequestedBy };
                }

                if (_skipPauses || (answer is not null && (answer.HookId is null || answer.HookId == run.Id)))
                {
                    return run with { State = HookState.Succeeded, FinishedAt = _time.GetUtcNow(), Answer = "continue", AnsweredBy = answer?.RequestedBy };
                }

                if (answer is not null)
                {
                    await EventAsync("CommandIgnored", $"no hook {answer.HookId} awaits action; hook {run.Id} does", cancellationToken);
                }

                await CheckDriftWhilePausedAsync(cancellationToken);
            }

            return pause.OnTimeout == "continue"
                ? run with { State = HookState.Succeeded, FinishedAt = _time.GetUtcNow(), Answer = "continue (default on timeout)" }
                : run with { State = HookState.TimedOut, FinishedAt = _time.GetUtcNow(), Answer = "rollback (default on timeout)" };
        }
        catch (StepAbortedException aborted)
        {
            await _store.SaveHookRunAsync(run with
            {
                State = HookState.Failed,
                FinishedAt = _time.GetUtcNow(),
                Answer = aborted.Stop ? "stop" : null,
                AnsweredBy = aborted.RequestedBy,
                Output = aborted.Message,
            }, cancellationToken);
            throw;
        }
        finally
        {
            if (!cancellationToken.IsCancellationRequested)
            {
                await SaveAsync(_deployment with { State = DeploymentState.InProgress }, CancellationToken.None);
            }
        }
    }

    /// <summary>
    /// A pause hook still waiting when the deployment ends (a stop or rollback queued while no process ran it is taken
    /// before the hook step is entered again) is answered by that stop or rollback, so the history shows no hook waiting.
    /// </summary>
    private async Task CloseAwaitingHooksAsync(StepAbortedException aborted, CancellationToken cancellationToken)
    {
        foreach (var run in (await _store.ListHookRunsAsync(_deployment.Id, cancellationToken)).Where(r => r.State == HookState.AwaitingAction))
        {
            await _store.SaveHookRunAsync(run with
            {
                State = HookState.Failed,
                FinishedAt = _time.GetUtcNow(),
                Answer = aborted.Stop ? "stop" : aborted.Trigger == Trigger.ManualRollback ? "rollback" : null,
                AnsweredBy = aborted.RequestedBy,
                Output = aborted.Message,
            }, cancellationToken);
        }
    }

    private static string? LastLine(string? output) =>
        output?.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();

    private async Task AnalyseAsync(Spec.AnalysisSpec spec, CancellationToken cancellationToken)
    {
        var started = _time.GetUtcNow();
        var counter = new ConsecutiveFailureCounter(spec.ConsecutiveFailures);
        AnalysisResult? last = null;
        while (true)
        {
            await TickAsync(cancellationToken, spec.Interval);
            if (_skipPauses)
            {
                await EventAsync("StepSkipped", "analysis cut short (continue --full)", cancellationToken);
                return;
            }
            var evaluating = _time.GetTimestamp();
            var metrics = await _platform.Signals.GetMetricsAsync(Service, _target.Number, spec.Window, _targetTrafficSince, cancellationToken);
            last = AnalysisEvaluator.Evaluate(spec, metrics);
            _timings.Analysis.Observe(_time.GetElapsedTime(evaluating).TotalSeconds);
            if (counter.Record(last))
            {
                throw new StepAbortedException($"analysis failed: {last.Reason}", Trigger.AutomaticRollback, metrics.FirstErrorAt);
            }

            var elapsed = _time.GetUtcNow() - started;
            if (elapsed >= spec.Window && last.Verdict == Verdict.Pass)
            {
                await EventAsync("AnalysisPassed", $"analysis passed: {last.Reason}", cancellationToken);
                return;
            }

            if (elapsed >= spec.Window * 3 && last.Verdict == Verdict.Inconclusive)
            {
                throw new StepAbortedException(
                    $"analysis inconclusive after {Durations.Format(elapsed)}: {last.Reason}; send more traffic or lower minRequests",
                    Trigger.AutomaticRollback);
            }
        }
    }

    private async Task WaitAsync(TimeSpan duration, CancellationToken cancellationToken)
    {
        var until = _time.GetUtcNow() + duration;
        while (_time.GetUtcNow() < until && !_skipPauses)
        {
            await TickAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Waits one interval, then answers commands and watches the target: crash loops, and the background analysis
    /// of its production traffic. Returns a Continue command for a pause to act on.
    /// </summary>
    private async Task<DeploymentCommand?> TickAsync(CancellationToken cancellationToken, TimeSpan? interval = null)
    {
        await Task.Delay(interval ?? _plan.Analysis.Interval, _time, cancellationToken);
        var started = _time.GetTimestamp();
        try
        {
            var answer = await HandleCommandsAsync(cancellationToken) ?? _pendingAnswer;
            _pendingAnswer = null;
            return Watches ? await WatchAsync(answer, cancellationToken) : answer;
        }
        finally
        {
            _timings.Watch.Observe(_time.GetElapsedTime(started).TotalSeconds);
        }
    }

    private DeploymentCommand? _pendingAnswer;

    private async Task<DeploymentCommand?> HandleCommandsAsync(CancellationToken cancellationToken)
    {
        DeploymentCommand? answer = null;
        foreach (var command in await _store.TakeCommandsAsync(_deployment.Id, cancellationToken))
        {
            var who = command.RequestedBy ?? "a user";
            switch (command.Kind)
            {
                case CommandKind.Rollback when !IsRollback:
                    throw new StepAbortedException($"rollback requested by {who}", Trigger.ManualRollback, requestedBy: command.RequestedBy);
                case CommandKind.Stop when !IsRollback:
                    throw new StepAbortedException($"stopped by {who}", Trigger.User, requestedBy: command.RequestedBy, stop: true);
                case CommandKind.Continue or CommandKind.ContinueFull:
                    answer = command;
                    if (command.Kind == CommandKind.ContinueFull)
                    {
                        _skipPauses = true;
                    }

                    await EventAsync("ContinueRequested", command.Kind == CommandKind.ContinueFull
                        ? $"continue --full requested by {who}: remaining pauses, analyses and steps are skipped"
                        : $"continue requested by {who}", cancellationToken);
                    break;
                default:
                    await EventAsync("CommandIgnored", $"{command.Kind} is not possible now", cancellationToken);
                    break;
            }
        }

        return answer;
    }

    private async Task<DeploymentCommand?> WatchAsync(DeploymentCommand? answer, CancellationToken cancellationToken)
    {
        var set = await GetSetAsync(_target.Number, cancellationToken);
        if (set?.Instances.FirstOrDefault(i => i.Restarts >= CrashLoopRestarts) is { } looping)
        {
            throw new StepAbortedException(
                $"instance {looping.Id} of revision {_target.Number} is crash-looping ({looping.Restarts} restarts){Detail(looping.LastError)}",
                Trigger.AutomaticRollback);
        }

        await WatchAlarmsAsync(cancellationToken);
        RevisionMetrics? metrics = null;
        if (_stable is not null && _targetTrafficSince is not null && _deployment.TargetWeight > 0)
        {
            metrics = await _platform.Signals.GetMetricsAsync(Service, _target.Number, _plan.Analysis.Window, _targetTrafficSince, cancellationToken);
            var result = AnalysisEvaluator.Evaluate(_plan.Analysis, metrics);
            if (_background.Record(result))
            {
                throw new StepAbortedException($"analysis failed: {result.Reason}", Trigger.AutomaticRollback, metrics.FirstErrorAt);
            }
        }

        await ReportProgressAsync(set, metrics, cancellationToken);
        return answer;
    }

    private DateTimeOffset _lastPausedDriftCheck;

    /// <summary>
    /// While a deployment waits for a person, someone may change the platform by hand: it is read back every observation
    /// interval (2 s at least; ECS asks for 10 s, its reads count against rate limits) and drift stops the deployment then,
    /// recorded and shown, rather than when `continue` comes.
    /// </summary>
    private async Task CheckDriftWhilePausedAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var every = _platform.ObservationInterval(_plan.Spec.Platform.Kind);
        if (!Watches || now - _lastPausedDriftCheck < (every > PausedDriftCheckInterval ? every : PausedDriftCheckInterval))
        {
            return;
        }

        _lastPausedDriftCheck = now;
        var observation = await Observations.ReadAsync(_platform, Service, _time, cancellationToken);
        var differences = DriftDetector.CompareDeployment(_deployment, _plan, observation);
        if (differences.Count > 0)
        {
            throw new StepAbortedException(
                $"the platform differs from the record while deployment {_deployment.Id} is paused: {string.Join("; ", differences)}; someone changed it by hand. Run `backstay status {Service}` and `backstay reset {Service}`",
                Trigger.AutomaticRollback, drift: differences);
        }
    }

    /// <summary>Reads the platform back before trusting the record: a service changed by hand stops the deployment before it acts.</summary>
    private async Task CheckDriftBeforeStartAsync(CancellationToken cancellationToken)
    {
        if (_stable is null || await _store.GetServiceAsync(Service, cancellationToken) is not { } record)
        {
            return;
        }

        var observation = await Observations.ReadAsync(_platform, Service, _time, cancellationToken);
        var last = (await _store.ListDeploymentsAsync(Service, 2, cancellationToken)).FirstOrDefault(d => d.Id != _deployment.Id);
        if (last is { Kind: DeploymentKind.Deploy, State: DeploymentState.Stopped, TargetWeight: 0 } stopped)
        {
            // The stopped deployment on record accounts for its target's instances; this deployment scales them to 0 when it succeeds.
            observation = observation with { Sets = [.. observation.Sets.Where(set => set.Revision != stopped.TargetRevision)] };
        }

        var differences = DriftDetector.Compare(record, observation);
        if (differences.Count > 0)
        {
            throw new StepAbortedException(DriftDetector.Describe(Service, differences), Trigger.AutomaticRollback, drift: differences);
        }

        // Its instances never had production traffic, and on ECS its task set holds the target group this deployment needs.
        if (last is { Kind: DeploymentKind.Deploy, State: DeploymentState.Stopped, TargetWeight: 0 } leftover
            && leftover.TargetRevision != _target.Number && leftover.TargetRevision != _stable.Number
            && await _store.GetRevisionAsync(Service, leftover.TargetRevision, cancellationToken) is { } revision)
        {
            await _platform.Compute.ScaleAsync(_plan.Spec, revision, 0, cancellationToken);
            await EventAsync("Scaled", $"revision {revision.Number} scaled to 0: stopped deployment {leftover.Id} left it running without production traffic", cancellationToken);
        }
    }

    /// <summary>
    /// Reset by adoption: what serves production traffic now (weight and healthy instances) becomes the stable revision
    /// at the count that runs; leftovers without traffic are scaled to 0. The choice is journaled before anything is
    /// changed, so a process that dies halfway is resumed with the same choice. When nothing serves, or traffic is split,
    /// there is nothing to adopt: it refuses, changing nothing, and points at --recreate.
    /// </summary>
    private async Task AdoptAsync(CancellationToken cancellationToken)
    {
        const int Step = 0;
        var choice = await JournaledAdoptionAsync(cancellationToken);
        if (choice is null)
        {
            await SaveAsync(_deployment with { State = DeploymentState.InProgress }, cancellationToken);
            await EventAsync("Started", "reset: adopting what runs on the platform as the new baseline", cancellationToken);
            var (chosen, refusal) = await ChooseAdoptionAsync(cancellationToken);
            if (chosen is null)
            {
                await EventAsync("Failed", refusal!, cancellationToken);
                await SaveAsync(Finish(DeploymentState.Failed, refusal), cancellationToken);
                return;
            }

            choice = chosen;
            await _store.AppendJournalAsync(new JournalEntry
            {
                DeploymentId = _deployment.Id,
                Step = Step,
                Phase = StepPhase.Started,
                Action = choice.Describe(),
                DetailJson = JsonSerializer.Serialize(choice, AdoptionJournal.JsonOptions),
                At = _time.GetUtcNow(),
            }, cancellationToken);
            await SaveAsync(_deployment with { TargetRevision = choice.Revision, TotalSteps = 1, CurrentStep = Step, StepPhase = StepPhase.Started }, cancellationToken);
        }
        else
        {
            EngineLog.Resuming(_logger, _deployment.Id, Service, Step);
            await EventAsync("Resumed", $"resumed adopting revision {choice.Revision} after a restart of Backstay", cancellationToken);
            await SaveAsync(_deployment with { TargetRevision = choice.Revision, TotalSteps = 1, CurrentStep = Step, StepPhase = StepPhase.Started }, cancellationToken);
        }

        await _platform.AttachAsync(_plan.Spec, cancellationToken);
        foreach (var leftover in await _platform.Compute.ListAsync(Service, cancellationToken))
        {
            if (leftover.Revision != choice.Revision && leftover.DesiredCount > 0
                && await _store.GetRevisionAsync(Service, leftover.Revision, cancellationToken) is { } revision)
            {
                await _platform.Compute.ScaleAsync(_plan.Spec, revision, 0, cancellationToken);
                await EventAsync("Scaled", $"revision {leftover.Revision} scaled to 0: it ran without traffic", cancellationToken);
            }
        }

        if (await _store.GetServiceAsync(Service, cancellationToken) is { } record)
        {
            await _store.UpsertServiceAsync(record with { StableRevision = choice.Revision, DesiredCount = choice.Count, UpdatedAt = _time.GetUtcNow() }, cancellationToken);
        }

        await _store.AppendJournalAsync(new JournalEntry
        {
            DeploymentId = _deployment.Id,
            Step = Step,
            Phase = StepPhase.Completed,
            Action = choice.Describe(),
            At = _time.GetUtcNow(),
        }, cancellationToken);
        await EventAsync("Succeeded", $"adopted revision {choice.Revision} with {choice.Count} instance(s) as the stable revision", cancellationToken);
        await SaveAsync(Finish(DeploymentState.Succeeded, null) with { TargetRevision = choice.Revision, StepPhase = StepPhase.Completed }, cancellationToken);
    }

    /// <summary>The one revision that serves all production traffic with healthy instances, or why there is none to adopt.</summary>
    private async Task<(AdoptionJournal? Choice, string? Refusal)> ChooseAdoptionAsync(CancellationToken cancellationToken)
    {
        var record = await _store.GetServiceAsync(Service, cancellationToken);
        var recreate = record?.StableRevision is { } lastGood
            ? $"Run `backstay reset {Service} --recreate` to bring back revision {lastGood} (the last good revision) at its count with all traffic"
            : $"Deploy a revision with `backstay deploy`";
        Observation observation;
        try
        {
            await _platform.AttachAsync(_plan.Spec, cancellationToken);
            observation = await Observations.ReadAsync(_platform, Service, _time, cancellationToken);
        }
        catch (PlatformException ex)
        {
            return (null, $"the platform could not be read ({ex.Message}); adopt changed nothing. {recreate}");
        }

        var serving = observation.ProductionWeights.Where(w => w.Value > 0 && observation.Sets.Any(s => s.Revision == w.Key && s.Healthy > 0)).ToList();
        if (serving.Count == 0)
        {
            var running = string.Join(", ", observation.Sets.Where(s => s.Running > 0).Select(s => $"revision {s.Revision} runs {s.Healthy} healthy instance(s)"));
            return (null, $"nothing serves production traffic (the listener gives {Split(observation.ProductionWeights)}{(running.Length == 0 ? "" : $"; {running}")}); adopt has no revision to take as the baseline and changed nothing. {recreate}");
        }

        if (serving.Count > 1)
        {
            var split = string.Join(", ", serving.OrderBy(w => w.Key).Select(w => $"revision {w.Key} {w.Value}%"));
            return (null, $"production traffic is split ({split}); adopt cannot choose a stable revision and changed nothing. Use `backstay reset {Service} --recreate`, or roll forward with a deployment");
        }

        if (Math.Abs(serving[0].Value - 100) > 2)
        {
            return (null, $"production traffic goes to revision {serving[0].Key} {serving[0].Value}% and the rest to no revision of '{Service}'; adopt cannot take that as a baseline and changed nothing. Use `backstay reset {Service} --recreate` to send all traffic to the last good revision");
        }

        var set = observation.Sets.First(s => s.Revision == serving[0].Key);
        if (await _store.GetRevisionAsync(Service, set.Revision, cancellationToken) is null)
        {
            return (null, $"revision {set.Revision} serves production traffic but is not in Backstay's record of '{Service}'{(_plan.Spec.Platform.Ecs is null ? "" : " (`backstay import` reads it back)")}; adopt changed nothing. {recreate}");
        }

        return (new AdoptionJournal(set.Revision, set.Running), null);
    }

    private async Task<AdoptionJournal?> JournaledAdoptionAsync(CancellationToken cancellationToken)
    {
        var journal = await _store.ListJournalAsync(_deployment.Id, cancellationToken);
        return journal.Where(e => e.DetailJson is not null).Select(e => AdoptionJournal.Parse(e.DetailJson!)).LastOrDefault(c => c is not null);
    }

    /// <summary>An alarm already firing when a deployment starts stops it before any traffic moves (ECS silently ignores one).</summary>
    private async Task CheckAlarmsBeforeStartAsync(CancellationToken cancellationToken)
    {
        var firing = (await _platform.Signals.GetAlarmsAsync(_plan.Spec, cancellationToken)).Where(a => a.InAlarm).ToList();
        if (firing.Count > 0)
        {
            throw new StepAbortedException(
                $"alarm(s) {string.Join(", ", firing.Select(a => a.Name))} already in ALARM before any traffic moved; fix them or remove them from the spec, then deploy again",
                Trigger.AutomaticRollback, stop: true);
        }
    }

    /// <summary>Any alarm the spec names going to ALARM during the deployment rolls it back.</summary>
    private async Task WatchAlarmsAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (now - _lastAlarmCheck < AlarmPollInterval)
        {
            return;
        }

        _lastAlarmCheck = now;
        var firing = (await _platform.Signals.GetAlarmsAsync(_plan.Spec, cancellationToken)).FirstOrDefault(a => a.InAlarm);
        if (firing is not null)
        {
            throw new StepAbortedException($"alarm {firing.Name} went to ALARM{Detail(firing.Reason)}", Trigger.AutomaticRollback);
        }
    }

    private async Task ReportProgressAsync(InstanceSet? target, RevisionMetrics? metrics, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (now - _lastProgress < ProgressEvery)
        {
            return;
        }

        _lastProgress = now;
        var stableSet = _stable is null ? null : await GetSetAsync(_stable.Number, cancellationToken);
        var progress = new DeploymentProgress
        {
            TargetWeight = _deployment.TargetWeight,
            TargetHealthy = target?.HealthyCount ?? 0,
            TargetDesired = target?.DesiredCount ?? 0,
            StableHealthy = stableSet?.HealthyCount ?? 0,
            StableDesired = stableSet?.DesiredCount ?? 0,
            Requests = metrics?.Requests,
            ErrorRate = metrics?.ErrorRate,
            LatencyP99Ms = metrics?.LatencyP99Ms,
        };
        await SaveAsync(_deployment with { ProgressJson = JsonSerializer.Serialize(progress, DeploymentProgress.JsonOptions) }, cancellationToken);
    }

    private async Task FailAsync(string reason, Trigger trigger, DateTimeOffset? firstErrorAt, CancellationToken cancellationToken, string? requestedBy = null)
    {
        if (_deployment.Kind == DeploymentKind.Reset)
        {
            await ResetFailedAsync(reason, cancellationToken);
            return;
        }

        await EventAsync("Failed", reason, cancellationToken, data: new { firstErrorAt });
        if (IsRollback)
        {
            var failed = Finish(DeploymentState.Failed, reason);
            await SaveAsync(failed, cancellationToken);
            if (_deployment.RollbackOf is { } undoneId && await _store.GetDeploymentAsync(undoneId, cancellationToken) is { State: DeploymentState.RollingBack } undone)
            {
                var now = _time.GetUtcNow();
                await _store.UpdateDeploymentAsync(undone with { State = DeploymentState.RollbackFailed, UpdatedAt = now, FinishedAt = now }, cancellationToken);
                Notify("failed", undone with { Reason = $"rollback failed: {reason}" });
            }

            return;
        }

        var manual = trigger == Trigger.ManualRollback;
        if (_stable is null || (!_plan.AutomaticRollback && !manual))
        {
            if (_stable is null)
            {
                await _platform.Compute.ScaleAsync(_plan.Spec, _target, 0, cancellationToken);
                await EventAsync("Scaled", $"revision {_target.Number} scaled to 0: there is no earlier revision to roll back to", cancellationToken);
            }

            await SaveAsync(Finish(DeploymentState.Failed, reason), cancellationToken);
            Notify("failed", _deployment);
            await _platform.EndDeploymentAsync(_plan.Spec, _stable?.Number ?? _target.Number, cancellationToken);
            return;
        }

        var rollbackPlan = PlanBuilder.ForRollback(_plan, _deployment.StableCountBefore, PlanBuilder.PhasesReached(_plan, _deployment.CurrentStep));
        var now2 = _time.GetUtcNow();
        var rollback = new Deployment
        {
            Id = Ids.NewDeploymentId(),
            Service = Service,
            Kind = DeploymentKind.Rollback,
            Trigger = trigger,
            Strategy = "rollback",
            StableRevision = _target.Number,
            TargetRevision = _stable.Number,
            State = DeploymentState.Pending,
            TotalSteps = rollbackPlan.Actions.Count,
            StableCountBefore = _deployment.StableCountBefore,
            TargetWeight = 100 - _deployment.TargetWeight,
            RollbackOf = _deployment.Id,
            Reason = reason,
            PlanJson = rollbackPlan.ToJson(),
            RequestedBy = requestedBy ?? (manual ? "user" : "backstay"),
            CreatedAt = now2,
            UpdatedAt = now2,
        };
        var undoneNow = _deployment with { State = DeploymentState.RollingBack, RolledBackBy = rollback.Id, Reason = reason, UpdatedAt = now2 };
        await _store.CreateRollbackAsync(rollback, undoneNow, cancellationToken);
        _deployment = undoneNow;
        await EventAsync("RollingBack", $"rolling back to revision {_stable.Number} in deployment {rollback.Id}", cancellationToken);
        await new DeploymentRunner(_store, _platform, _time, _logger, rollback, _timings).RunAsync(cancellationToken);
    }

    /// <summary>
    /// A reset's target is the last good revision: a reset that fails leaves it as far brought back as it got, never
    /// scaled down and never rolled back from, and says what production serves now and what to do.
    /// </summary>
    private async Task ResetFailedAsync(string reason, CancellationToken cancellationToken)
    {
        string serving;
        try
        {
            var healthy = await CountAsync(_target.Number, healthyOnly: true, cancellationToken);
            serving = $"it has {healthy} healthy instance(s) and production traffic goes to {Split(await _platform.Traffic.GetWeightsAsync(Service, Listener.Production, cancellationToken))}";
        }
        catch (PlatformException ex)
        {
            serving = $"the platform could not be read to say what serves now ({ex.Message})";
        }

        var message = $"{reason}; revision {_target.Number} (the last good revision) is kept as it is, nothing of it was scaled down: {serving}. " +
            $"Fix what keeps it from serving (`backstay history {Service} --events`, `backstay status {Service}`), then run `backstay reset {Service} --recreate` again";
        await EventAsync("Failed", message, cancellationToken);
        await SaveAsync(Finish(DeploymentState.Failed, message), cancellationToken);
        await _platform.EndDeploymentAsync(_plan.Spec, _target.Number, cancellationToken);
    }

    private async Task SucceedAsync(CancellationToken cancellationToken)
    {
        var service = await _store.GetServiceAsync(Service, cancellationToken);
        if (service is not null)
        {
            // The record's count is what the stable revision runs: it changes only when a revision becomes stable.
            await _store.UpsertServiceAsync(service with { StableRevision = _target.Number, DesiredCount = _plan.DesiredCount > 0 ? _plan.DesiredCount : service.DesiredCount, UpdatedAt = _time.GetUtcNow() }, cancellationToken);
        }

        await ScaleDownLeftoversAsync(cancellationToken);
        await _platform.EndDeploymentAsync(_plan.Spec, _target.Number, cancellationToken);
        await SaveAsync(Finish(DeploymentState.Succeeded, null), cancellationToken);
        if (IsRollback && _deployment.RollbackOf is { } undoneId && await _store.GetDeploymentAsync(undoneId, cancellationToken) is { } undone)
        {
            var now = _time.GetUtcNow();
            var state = undone.State == DeploymentState.RollingBack ? DeploymentState.RolledBack : undone.State;
            var finished = undone with { State = state, RolledBackBy = _deployment.Id, UpdatedAt = now, FinishedAt = undone.FinishedAt ?? now };
            await _store.UpdateDeploymentAsync(finished, cancellationToken);
            Notify("rolledBack", finished);
            await _store.AppendEventAsync(new DeploymentEvent
            {
                DeploymentId = undoneId,
                At = now,
                Type = "RolledBack",
                Message = $"rolled back to revision {_target.Number} by {_deployment.Id}",
            }, cancellationToken);
        }

        await EventAsync(IsRollback ? "RollbackSucceeded" : "Succeeded", $"revision {_target.Number} is stable", cancellationToken);
        if (_deployment.Kind == DeploymentKind.Deploy)
        {
            Notify("succeeded", _deployment);
        }
        var running = (await _platform.Compute.ListAsync(Service, cancellationToken))
            .Where(set => set.DesiredCount > 0 || set.Instances.Count > 0).Select(set => set.Revision).ToHashSet();
        var removed = await Retention.ApplyAsync(_store, Service, _plan.Spec.Retention.KeepPrevious, _target.Number, running, cancellationToken);
        foreach (var number in removed)
        {
            if (await _store.GetRevisionAsync(Service, number, cancellationToken) is not { } gone)
            {
                continue;
            }

            try
            {
                await _platform.Compute.RemoveRevisionAsync(_plan.Spec, gone, cancellationToken);
            }
            catch (PlatformException ex)
            {
                await EventAsync("RevisionRemovalFailed", $"revision {number} is removed from the record but the platform kept it: {ex.Message}", cancellationToken);
            }
        }

        if (removed.Count > 0)
        {
            await EventAsync("RevisionsRemoved", $"retention removed revision(s) {string.Join(", ", removed)} (keeping {_plan.Spec.Retention.KeepPrevious} previous)", cancellationToken);
        }
    }

    /// <summary>Once a revision is stable, nothing else of the service runs (e.g. a stopped canary's instances).</summary>
    private async Task ScaleDownLeftoversAsync(CancellationToken cancellationToken)
    {
        foreach (var set in await _platform.Compute.ListAsync(Service, cancellationToken))
        {
            if (set.Revision != _target.Number && set.DesiredCount > 0 && await _store.GetRevisionAsync(Service, set.Revision, cancellationToken) is { } revision)
            {
                await _platform.Compute.ScaleAsync(_plan.Spec, revision, 0, cancellationToken);
                await EventAsync("Scaled", $"revision {set.Revision} scaled to 0: only the stable revision keeps running", cancellationToken);
            }
        }
    }

    private async Task PlanManualRollbackAsync(CancellationToken cancellationToken)
    {
        var count = _deployment.StableCountBefore > 0 ? _deployment.StableCountBefore : _plan.DesiredCount;
        _plan = PlanBuilder.ForManualRollback(_plan.Spec, count);
        await SaveAsync(_deployment with { PlanJson = _plan.ToJson(), TotalSteps = _plan.Actions.Count }, cancellationToken);
    }

    private Deployment Finish(DeploymentState state, string? reason)
    {
        var now = _time.GetUtcNow();
        return _deployment with { State = state, Reason = reason ?? _deployment.Reason, FinishedAt = now };
    }

    private async Task<InstanceSet?> GetSetAsync(int revision, CancellationToken cancellationToken) =>
        (await _platform.Compute.ListAsync(Service, cancellationToken)).FirstOrDefault(s => s.Revision == revision);

    private async Task<int> CountAsync(int? revision, bool healthyOnly, CancellationToken cancellationToken)
    {
        if (revision is null)
        {
            return 0;
        }

        var set = await GetSetAsync(revision.Value, cancellationToken);
        return set is null ? 0 : healthyOnly ? set.HealthyCount : set.Instances.Count(i => i.Health != InstanceHealth.Dead);
    }

    private async Task<Revision> RequireRevisionAsync(int number, CancellationToken cancellationToken) =>
        await _store.GetRevisionAsync(Service, number, cancellationToken)
        ?? throw new InvalidOperationException($"Revision {number} of service '{Service}' is not in the store.");

    private async Task SaveAsync(Deployment deployment, CancellationToken cancellationToken)
    {
        _deployment = deployment with { UpdatedAt = _time.GetUtcNow() };
        await _store.UpdateDeploymentAsync(_deployment, cancellationToken);
        await MarkAsync(cancellationToken);
    }

    private (DeploymentState State, int Step)? _marked;

    /// <summary>Tells the platform where the deployment stands when its state or step changed (not on every progress save).</summary>
    private async Task MarkAsync(CancellationToken cancellationToken)
    {
        if (_marked == (_deployment.State, _deployment.CurrentStep))
        {
            return;
        }

        try
        {
            await _platform.MarkDeploymentAsync(_plan.Spec, DeploymentMark.Of(_deployment), cancellationToken);
            _marked = (_deployment.State, _deployment.CurrentStep);
        }
        catch (PlatformException ex)
        {
            EngineLog.MarkFailed(_logger, ex, _deployment.Id, Service);
        }
    }

    private Task JournalAsync(int step, StepPhase phase, PlanAction action, CancellationToken cancellationToken) =>
        _store.AppendJournalAsync(new JournalEntry
        {
            DeploymentId = _deployment.Id,
            Step = step,
            Phase = phase,
            Action = action.Describe(),
            At = _time.GetUtcNow(),
        }, cancellationToken);

    private async Task EventAsync(string type, string message, CancellationToken cancellationToken, int? step = null, object? data = null)
    {
        EngineLog.DeploymentEvent(_logger, _deployment.Id, Service, message);
        await _store.AppendEventAsync(new DeploymentEvent
        {
            DeploymentId = _deployment.Id,
            At = _time.GetUtcNow(),
            Type = type,
            Message = message,
            Step = step,
            DataJson = data is null ? null : JsonSerializer.Serialize(data),
        }, cancellationToken);
    }

    /// <summary>Tells the spec's webhooks in the background; a failing webhook is recorded, never fatal.</summary>
    private void Notify(string name, Deployment about)
    {
        if (_plan.Spec.Notifications.Count == 0)
        {
            return;
        }

        var news = NotificationEvent.From(name, about, _time.GetUtcNow());
        _ = Task.Run(async () =>
        {
            try
            {
                var failures = await Notifier.SendAsync(_plan.Spec.Notifications, news, HookHttp.Client, Environment.GetEnvironmentVariable, CancellationToken.None);
                foreach (var failure in failures)
                {
                    await _store.AppendEventAsync(new DeploymentEvent { DeploymentId = about.Id, At = _time.GetUtcNow(), Type = "NotificationFailed", Message = failure }, CancellationToken.None);
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                EngineLog.PassFailed(_logger, ex);
            }
        });
    }

    private static string Because(string? reason) => string.IsNullOrWhiteSpace(reason) ? "" : $": {reason.Trim()}";

    private static string Detail(string? error) => string.IsNullOrWhiteSpace(error) ? "" : $" (last error: {error.Trim()})";
}

/// <summary>What the journal keeps of a platform-run rollout: its id, to follow it again after a restart.</summary>
internal sealed record NativeRolloutJournal(string RolloutId)
{
    internal static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    public static NativeRolloutJournal? Parse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<NativeRolloutJournal>(json, JsonOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>What the journal keeps of a reset by adoption: the revision it takes as stable and its count, chosen before anything changed.</summary>
internal sealed record AdoptionJournal(int Revision, int Count)
{
    internal static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    public string Describe() => $"adopt revision {Revision} with {Count} instance(s)";

    public static AdoptionJournal? Parse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<AdoptionJournal>(json, JsonOptions) is { Revision: > 0 } choice ? choice : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>Live figures of a running deployment, for progress output.</summary>
public sealed record DeploymentProgress
{
    internal static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    public int TargetWeight { get; init; }
    public int TargetHealthy { get; init; }
    public int TargetDesired { get; init; }
    public int StableHealthy { get; init; }
    public int StableDesired { get; init; }
    public long? Requests { get; init; }
    public double? ErrorRate { get; init; }
    public double? LatencyP99Ms { get; init; }

    public static DeploymentProgress? Parse(string? json) => json is null ? null : JsonSerializer.Deserialize<DeploymentProgress>(json, JsonOptions);
}
