using Backstay.Core.Analysis;
using System.Globalization;
using System.Text.Json;
using Backstay.Core.Engine.Steps;
using Backstay.Core.Model;
using Backstay.Core.Ports;

namespace Backstay.Core.Engine;

/// <summary>
/// How a deployment ends: it succeeds (its target becomes the stable revision), fails (and, where it can, turns into a
/// rollback deployment), or stops where it stands (asked for, or because the platform no longer matches the record).
/// </summary>
internal static class Outcome
{

    /// <summary>Stops where the deployment stands, as asked (or because an alarm fired before anything moved); traffic stays as it is.</summary>
    public static async Task StopAsync(DeploymentContext context, StepAbortedException aborted, CancellationToken cancellationToken)
    {
        var deployment = context.Deployment;
        await HookStep.CloseAwaitingAsync(context, aborted, cancellationToken);
        await context.Record.EventAsync("Stopped", aborted.Message + (deployment.TargetWeight is > 0 and < 100 && context.Stable is not null
            ? $"; traffic stays split (revision {context.Target.Number} {deployment.TargetWeight}%, revision {context.Stable.Number} {100 - deployment.TargetWeight}%) as recorded here until `backstay reset {context.Service}` or a rollback"
            : ""), cancellationToken);
        await context.Record.SaveAsync(context.Finish(DeploymentState.Stopped, aborted.Message), cancellationToken);
        context.Record.Notify("stopped", context.Deployment);
        await context.Platform.EndDeploymentAsync(context.Plan.Spec, context.Stable?.Number ?? context.Target.Number, cancellationToken);
    }
    /// <summary>
    /// Drift stops the deployment where it stands and records what differs. Nothing more is sent to the platform: not
    /// even the end-of-deployment settling (serving task set to 100%, auto scaling resumed), which would act on a
    /// service someone changed by hand; `backstay reset` decides what runs from here.
    /// </summary>
    public static async Task StopForDriftAsync(DeploymentContext context, StepAbortedException aborted, IReadOnlyList<string> differences, CancellationToken cancellationToken)
    {
        await HookStep.CloseAwaitingAsync(context, aborted, cancellationToken);
        await context.Record.EventAsync(DriftDetector.EventType, "the platform differs from the record: " + string.Join("; ", differences), cancellationToken,
            data: new EventData.Drift(differences));
        await context.Record.EventAsync("Stopped", aborted.Message + $"; Backstay changed nothing after finding it (traffic and instances stay as found). See `backstay status {context.Service}`, then `backstay reset {context.Service}`", cancellationToken);
        await context.Record.SaveAsync(context.Finish(DeploymentState.Stopped, aborted.Message), cancellationToken);
        context.Record.Notify("stopped", context.Deployment);
    }

    /// <summary>
    /// A reset is judged by what the production listener serves, read back from the platform, not by the calls it made:
    /// the target with all production traffic and its count of healthy instances. Null when it serves so.
    /// </summary>
    public static async Task<string?> NotServingAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        var weights = await context.Platform.Traffic.GetWeightsAsync(context.Service, Listener.Production, cancellationToken);
        if (weights.GetValueOrDefault(context.Target.Number) < 98)
        {
            return $"production traffic goes to {Wording.Split(weights)} after the reset set revision {context.Target.Number} to 100%: the load balancer does not serve what Backstay set";
        }

