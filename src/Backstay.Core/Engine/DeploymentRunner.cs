using Backstay.Core.Engine.Steps;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Backstay.Core.Engine;

/// <summary>
/// Runs one deployment's plan step by step, journaling the intent of each step before acting and its result after,
/// while the <see cref="Watchdog"/> watches the target; ends it through <see cref="Outcome"/>. Each kind of step
/// lives in its own file under Steps/.
/// </summary>
internal sealed class DeploymentRunner(IStateStore store, IPlatform platform, TimeProvider time, ILogger logger, Deployment deployment, EngineTimings? timings = null)
{
    private readonly DeploymentContext _context = new(store, platform, time, logger, timings ?? new EngineTimings(), deployment);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var context = _context;
        if (context.Deployment.Kind == DeploymentKind.Reset && context.Plan.Actions.Count == 0)
        {
            await WarmWindow.CloseForAsync(context, cancellationToken);
            await AdoptStep.RunAsync(context, cancellationToken);
            return;
        }

        if (!await StartAsync(context, cancellationToken))
        {
            return;
        }

        if (await Outcome.JournaledFailureAsync(context, cancellationToken) is { } failure)
        {
            // Died while moving traffic back at a failure verdict: finish that failure, do not run the steps again.
            await Outcome.FailAsync(context, failure.Reason, failure.Trigger, failure.FirstErrorAt, cancellationToken, failure.RequestedBy);
            return;
        }

        try
        {
            await PreflightAsync(context, cancellationToken);
            await RunStepsAsync(context, cancellationToken);
        }
        catch (StepAbortedException aborted) when (aborted.Drift is { } differences)
        {
            await Outcome.StopForDriftAsync(context, aborted, differences, cancellationToken);
            return;
        }
        catch (PlatformDriftException ex)
        {
            await Outcome.StopForDriftAsync(context, new StepAbortedException(ex.Message, Trigger.AutomaticRollback, drift: [ex.Message]), [ex.Message], cancellationToken);
            return;
        }
        catch (StepAbortedException aborted) when (aborted.Stop)
        {
            await Outcome.StopAsync(context, aborted, cancellationToken);
            return;
        }
        catch (StepAbortedException aborted)
        {
            await HookStep.CloseAwaitingAsync(context, aborted, cancellationToken);
            await Outcome.FailAsync(context, aborted.Message, aborted.Trigger, aborted.FirstErrorAt, cancellationToken, aborted.RequestedBy, aborted.Evidence);
            return;
        }
        catch (PlatformException ex)
        {
            await Outcome.FailAsync(context, $"the platform failed: {ex.Message}", Trigger.AutomaticRollback, null, cancellationToken);
            return;
        }

        if (context.Deployment.Kind == DeploymentKind.Reset && await Outcome.NotServingAsync(context, cancellationToken) is { } problem)
        {
            await Outcome.FailAsync(context, problem, Trigger.Reset, null, cancellationToken);
            return;
        }

