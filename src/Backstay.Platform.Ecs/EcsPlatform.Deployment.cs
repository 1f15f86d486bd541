using Backstay.Platform.Ecs.Aws.ApplicationAutoScaling;

namespace Backstay.Platform.Ecs;

// A deployment's bracket on ECS: Application Auto Scaling suspended when a deployment starts (what to restore is noted
// in a tag on the service first) and resumed when it ends, with the serving revision's task set left primary at 100%.
public sealed partial class EcsPlatform
{
    /// <summary>Suspends the service's auto scaling for the deployment, remembering (in a tag on the service) what to restore.</summary>
    public async Task BeginDeploymentAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        var context = Register(spec);
        var target = await ScalableTargetAsync(context, cancellationToken);
        if (target is null)
        {
            return;
        }

        var snapshot = await ReadAsync(context, Freshness.Fresh, cancellationToken);
        var ours = Tags.Find(snapshot.Service.Tags, Tags.AutoScalingSuspended);
        var state = target.SuspendedState ?? new SuspendedState();
        if (ours is null && state.AllSuspended)
        {
            EcsLog.AutoScalingSuspendedByOthers(_logger, context.ServiceName);
            return;
        }

        if (ours is null)
        {
            // Tagged before suspending: a process that dies in between still leaves the note that tells the next one to resume.
            await CallAsync(context, () => context.Aws.Ecs.TagResourceAsync(new TagResourceRequest
            {
                ResourceArn = snapshot.Service.ServiceArn!,
                Tags = [new Tag(Tags.AutoScalingSuspended, EncodeState(state))],
            }, cancellationToken));
        }

        if (!state.AllSuspended)
        {
            await CallAsync(context, () => context.Aws.AutoScaling.RegisterScalableTargetAsync(new RegisterScalableTargetRequest
            {
                ServiceNamespace = "ecs",
                ResourceId = context.ResourceId,
                ScalableDimension = ScalableDimension,
                SuspendedState = new SuspendedState { DynamicScalingInSuspended = true, DynamicScalingOutSuspended = true, ScheduledScalingSuspended = true },
            }, cancellationToken));
            EcsLog.AutoScaling(_logger, context.ServiceName, "suspended for the deployment");
        }

