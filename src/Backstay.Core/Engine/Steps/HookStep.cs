using Backstay.Core.Hooks;
using Backstay.Core.Model;
using Backstay.Core.Spec;

namespace Backstay.Core.Engine.Steps;

/// <summary>Runs a stage's hooks (exec, http, or a pause that waits for a person), each recorded as a hook run.</summary>
internal static class HookStep
{
    /// <summary>
    /// Runs a stage's hooks in order. A hook that already succeeded (before a restart) is not run again; a pause
    /// hook that was waiting goes on waiting with the same id and expiry. A failure fails the stage, except on the
    /// way back during a rollback, where it is recorded and the rollback goes on.
    /// </summary>
    public static async Task RunAsync(DeploymentContext context, HookAction action, CancellationToken cancellationToken)
    {
        if (!context.Plan.Spec.Hooks.TryGetValue(action.Stage, out var hooks))
        {
            return;
        }

        var previous = await context.Store.ListHookRunsAsync(context.Deployment.Id, cancellationToken);
        for (var index = 0; index < hooks.Count; index++)
        {
            var hook = hooks[index];
            var earlier = previous.LastOrDefault(r => r.Step == context.Deployment.CurrentStep && r.Stage == action.Stage && r.Index == index);
            if (earlier is { State: HookState.Succeeded })
            {
                continue;
            }

            if (earlier is { State: HookState.InProgress or HookState.Pending })
            {
                await context.Store.SaveHookRunAsync(earlier with
                {
                    State = HookState.Failed,
                    FinishedAt = context.Time.GetUtcNow(),
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
                Step = context.Deployment.CurrentStep,
                DeploymentId = context.Deployment.Id,
                Stage = action.Stage,
                Index = index,
                Kind = hook.Pause is not null ? "pause" : hook.Http is not null ? "http" : "exec",
                State = HookState.InProgress,
                StartedAt = context.Time.GetUtcNow(),
            };
            await context.Store.SaveHookRunAsync(run, cancellationToken);
            await context.Record.EventAsync("HookStarted", $"{action.Stage} hook {run.Id} ({run.Kind}) started", cancellationToken);
            var finished = hook.Pause is { } pause
                ? await AwaitPauseHookAsync(context, run, pause, cancellationToken)
                : await RunCommandHookAsync(context, run, hook, action, cancellationToken);
            await context.Store.SaveHookRunAsync(finished, cancellationToken);
            if (finished.State == HookState.Succeeded)
            {
                await context.Record.EventAsync("HookSucceeded", $"{action.Stage} hook {run.Id} succeeded" + (finished.Answer is { } a ? $" ({a})" : ""), cancellationToken);
                continue;
            }

            var why = $"{action.Stage} hook {run.Id} ({run.Kind}) {(finished.State == HookState.TimedOut ? "timed out" : "failed")}{Wording.Detail(LastLine(finished.Output))}";
            if (action.DuringRollback)
            {
                await context.Record.EventAsync("HookFailed", why + "; the rollback goes on", cancellationToken);
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

    private static async Task<HookRun> RunCommandHookAsync(DeploymentContext context, HookRun run, HookSpec hook, HookAction action, CancellationToken cancellationToken)
    {
        var hookContext = new HookContext
        {
            DeploymentId = context.Deployment.Id,
            HookId = run.Id,
            Service = context.Service,
            Stage = action.Stage,
            StableRevision = context.Stable?.Number,
            TargetRevision = context.Target.Number,
            Rollback = context.IsRollback,
            TestListenerUrl = await context.Platform.TestListenerUrlAsync(context.Plan.Spec, cancellationToken),
        };
        var outcome = hook.Exec is { } exec
            ? await ExecHookRunner.RunAsync(exec, hookContext, context.Plan.Spec.BaseDirectory ?? Directory.GetCurrentDirectory(), cancellationToken)
            : await new HttpHookRunner(HookHttp.Client, context.Time).RunAsync(hook.Http!, hookContext, Environment.GetEnvironmentVariable, cancellationToken);
        return run with
        {
            State = outcome.Passed ? HookState.Succeeded : outcome.TimedOut ? HookState.TimedOut : HookState.Failed,
            FinishedAt = context.Time.GetUtcNow(),
            Output = outcome.Output,
        };
    }

    /// <summary>Waits in AwaitingAction for CONTINUE or ROLLBACK (by hook id, or without one), or applies the default on expiry.</summary>
    private static async Task<HookRun> AwaitPauseHookAsync(DeploymentContext context, HookRun run, PauseHookSpec pause, CancellationToken cancellationToken)
    {
        if (context.SkipPauses)
        {
            return run with { State = HookState.Succeeded, FinishedAt = context.Time.GetUtcNow(), Answer = "skipped by continue --full" };
        }

        run = run.State == HookState.AwaitingAction ? run : run with { State = HookState.AwaitingAction, ExpiresAt = context.Time.GetUtcNow() + pause.Timeout };
        await context.Store.SaveHookRunAsync(run, cancellationToken);
        await context.Record.SaveAsync(context.Deployment with { State = DeploymentState.Paused }, cancellationToken);
        context.Record.Notify("paused", context.Deployment);
        await context.Record.EventAsync("Paused", $"{run.Stage} hook {run.Id} awaits action until {run.ExpiresAt:u} (then {pause.OnTimeout}): `backstay continue {context.Deployment.Id}` or `backstay rollback {context.Deployment.Id}`", cancellationToken);
        try
        {
            while (context.Time.GetUtcNow() < run.ExpiresAt)
            {
                DeploymentCommand? answer;
                try
                {
                    answer = await context.Watchdog.TickAsync(cancellationToken);
                }
                catch (StepAbortedException aborted) when (aborted.Trigger == Trigger.ManualRollback)
                {
                    return run with { State = HookState.Failed, FinishedAt = context.Time.GetUtcNow(), Answer = "rollback", AnsweredBy = aborted.RequestedBy };
                }

                if (context.SkipPauses || (answer is not null && (answer.HookId is null || answer.HookId == run.Id)))
                {
                    return run with { State = HookState.Succeeded, FinishedAt = context.Time.GetUtcNow(), Answer = "continue", AnsweredBy = answer?.RequestedBy };
                }

                if (answer is not null)
                {
                    await context.Record.EventAsync("CommandIgnored", $"no hook {answer.HookId} awaits action; hook {run.Id} does", cancellationToken);
                }

                await context.Watchdog.CheckDriftWhilePausedAsync(cancellationToken);
            }

            return pause.OnTimeout == "continue"
                ? run with { State = HookState.Succeeded, FinishedAt = context.Time.GetUtcNow(), Answer = "continue (default on timeout)" }
                : run with { State = HookState.TimedOut, FinishedAt = context.Time.GetUtcNow(), Answer = "rollback (default on timeout)" };
        }
        catch (StepAbortedException aborted)
        {
            await context.Store.SaveHookRunAsync(run with
            {
                State = HookState.Failed,
                FinishedAt = context.Time.GetUtcNow(),
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
                await context.Record.SaveAsync(context.Deployment with { State = DeploymentState.InProgress }, CancellationToken.None);
            }
        }
    }

    /// <summary>
    /// A pause hook still waiting when the deployment ends (a stop or rollback queued while no process ran it is taken
    /// before the hook step is entered again) is answered by that stop or rollback, so the history shows no hook waiting.
    /// </summary>
    public static async Task CloseAwaitingAsync(DeploymentContext context, StepAbortedException aborted, CancellationToken cancellationToken)
    {
        foreach (var run in (await context.Store.ListHookRunsAsync(context.Deployment.Id, cancellationToken)).Where(r => r.State == HookState.AwaitingAction))
        {
            await context.Store.SaveHookRunAsync(run with
            {
                State = HookState.Failed,
                FinishedAt = context.Time.GetUtcNow(),
                Answer = aborted.Stop ? "stop" : aborted.Trigger == Trigger.ManualRollback ? "rollback" : null,
                AnsweredBy = aborted.RequestedBy,
                Output = aborted.Message,
            }, cancellationToken);
        }
    }

    private static string? LastLine(string? output) =>
        output?.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();

}