        await Outcome.SucceedAsync(context, cancellationToken);
    }

    /// <summary>
    /// Makes sure the platform has the service, then records the start (or the resumption after a restart). False when
    /// the platform cannot take the service before anything moved: the deployment is then stopped with its message.
    /// </summary>
    private static async Task<bool> StartAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        var deployment = context.Deployment;
        context.Target = await context.RequireRevisionAsync(deployment.TargetRevision, cancellationToken);
        context.Stable = deployment.StableRevision is { } s ? await context.RequireRevisionAsync(s, cancellationToken) : null;

        // A previous revision still kept warm by the last blue/green deployment is retired (or, by a rollback to it, taken over) before anything acts.
        await WarmWindow.CloseForAsync(context, cancellationToken);
        try
        {
            if (deployment.Kind == DeploymentKind.Reset)
            {
                await context.Platform.RecreateServiceAsync(context.Plan.Spec, cancellationToken);
            }
            else
            {
                await context.Platform.EnsureServiceAsync(context.Plan.Spec, cancellationToken);
            }
        }
        catch (PlatformException ex) when (deployment.State == DeploymentState.Pending)
        {
            await context.Record.EventAsync("Stopped", ex.Message, cancellationToken);
            await context.Record.SaveAsync(context.Finish(DeploymentState.Stopped, ex.Message), cancellationToken);
            return false;
        }

        if (context.Plan.Actions.Count == 0 && context.IsRollback)
        {
            // Rollbacks recorded by earlier versions of Backstay (and imported ones) carry no plan: planned here, as they were then.
            var count = deployment.StableCountBefore > 0 ? deployment.StableCountBefore : context.Plan.DesiredCount;
            context.Plan = PlanBuilder.ForManualRollback(context.Plan.Spec, count);
            await context.Record.SaveAsync(context.Deployment with { PlanJson = context.Plan.ToJson(), TotalSteps = context.Plan.Actions.Count }, cancellationToken);
        }

        if (context.Deployment.State == DeploymentState.Pending)
        {
            var stableCount = await context.CountAsync(context.Stable?.Number, healthyOnly: false, cancellationToken);
            await context.Record.SaveAsync(context.Deployment with
            {
                State = DeploymentState.InProgress,
                StableCountBefore = context.Deployment.StableCountBefore > 0 ? context.Deployment.StableCountBefore : stableCount,
            }, cancellationToken);
            await context.Record.EventAsync(context.IsRollback ? "RollbackStarted" : "Started", StartedMessage(context), cancellationToken);
            if (!context.IsRollback)
            {
                context.Record.Notify("started", context.Deployment);
            }
        }
        else
        {
            EngineLog.Resuming(context.Logger, context.Deployment.Id, context.Service, context.Deployment.CurrentStep);
            await context.Record.EventAsync("Resumed", $"resumed at step {context.Deployment.CurrentStep + 1} of {context.Plan.Actions.Count} after a restart of Backstay", cancellationToken);
            if (context.Deployment.TargetWeight > 0)
            {
                context.TargetTrafficSince = context.Time.GetUtcNow();
            }
        }

        return true;
    }

    private static string StartedMessage(DeploymentContext context)
    {
        var (target, stable) = (context.Target.Number, context.Stable?.Number);
        return context.IsRollback ? $"rolling back to revision {target}" + (stable is null ? "" : $" from revision {stable}")
            : context.Deployment.Kind == DeploymentKind.Reset ? $"reset: bringing back revision {target} (the last good revision) at its count with all production traffic"
            : $"deploying revision {target}" + (stable is null ? " (first deployment)" : $" over revision {stable}") + $" with {context.Deployment.Strategy}";
    }

    /// <summary>A new deployment first checks the platform against the record and its alarms; a resumed one does not start again.</summary>
    private static async Task PreflightAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        var deployment = context.Deployment;
        var starting = context.Watches && deployment.TargetWeight == 0 && deployment.CurrentStep == 0 && deployment.StepPhase == StepPhase.NotStarted;
        if (starting)
        {
            // Before anything is suspended or scaled: a deployment that finds drift must leave the platform exactly as it found it.
            await Preflight.CheckDriftAsync(context, cancellationToken);
        }

        await context.Platform.BeginDeploymentAsync(context.Plan.Spec, cancellationToken);
        if (starting)
        {
            await Preflight.CheckAlarmsAsync(context, cancellationToken);
        }
    }

    private static async Task RunStepsAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        var plan = context.Plan;
        var first = context.Deployment.StepPhase == StepPhase.Completed ? context.Deployment.CurrentStep + 1 : context.Deployment.CurrentStep;
        for (var step = first; step < plan.Actions.Count; step++)
        {
            var action = plan.Actions[step];
            await context.Watchdog.BetweenStepsAsync(cancellationToken);
            await context.Record.JournalAsync(step, StepPhase.Started, action, cancellationToken);
            await context.Record.SaveAsync(context.Deployment with { CurrentStep = step, StepPhase = StepPhase.Started }, cancellationToken);
            await context.Record.EventAsync("StepStarted", $"step {step + 1}/{plan.Actions.Count}: {action.Describe(context.Target.Number, context.Stable?.Number)}", cancellationToken, step);
            await ExecuteAsync(context, action, cancellationToken);
            await context.Record.JournalAsync(step, StepPhase.Completed, action, cancellationToken);
            await context.Record.SaveAsync(context.Deployment with { StepPhase = StepPhase.Completed }, cancellationToken);
        }

        // The last look before success reads the alarms fresh: one that fired since the last paced read fails it.
        await context.Watchdog.CheckAlarmsBeforeActingAsync(cancellationToken);
    }

    private static async Task ExecuteAsync(DeploymentContext context, PlanAction action, CancellationToken cancellationToken)
    {
        if (action is WaitAction { Reason: WarmWindow.WaitReason } keep)
        {
            // Opening the warm window makes the deployment a success: the alarms are read fresh first.
            await context.Watchdog.CheckAlarmsBeforeActingAsync(cancellationToken);
            if (await WarmWindow.OpenAsync(context, keep, cancellationToken))
            {
                return;
            }
        }

        if (WarmWindow.Defers(context, action))
        {
            await context.Record.EventAsync("StepDeferred", $"{action.Describe(context.Target.Number, context.Stable?.Number)}: left for the end of the warm window ({WarmWindow.Clock(context.Deployment.WarmUntil!.Value)})", cancellationToken);
            return;
        }

        if (context.SkipPauses && action is AnalysisAction or WaitAction or WeightAction { TargetWeight: < 100 })
        {
            await context.Record.EventAsync("StepSkipped", $"{action.Describe(context.Target.Number, context.Stable?.Number)} skipped (continue --full)", cancellationToken);
            return;
        }

        await (action switch
        {
            ScaleAction scale => ScaleStep.RunAsync(context, scale, cancellationToken),
            WeightAction weight => TrafficStep.RunAsync(context, weight, cancellationToken),
            TestTrafficAction test => TestTrafficStep.RunAsync(context, test, cancellationToken),
            PauseAction pause => PauseStep.RunAsync(context, pause, cancellationToken),
            AnalysisAction analysis => AnalysisStep.RunAsync(context, analysis, cancellationToken),
            WaitAction wait => WaitStep.RunAsync(context, wait, cancellationToken),
            HookAction hook => HookStep.RunAsync(context, hook, cancellationToken),
            NativeRolloutAction => NativeRolloutStep.RunAsync(context, cancellationToken),
            _ => throw new InvalidOperationException($"Unknown plan action {action.GetType().Name}."),
        });
    }
}
