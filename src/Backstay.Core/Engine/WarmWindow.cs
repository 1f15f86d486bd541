using System.Globalization;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Backstay.Core.Engine;

/// <summary>
/// The blue/green warm window (<c>keepPreviousFor</c>, Argo Rollouts' scaleDownDelay). When a blue/green deployment
/// reaches its keep-previous wait, production traffic is all on the new revision and its checks passed: the
/// deployment succeeds there, with <see cref="Deployment.WarmUntil"/> set, and its previous revision keeps running
/// without traffic so that a rollback is a single switch. Retiring it (scaling it to 0) is later work the engine owns,
/// kept in the store as the deployment's open window and picked up by whichever engine holds the service's lease, also
/// after a restart: when the window ends, at `continue --full`, or first thing in the service's next deployment.
/// A rollback to the warm revision takes it over instead: traffic moves back to it at once, and the window ends.
/// </summary>
internal static class WarmWindow
{
    /// <summary>The reason of the plan's <see cref="WaitAction"/> that opens the window.</summary>
    public const string WaitReason = WaitAction.KeepPreviousWarm;

    /// <summary>How often a runner waiting out a window looks at the clock, the commands and the record.</summary>
    public static readonly TimeSpan CheckEvery = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Opens the window at the keep-previous wait: records until when the previous revision stays warm, so that the rest
    /// of the plan leaves it running and the deployment succeeds now. False (the wait runs as before) when there is no
    /// previous revision or `continue --full` asked to skip the remaining waits.
    /// </summary>
    public static async Task<bool> OpenAsync(DeploymentContext context, WaitAction wait, CancellationToken cancellationToken)
    {
        if (context.Stable is not { } previous || previous.Number == context.Target.Number || context.SkipPauses || context.IsRollback)
        {
            return false;
        }

        var until = context.Deployment.WarmUntil ?? context.Time.GetUtcNow() + wait.Duration;
        await context.Record.SaveAsync(context.Deployment with { WarmUntil = until }, cancellationToken);
        await context.Record.EventAsync("KeepingWarm",
            $"revision {previous.Number} stays warm until {Clock(until)} (keepPreviousFor {Durations.Format(wait.Duration)}) without traffic, so that a rollback is a single switch; " +
            $"`backstay continue --full {context.Deployment.Id}` retires it now", cancellationToken,
            data: new EventData.WarmWindowOpened(previous.Number, until));
        return true;
    }

    /// <summary>Whether a step of the plan is left to the window's end: scaling the warm previous revision to 0.</summary>
    public static bool Defers(DeploymentContext context, PlanAction action) =>
        context.Deployment.WarmUntil is not null && !context.IsRollback && action is ScaleAction { Role: Role.Stable, Count: 0 };

