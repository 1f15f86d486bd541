using Backstay.Core.Hooks;
using Backstay.Core.Model;
using Backstay.Core.Ports;

namespace Backstay.Core.Engine;

/// <summary>
/// Everything a running deployment writes goes through here: the deployment itself (and the platform's tag of where
/// it stands), the journal of step intents and results, the event timeline, and the spec's webhooks.
/// </summary>
internal sealed class Recorder(DeploymentContext context)
{
    private (DeploymentState State, int Step)? _marked;

    public async Task SaveAsync(Deployment deployment, CancellationToken cancellationToken)
    {
        context.Deployment = deployment with { UpdatedAt = context.Time.GetUtcNow() };
        await context.Store.UpdateDeploymentAsync(context.Deployment, cancellationToken);
        await MarkAsync(cancellationToken);
    }

    public Task JournalAsync(int step, StepPhase phase, PlanAction action, CancellationToken cancellationToken) =>
        JournalAsync(new JournalEntry
        {
            DeploymentId = context.Deployment.Id,
            Step = step,
            Phase = phase,
            Action = action.Describe(context.Target.Number, context.Stable?.Number),
            At = context.Time.GetUtcNow(),
        }, cancellationToken);

    public Task JournalAsync(JournalEntry entry, CancellationToken cancellationToken) => context.Store.AppendJournalAsync(entry, cancellationToken);

    public async Task EventAsync(string type, string message, CancellationToken cancellationToken, int? step = null, EventData.IEventData? data = null)
    {
        EngineLog.DeploymentEvent(context.Logger, context.Deployment.Id, context.Service, message);
        await context.Store.AppendEventAsync(new DeploymentEvent
        {
            DeploymentId = context.Deployment.Id,
            At = context.Time.GetUtcNow(),
            Type = type,
            Message = message,
            Step = step,
            DataJson = data is null ? null : EventData.Serialize(data),
        }, cancellationToken);
    }

    /// <summary>Tells the spec's webhooks in the background; a failing webhook is recorded, never fatal.</summary>
    public void Notify(string name, Deployment about)
    {
        var spec = context.Plan.Spec;
        if (spec.Notifications.Count == 0)
        {
            return;
        }

        var news = NotificationEvent.From(name, about, context.Time.GetUtcNow());
        _ = Task.Run(async () =>
        {
            try
            {
                var failures = await Notifier.SendAsync(spec.Notifications, news, HookHttp.Client, Environment.GetEnvironmentVariable, CancellationToken.None);
                foreach (var failure in failures)
                {
                    await context.Store.AppendEventAsync(new DeploymentEvent { DeploymentId = about.Id, At = context.Time.GetUtcNow(), Type = "NotificationFailed", Message = failure }, CancellationToken.None);
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                EngineLog.PassFailed(context.Logger, ex);
            }
        });
    }

    /// <summary>Tells the platform where the deployment stands when its state or step changed (not on every progress save).</summary>
    private async Task MarkAsync(CancellationToken cancellationToken)
    {
        var deployment = context.Deployment;
        if (_marked == (deployment.State, deployment.CurrentStep))
        {
            return;
        }

        try
        {
            await context.Platform.MarkDeploymentAsync(context.Plan.Spec, DeploymentMark.Of(deployment), cancellationToken);
            _marked = (deployment.State, deployment.CurrentStep);
        }
        catch (PlatformException ex)
        {
            EngineLog.MarkFailed(context.Logger, ex, deployment.Id, context.Service);
        }
    }
}
