using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs.Aws.Ecs;

namespace Backstay.Platform.Ecs;

public sealed partial class EcsPlatform
{
    /// <summary>
    /// Starts a rolling deployment of the revision through the ECS deployment controller (UpdateService with the
    /// revision's task definition) on a service that uses it. Not wired to the engine yet: Core has no port for a
    /// rollout the platform runs itself (see docs/ecs.md).
    /// </summary>
    public async Task<EcsRollout> StartRolloutAsync(ServiceSpec spec, Revision revision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revision);
        var context = Register(spec);
        var described = await CallAsync(context, () => context.Aws.Ecs.DescribeServicesAsync(new DescribeServicesRequest
        {
            Cluster = context.Cluster,
            Services = [context.ServiceName],
        }, cancellationToken));
        var service = described.Services.FirstOrDefault(s => s.Status == "ACTIVE") ?? throw Deleted(context, described.Services.FirstOrDefault()?.Status ?? "MISSING");
        if (service.DeploymentController?.Type is { } type && type != "ECS")
        {
            throw new PlatformException($"ECS service '{context.ServiceName}' uses the {type} deployment controller; a rolling deployment through ECS needs the ECS controller.");
        }

        var definition = await TaskDefinitionAsync(context, new EcsSnapshot(service), revision, cancellationToken);
        var updated = await CallAsync(context, () => context.Aws.Ecs.UpdateServiceAsync(new UpdateServiceRequest
        {
            Cluster = context.Cluster,
            Service = context.ServiceName,
            TaskDefinition = definition.TaskDefinitionArn,
            ForceNewDeployment = true,
        }, cancellationToken));
        var primary = updated.Service?.Deployments?.FirstOrDefault(d => d.Status == "PRIMARY")
            ?? throw new PlatformException($"ECS accepted the update of '{context.ServiceName}' but reported no PRIMARY deployment to follow.");
        context.Invalidate();
        return RolloutInterpreter.Interpret(updated.Service!, primary.Id!, definition.TaskDefinitionArn!);
    }

    /// <summary>Where the rolling deployment stands: rolloutState of its entry in deployments[], the circuit breaker's reasons, or that ECS rolled it back.</summary>
    public async Task<EcsRollout> GetRolloutAsync(ServiceSpec spec, EcsRollout rollout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        var context = Register(spec);
        var described = await CallAsync(context, () => context.Aws.Ecs.DescribeServicesAsync(new DescribeServicesRequest
        {
            Cluster = context.Cluster,
            Services = [context.ServiceName],
        }, cancellationToken));
        var service = described.Services.FirstOrDefault(s => s.Status == "ACTIVE") ?? throw Deleted(context, described.Services.FirstOrDefault()?.Status ?? "MISSING");
        return RolloutInterpreter.Interpret(service, rollout.DeploymentId, rollout.TaskDefinition);
    }
}