        context.Invalidate();
    }

    /// <summary>
    /// Leaves the serving revision's task set as the primary one at 100% of the service, keeps the service's desired
    /// count when auto scaling owns it, and resumes auto scaling as it was before the deployment.
    /// </summary>
    public async Task EndDeploymentAsync(ServiceSpec spec, int servingRevision, CancellationToken cancellationToken)
    {
        var context = Register(spec);
        var target = await ScalableTargetAsync(context, cancellationToken);
        var snapshot = await ReadAsync(context, Freshness.Fresh, cancellationToken);
        if (snapshot.SetOf(servingRevision) is { } serving)
        {
            await SettleServingSetAsync(context, snapshot, serving, target is not null, cancellationToken);
        }

        if (Tags.Find(snapshot.Service.Tags, Tags.AutoScalingSuspended) is { } previous)
        {
            if (target is not null)
            {
                await CallAsync(context, () => context.Aws.AutoScaling.RegisterScalableTargetAsync(new RegisterScalableTargetRequest
                {
                    ServiceNamespace = "ecs",
                    ResourceId = context.ResourceId,
                    ScalableDimension = ScalableDimension,
                    SuspendedState = DecodeState(previous),
                }, cancellationToken));
                EcsLog.AutoScaling(_logger, context.ServiceName, $"resumed on revision {servingRevision}");
            }

            await CallAsync(context, () => context.Aws.Ecs.UntagResourceAsync(new UntagResourceRequest
            {
                ResourceArn = snapshot.Service.ServiceArn!,
                TagKeys = [Tags.AutoScalingSuspended],
            }, cancellationToken));
        }

        context.Invalidate();
    }

    private async Task SettleServingSetAsync(EcsServiceContext context, EcsSnapshot snapshot, TaskSet serving, bool autoScaled, CancellationToken cancellationToken)
    {
        if (serving.Status != "PRIMARY")
        {
            await CallAsync(context, () => context.Aws.Ecs.UpdateServicePrimaryTaskSetAsync(new UpdateServicePrimaryTaskSetRequest
            {
                Cluster = context.Cluster,
                Service = context.ServiceName,
                PrimaryTaskSet = serving.TaskSetArn!,
            }, cancellationToken));
        }

        // With other sets still running, their counts depend on the desired count: leave the scale to the next deployment.
        if (snapshot.TaskSets.Any(t => t.TaskSetArn != serving.TaskSetArn && t.Status != "DRAINING"))
        {
            return;
        }

        var count = snapshot.CountOf(serving);
        var full = (serving.Scale?.Value ?? 0) >= 100;
        var desired = autoScaled ? snapshot.DesiredCount : count;
        if (!full)
        {
            // Up to 100% first and the desired count after, so the serving set never dips below its count on the way.
            await CallAsync(context, () => context.Aws.Ecs.UpdateTaskSetAsync(new UpdateTaskSetRequest
            {
                Cluster = context.Cluster,
                Service = context.ServiceName,
                TaskSet = serving.TaskSetArn!,
                Scale = new Scale { Value = 100, Unit = "PERCENT" },
            }, cancellationToken));
        }

        if (desired != snapshot.DesiredCount && desired > 0)
        {
            await CallAsync(context, () => context.Aws.Ecs.UpdateServiceAsync(new UpdateServiceRequest
            {
                Cluster = context.Cluster,
                Service = context.ServiceName,
                DesiredCount = desired,
            }, cancellationToken));
        }
    }

    /// <summary>
    /// Whether Application Auto Scaling has a scalable target on the service's desired count: read at most once a minute,
    /// and again as soon as the service's desired count is not the one a "no" was read at. A scalable target registered
    /// within that minute shows first as a new desired count, which without the new read would pass for drift.
    /// </summary>
    public async Task<bool> IsAutoScaledAsync(string service, CancellationToken cancellationToken)
    {
        var context = Context(service);
        var now = _time.GetUtcNow();
        var desired = (await ReadAsync(context, Freshness.Watch, cancellationToken)).DesiredCount;
        if (context.AutoScaledAt is not { } at || now - at >= AutoScalingCheckEvery || (!context.AutoScaled && desired != context.AutoScaledDesired))
        {
            context.AutoScaled = await ScalableTargetAsync(context, cancellationToken) is not null;
            context.AutoScaledAt = now;
            context.AutoScaledDesired = desired;
        }

        return context.AutoScaled;
    }

    private static readonly TimeSpan AutoScalingCheckEvery = TimeSpan.FromMinutes(1);

    private async Task<ScalableTarget?> ScalableTargetAsync(EcsServiceContext context, CancellationToken cancellationToken)
    {
        var targets = await CallAsync(context, () => context.Aws.AutoScaling.DescribeScalableTargetsAsync(new DescribeScalableTargetsRequest
        {
            ServiceNamespace = "ecs",
            ResourceIds = [context.ResourceId],
            ScalableDimension = ScalableDimension,
        }, cancellationToken));
        return targets.ScalableTargets.FirstOrDefault(t => t.ResourceId == context.ResourceId);
    }

    private static string EncodeState(SuspendedState state) =>
        string.Create(CultureInfo.InvariantCulture,
            $"in={Flag(state.DynamicScalingInSuspended)} out={Flag(state.DynamicScalingOutSuspended)} scheduled={Flag(state.ScheduledScalingSuspended)}");

    private static SuspendedState DecodeState(string value)
    {
        var parts = value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=')).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1] == "true", StringComparer.Ordinal);
        return new SuspendedState
        {
            DynamicScalingInSuspended = parts.GetValueOrDefault("in"),
            DynamicScalingOutSuspended = parts.GetValueOrDefault("out"),
            ScheduledScalingSuspended = parts.GetValueOrDefault("scheduled"),
        };
    }

    private static string Flag(bool? value) => value == true ? "true" : "false";
}