        var count = context.Plan.Actions.OfType<ScaleAction>().LastOrDefault(a => a.Role == Role.Target)?.Count ?? context.Plan.DesiredCount;
        var healthy = await context.CountAsync(context.Target.Number, healthyOnly: true, cancellationToken);
        return healthy < count ? $"only {healthy} of {count} instance(s) of revision {context.Target.Number} are healthy after the reset" : null;
    }


    public static async Task FailAsync(DeploymentContext context, string reason, Trigger trigger, DateTimeOffset? firstErrorAt, CancellationToken cancellationToken,
        string? requestedBy = null, IReadOnlyList<AnalysisCheck>? evidence = null)
    {
        if (context.Deployment.Kind == DeploymentKind.Reset)
        {
            await ResetFailedAsync(context, reason, cancellationToken);
            return;
        }

        var verdictAt = context.Time.GetUtcNow();
        var movedBack = await MoveTrafficToStableAsync(context, new FailureJournal(reason, trigger, firstErrorAt, requestedBy), cancellationToken);
        await context.Record.EventAsync("Failed", reason, cancellationToken, data: new EventData.Failure(firstErrorAt, verdictAt) { Checks = evidence });
        if (movedBack is { } safeAt)
        {
            // TargetWeight keeps how far the deployment got; the rollback deployment records the traffic from here on.
            await context.Record.SaveAsync(context.Deployment with { SafeAt = context.Deployment.SafeAt ?? safeAt }, cancellationToken);
            await context.Record.EventAsync("Safe", $"revision {context.Target.Number} no longer receives production traffic: revision {context.Stable!.Number} has all of it again, moved back at the failure verdict before the rollback", cancellationToken,
                data: new EventData.TrafficWeights(new Dictionary<string, int> { [context.Stable.Number.ToString(CultureInfo.InvariantCulture)] = 100 }));
        }

        if (context.IsRollback)
        {
            var failed = context.Finish(DeploymentState.Failed, reason);
            await context.Record.SaveAsync(failed, cancellationToken);
            if (context.Deployment.RollbackOf is { } undoneId && await context.Store.GetDeploymentAsync(undoneId, cancellationToken) is { State: DeploymentState.RollingBack } undone)
            {
                var now = context.Time.GetUtcNow();
                await UndoneEventAsync(context, undoneId, now, "RollbackFailed", $"the rollback {context.Deployment.Id} to revision {context.Target.Number} failed: {reason}", cancellationToken);
                await context.Store.UpdateDeploymentAsync(undone with { State = DeploymentState.RollbackFailed, UpdatedAt = now, FinishedAt = now }, cancellationToken);
                context.Record.Notify("failed", undone with { Reason = $"rollback failed: {reason}" });
            }

            return;
        }

        var manual = trigger == Trigger.ManualRollback;
        if (context.Stable is null || (!context.Plan.AutomaticRollback && !manual))
        {
            if (context.Stable is null)
            {
                await context.Platform.Compute.ScaleAsync(context.Plan.Spec, context.Target, 0, cancellationToken);
                await context.Record.EventAsync("Scaled", $"revision {context.Target.Number} scaled to 0: there is no earlier revision to roll back to", cancellationToken);
            }

            await context.Record.SaveAsync(context.Finish(DeploymentState.Failed, reason), cancellationToken);
            context.Record.Notify("failed", context.Deployment);
            await context.Platform.EndDeploymentAsync(context.Plan.Spec, context.Stable?.Number ?? context.Target.Number, cancellationToken);
            return;
        }

        var rollbackPlan = PlanBuilder.ForRollback(context.Plan, context.Deployment.StableCountBefore, PlanBuilder.PhasesReached(context.Plan, context.Deployment.CurrentStep));
        var at = context.Time.GetUtcNow();
        var rollback = DeploymentRecord.Pending(context.Service, DeploymentKind.Rollback, trigger, "rollback", context.Target.Number, context.Stable.Number,
            rollbackPlan, requestedBy ?? (manual ? "user" : "backstay"), at) with
        {
            StableCountBefore = context.Deployment.StableCountBefore,
            TargetWeight = 100 - context.Deployment.TargetWeight,
            RollbackOf = context.Deployment.Id,
            Reason = reason,
        };
        var undoneNow = context.Deployment with { State = DeploymentState.RollingBack, RolledBackBy = rollback.Id, Reason = reason, UpdatedAt = at };
        await context.Store.CreateRollbackAsync(rollback, undoneNow, cancellationToken);
        context.Deployment = undoneNow;
        await context.Record.EventAsync("RollingBack", $"rolling back to revision {context.Stable.Number} in deployment {rollback.Id}", cancellationToken);
        await new DeploymentRunner(context.Store, context.Platform, context.Time, context.Logger, rollback, context.Timings).RunAsync(cancellationToken);
    }

    /// <summary>
    /// Safety before bookkeeping: when a deployment fails with production traffic on its target and the stable revision
    /// has healthy instances, production traffic goes back to the stable revision at once, under the lease this runner
    /// holds, before the rollback deployment is recorded and run. The intent is journaled first: a process that dies
    /// here resumes straight into this failure (<see cref="JournaledFailureAsync"/>), never back into the steps.
    /// Returns when traffic was moved, or null when the rollback's own traffic step must do it (no traffic on the target,
    /// no healthy stable instance, a platform-run rollout, or no automatic rollback).
    /// </summary>
    private static async Task<DateTimeOffset?> MoveTrafficToStableAsync(DeploymentContext context, FailureJournal failure, CancellationToken cancellationToken)
    {
        var deployment = context.Deployment;
        var rollsBack = context.Plan.AutomaticRollback || failure.Trigger == Trigger.ManualRollback;
        if (deployment.Kind != DeploymentKind.Deploy || context.Stable is not { } stable || !rollsBack
            || deployment.TargetWeight == 0 || context.Plan.Actions.Any(a => a is NativeRolloutAction)
            || await context.CountAsync(stable.Number, healthyOnly: true, cancellationToken) == 0)
        {
            return null;
        }

        await context.Record.JournalAsync(new JournalEntry
        {
            DeploymentId = deployment.Id,
            Step = deployment.CurrentStep,
            Phase = StepPhase.Started,
            Action = $"production traffic back to revision {stable.Number}: {failure.Reason}",
            DetailJson = BackstayJson.Serialize(failure, FailureJournal.JsonOptions),
            At = context.Time.GetUtcNow(),
        }, cancellationToken);
        try
        {
            await context.Platform.Traffic.SetWeightsAsync(context.Service, Listener.Production, context.Weights(0), cancellationToken);
        }
        catch (PlatformException ex)
        {
            await context.Record.EventAsync("TrafficNotMoved", $"production traffic could not be moved back to revision {stable.Number} at the failure verdict ({ex.Message}); the rollback's traffic step moves it", cancellationToken);
            return null;
        }

        return context.Time.GetUtcNow();
    }

    /// <summary>The failure whose traffic move was journaled before a restart, if any: the resumed runner ends the deployment with it.</summary>
    public static async Task<FailureJournal?> JournaledFailureAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        if (context.Deployment.Kind != DeploymentKind.Deploy)
        {
            return null;
        }

        var journal = await context.Store.ListJournalAsync(context.Deployment.Id, cancellationToken);
        return journal.Where(e => e.DetailJson is not null).Select(e => FailureJournal.Parse(e.DetailJson!)).LastOrDefault(f => f is not null);
    }

    /// <summary>
    /// A reset's target is the last good revision: a reset that fails leaves it as far brought back as it got, never
    /// scaled down and never rolled back from, and says what production serves now and what to do.
    /// </summary>
    private static async Task ResetFailedAsync(DeploymentContext context, string reason, CancellationToken cancellationToken)
    {
        string serving;
        try
        {
            var healthy = await context.CountAsync(context.Target.Number, healthyOnly: true, cancellationToken);
            serving = $"it has {healthy} healthy instance(s) and production traffic goes to {Wording.Split(await context.Platform.Traffic.GetWeightsAsync(context.Service, Listener.Production, cancellationToken))}";
        }
        catch (PlatformException ex)
        {
            serving = $"the platform could not be read to say what serves now ({ex.Message})";
        }

        var message = $"{reason}; revision {context.Target.Number} (the last good revision) is kept as it is, nothing of it was scaled down: {serving}. " +
            $"Fix what keeps it from serving (`backstay history {context.Service} --events`, `backstay status {context.Service}`), then run `backstay reset {context.Service} --recreate` again";
        await context.Record.EventAsync("Failed", message, cancellationToken);
        await context.Record.SaveAsync(context.Finish(DeploymentState.Failed, message), cancellationToken);
        await context.Platform.EndDeploymentAsync(context.Plan.Spec, context.Target.Number, cancellationToken);
    }

    /// <remarks>
    /// Every event of the ending (retention's, the undone deployment's) is written before the record says it ended:
    /// whoever sees it end (a waiting CLI, the dashboard, another replica) then reads the whole timeline.
    /// </remarks>
    public static async Task SucceedAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        var service = await context.Store.GetServiceAsync(context.Service, cancellationToken);
        if (service is not null)
        {
            // The record's count is what the stable revision runs: it changes only when a revision becomes stable.
            await context.Store.UpsertServiceAsync(service with { StableRevision = context.Target.Number, DesiredCount = context.Plan.DesiredCount > 0 ? context.Plan.DesiredCount : service.DesiredCount, UpdatedAt = context.Time.GetUtcNow() }, cancellationToken);
        }

        await ScaleDownLeftoversAsync(context, cancellationToken);
        await context.Platform.EndDeploymentAsync(context.Plan.Spec, context.Target.Number, cancellationToken);
        await ApplyRetentionAsync(context, cancellationToken);
        if (context.IsRollback && context.Deployment.RollbackOf is { } undoneId && await context.Store.GetDeploymentAsync(undoneId, cancellationToken) is { } undone)
        {
            var now = context.Time.GetUtcNow();
            await UndoneEventAsync(context, undoneId, now, "RolledBack", $"rolled back to revision {context.Target.Number} by {context.Deployment.Id}", cancellationToken);
            var state = undone.State == DeploymentState.RollingBack ? DeploymentState.RolledBack : undone.State;
            var finished = undone with { State = state, RolledBackBy = context.Deployment.Id, UpdatedAt = now, FinishedAt = undone.FinishedAt ?? now };
            await context.Store.UpdateDeploymentAsync(finished, cancellationToken);
            context.Record.Notify("rolledBack", finished);
        }

        var warm = context.Deployment.WarmUntil is { } until && context.Stable is { } previous && !context.IsRollback
            ? $"; revision {previous.Number} stays warm until {WarmWindow.Clock(until)}, then the engine scales it to 0 (`backstay continue --full {context.Deployment.Id}` does it now)"
            : "";
        await context.Record.EventAsync(context.IsRollback ? "RollbackSucceeded" : "Succeeded", $"revision {context.Target.Number} is stable{warm}", cancellationToken);
        await context.Record.SaveAsync(context.Finish(DeploymentState.Succeeded, null), cancellationToken);
        if (context.Deployment.Kind == DeploymentKind.Deploy)
        {
            context.Record.Notify("succeeded", context.Deployment);
        }
    }

    /// <summary>An event on the timeline of the deployment a rollback undoes (written before that record's state changes).</summary>
    private static Task UndoneEventAsync(DeploymentContext context, string undoneId, DateTimeOffset at, string type, string message, CancellationToken cancellationToken) =>
        context.Store.AppendEventAsync(new DeploymentEvent { DeploymentId = undoneId, At = at, Type = type, Message = message }, cancellationToken);

    /// <summary>How many of a service's latest deployments retention looks through for chart series to delete.</summary>
    private const int DeploymentsScannedForSeries = 10_000;

    /// <summary>Removes the revisions beyond the spec's retention (and the chart series of their deployments), except any that still runs.</summary>
    private static async Task ApplyRetentionAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        var running = (await context.Platform.Compute.ListAsync(context.Service, cancellationToken))
            .Where(set => set.DesiredCount > 0 || set.Instances.Count > 0).Select(set => set.Revision).ToHashSet();
        var removed = await Retention.ApplyAsync(context.Store, context.Service, context.Plan.Spec.Retention.KeepPrevious, context.Target.Number, running, cancellationToken);
        foreach (var number in removed)
        {
            if (await context.Store.GetRevisionAsync(context.Service, number, cancellationToken) is not { } gone)
            {
                continue;
            }

            try
            {
                await context.Platform.Compute.RemoveRevisionAsync(context.Plan.Spec, gone, cancellationToken);
            }
            catch (PlatformException ex)
            {
                await context.Record.EventAsync("RevisionRemovalFailed", $"revision {number} is removed from the record but the platform kept it: {ex.Message}", cancellationToken);
            }
        }

        if (removed.Count > 0)
        {
            // A deployment's chart series is kept as long as the revision it brought: it goes when retention lets that go.
            foreach (var gone in (await context.Store.ListDeploymentsAsync(context.Service, DeploymentsScannedForSeries, cancellationToken)).Where(d => removed.Contains(d.TargetRevision)))
            {
                await context.Store.DeleteSeriesAsync(gone.Id, cancellationToken);
            }

            await context.Record.EventAsync("RevisionsRemoved", $"retention removed revision(s) {string.Join(", ", removed)} (keeping {context.Plan.Spec.Retention.KeepPrevious} previous)", cancellationToken);
        }
    }

    /// <summary>Once a revision is stable, nothing else of the service runs (e.g. a stopped canary's instances).</summary>
    private static async Task ScaleDownLeftoversAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        foreach (var set in await context.Platform.Compute.ListAsync(context.Service, cancellationToken))
        {
            // The previous revision of a blue/green deployment stays warm; the engine retires it when the window ends.
            var warm = context.Deployment.WarmUntil is not null && !context.IsRollback && set.Revision == context.Stable?.Number;
            if (set.Revision != context.Target.Number && !warm && set.DesiredCount > 0 && await context.Store.GetRevisionAsync(context.Service, set.Revision, cancellationToken) is { } revision)
            {
                await context.Platform.Compute.ScaleAsync(context.Plan.Spec, revision, 0, cancellationToken);
                await context.Record.EventAsync("Scaled", $"revision {set.Revision} scaled to 0: only the stable revision keeps running", cancellationToken);
            }
        }
    }

}

/// <summary>What the journal keeps of a failure verdict whose first act, moving production traffic back, has begun.</summary>
internal sealed record FailureJournal(string Reason, Trigger Trigger, DateTimeOffset? FirstErrorAt, string? RequestedBy)
{
    internal static JsonSerializerOptions JsonOptions => CoreJson.Web;

    public static FailureJournal? Parse(string json)
    {
        try
        {
            return BackstayJson.Deserialize<FailureJournal>(json, JsonOptions) is { Reason.Length: > 0 } failure ? failure : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