    /// <summary>The deployment's <c>keepPreviousFor</c>, as its plan has it; null when its plan keeps nothing warm.</summary>
    public static TimeSpan? KeepFor(Deployment deployment)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        return DeploymentPlan.FromJson(deployment.PlanJson).Actions.OfType<WaitAction>().FirstOrDefault(w => w.Reason == WaitReason)?.Duration;
    }

    /// <summary>The time of day a window ends, as messages give it.</summary>
    public static string Clock(DateTimeOffset at) => at.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";

    /// <summary>The deployment of a service whose previous revision is kept warm now, if any.</summary>
    public static async Task<Deployment?> OpenOfAsync(IStateStore store, string service, CancellationToken cancellationToken) =>
        (await store.ListDeploymentsAsync(service, 20, cancellationToken)).FirstOrDefault(d => d.WarmRevision is not null);

    /// <summary>
    /// Before a deployment of the service acts, an open window ends: a rollback to the warm revision takes it over as it
    /// runs (its traffic step finds healthy instances and moves at once); anything else retires it first (on ECS the new
    /// revision needs the target group the warm task set holds). Reset --adopt takes what runs as it finds it.
    /// </summary>
    public static async Task CloseForAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        if (await OpenOfAsync(context.Store, context.Service, cancellationToken) is not { } open || open.Id == context.Deployment.Id)
        {
            return;
        }

        var id = context.Deployment.Id;
        if (context.IsRollback && open.WarmRevision == context.Target.Number)
        {
            await EndAsync(context.Store, context.Time, context.Logger, open,
                $"rollback {id} brings revision {open.WarmRevision} back while it is still warm: production traffic moves to its running instances at once", cancellationToken);
            await context.Record.EventAsync("WarmTakenOver", $"revision {open.WarmRevision} is still warm from deployment {open.Id}: production traffic moves back to its running instances without waiting for them to start", cancellationToken);
            return;
        }

        if (context.Deployment.Kind == DeploymentKind.Reset && context.Plan.Actions.Count == 0)
        {
            await EndAsync(context.Store, context.Time, context.Logger, open, $"reset {id} (adopt) takes what runs as the new baseline", cancellationToken);
            return;
        }

        var what = context.IsRollback ? $"rollback {id} to revision {context.Target.Number}"
            : context.Deployment.Kind == DeploymentKind.Reset ? $"reset {id}"
            : $"deployment {id} of revision {context.Target.Number}";
        await RetireAsync(context.Store, context.Platform, context.Time, context.Logger, open, $"{what} started, and only the serving revision may run beside a new one", cancellationToken);
        await context.Record.EventAsync("WarmRetired", $"revision {open.WarmRevision}, kept warm by deployment {open.Id}, scaled to 0 before this deployment acts", cancellationToken);
    }

    /// <summary>Scales the warm revision to 0 and ends the window, saying why on the deployment's timeline. Safe to repeat.</summary>
    public static async Task RetireAsync(IStateStore store, IPlatform platform, TimeProvider time, ILogger logger, Deployment open, string why, CancellationToken cancellationToken)
    {
        var spec = DeploymentPlan.FromJson(open.PlanJson).Spec;
        if (open.WarmRevision is { } warm && await store.GetRevisionAsync(open.Service, warm, cancellationToken) is { } revision)
        {
            await platform.Compute.ScaleAsync(spec, revision, 0, cancellationToken);
        }

        // Settles the serving revision now that it runs alone (ECS: its task set's scale and the service's desired count).
        var service = await store.GetServiceAsync(open.Service, cancellationToken);
        if (service?.StableRevision == open.TargetRevision)
        {
            await platform.EndDeploymentAsync(spec, open.TargetRevision, cancellationToken);
        }

        await EndAsync(store, time, logger, open, $"revision {open.WarmRevision} scaled to 0: {why}", cancellationToken, "Retired");
        await MarkEndedAsync(store, platform, open, logger, cancellationToken);
    }

    /// <summary>Ends the window on the record, with an event on the deployment that opened it.</summary>
    public static async Task EndAsync(IStateStore store, TimeProvider time, ILogger logger, Deployment open, string message, CancellationToken cancellationToken, string type = "WarmEnded")
    {
        var now = time.GetUtcNow();
        EngineLog.DeploymentEvent(logger, open.Id, open.Service, message);
        await store.AppendEventAsync(new DeploymentEvent { DeploymentId = open.Id, At = now, Type = type, Message = message }, cancellationToken);
        var current = await store.GetDeploymentAsync(open.Id, cancellationToken) ?? open;
        var ended = current with { WarmEndedAt = current.WarmEndedAt ?? now, UpdatedAt = now };
        await store.UpdateDeploymentAsync(ended, cancellationToken);
    }

    /// <summary>Tells the platform the window is over (ECS: the deployment tag, which `backstay import` reads), when this is still the service's latest deployment.</summary>
    private static async Task MarkEndedAsync(IStateStore store, IPlatform platform, Deployment open, ILogger logger, CancellationToken cancellationToken)
    {
        if ((await store.ListDeploymentsAsync(open.Service, 1, cancellationToken)).FirstOrDefault() is not { } latest || latest.Id != open.Id)
        {
            return;
        }

        try
        {
            await platform.MarkDeploymentAsync(DeploymentPlan.FromJson(latest.PlanJson).Spec, DeploymentMark.Of(latest), cancellationToken);
        }
        catch (PlatformException ex)
        {
            EngineLog.MarkFailed(logger, ex, open.Id, open.Service);
        }
    }

    /// <summary>
    /// Waits out one deployment's window under the service's lease, then retires its warm revision; `continue --full`
    /// (a ContinueFull command) retires it at once. Ends without acting when the window was ended elsewhere; the engine
    /// cancels it when another deployment of the service becomes active, which then ends the window itself.
    /// </summary>
    public static async Task WaitThenRetireAsync(IStateStore store, IPlatform platform, TimeProvider time, ILogger logger, string deploymentId, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (await store.GetDeploymentAsync(deploymentId, cancellationToken) is not { WarmRevision: not null, WarmUntil: { } until } open)
            {
                return;
            }

            var commands = await store.TakeCommandsAsync(deploymentId, cancellationToken);
            if (commands.FirstOrDefault(c => c.Kind == CommandKind.ContinueFull) is { } full)
            {
                await RetireAsync(store, platform, time, logger, open, $"`continue --full` by {full.RequestedBy ?? "someone"} ended the warm window before {Clock(until)}", cancellationToken);
                return;
            }

            var now = time.GetUtcNow();
            if (now >= until)
            {
                var keep = KeepFor(open) is { } span ? $" (keepPreviousFor {Durations.Format(span)})" : "";
                await RetireAsync(store, platform, time, logger, open, $"the warm window ended at {Clock(until)}{keep}", cancellationToken);
                return;
            }

            var left = until - now;
            await Task.Delay(left < CheckEvery ? left : CheckEvery, time, cancellationToken);
        }
    }
}
