using System.Collections.Concurrent;
using Backstay.Core.Model;

namespace Backstay.Platform.Ecs;

/// <summary>
/// Rolling through the ECS deployment controller (platform.ecs.deploymentController: ECS): ECS replaces the tasks
/// itself after UpdateService, and Backstay follows the deployment's entry in deployments[]. The circuit breaker is on
/// without its own rollback: its verdict is reported, and the engine decides to roll back (a rollout of the stable revision).
/// </summary>
public sealed partial class EcsPlatform : INativeRollout
{
    /// <summary>The Backstay revision of each task definition ARN seen in deployments[] (null: not Backstay's).</summary>
    private readonly ConcurrentDictionary<string, int?> _revisionOfTaskDefinition = new(StringComparer.Ordinal);

    public INativeRollout? NativeRollout => this;

    async Task<NativeRolloutStatus> INativeRollout.StartAsync(ServiceSpec spec, Revision revision, CancellationToken cancellationToken) =>
        ToStatus(await StartRolloutAsync(spec, revision, cancellationToken));

    /// <summary>
    /// Where the rollout stands, from the service's paced read (the one instance lists use too): read about once a second
    /// while its counts change, less and less often (up to the quiet read interval) while ECS leaves it waiting, however
    /// often the engine asks (its ticks are 100 ms by default).
    /// </summary>
    async Task<NativeRolloutStatus> INativeRollout.GetAsync(ServiceSpec spec, string rolloutId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rolloutId);
        var context = Register(spec);
        var at = rolloutId.LastIndexOf('@');
        var rollout = at < 0
            ? new EcsRollout { DeploymentId = rolloutId, TaskDefinition = "" }
            : new EcsRollout { DeploymentId = rolloutId[..at], TaskDefinition = rolloutId[(at + 1)..] };
        var snapshot = await ReadAsync(context, Freshness.Watch, cancellationToken);
        return ToStatus(RolloutInterpreter.Interpret(snapshot.Service, rollout.DeploymentId, rollout.TaskDefinition));
    }

    /// <summary>
    /// Starts a rolling deployment of the revision through the ECS deployment controller: creates the service with the
    /// revision's task definition when there is none, or calls UpdateService with it. Idempotent: when the service's
    /// PRIMARY deployment already runs the revision's task definition, that deployment is followed instead.
    /// </summary>
    public async Task<EcsRollout> StartRolloutAsync(ServiceSpec spec, Revision revision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revision);
        var context = Register(spec);
        var described = await DescribeServiceAsync(context, cancellationToken);
        var service = described.Services.FirstOrDefault(s => s.Status == "ACTIVE");
        if (service is null)
        {
            if (described.Services.FirstOrDefault() is { } gone)
            {
                throw Deleted(context, gone.Status ?? "MISSING");
            }

            return await CreateNativeServiceAsync(context, revision, cancellationToken);
        }

        if (service.DeploymentController?.Type is { } type && type != "ECS")
        {
            throw new PlatformException($"ECS service '{context.ServiceName}' uses the {type} deployment controller; a rolling deployment through ECS needs the ECS controller.");
        }

        var definition = await TaskDefinitionAsync(context, new EcsSnapshot(service), revision, cancellationToken);
        _revisionOfTaskDefinition[definition.TaskDefinitionArn!] = revision.Number;
        // The service's task definition is its PRIMARY deployment's: when that is the revision's, its rollout has started already.
        if (service.Deployments?.FirstOrDefault(d => d.Status == "PRIMARY") is { } running && service.TaskDefinition == definition.TaskDefinitionArn)
        {
            return RolloutInterpreter.Interpret(service, running.Id!, definition.TaskDefinitionArn!) with { TaskDefinition = definition.TaskDefinitionArn! };
        }

        var updated = await CallAsync(context, () => context.Aws.Ecs.UpdateServiceAsync(new UpdateServiceRequest
        {
            Cluster = context.Cluster,
            Service = context.ServiceName,
            TaskDefinition = definition.TaskDefinitionArn,
            DeploymentConfiguration = RollingConfiguration(context.Spec),
            ForceNewDeployment = true,
        }, cancellationToken));
        var primary = updated.Service?.Deployments?.FirstOrDefault(d => d.Status == "PRIMARY")
            ?? throw new PlatformException($"ECS accepted the update of '{context.ServiceName}' but reported no PRIMARY deployment to follow.");
        context.Invalidate();
        EcsLog.RolloutStarted(_logger, primary.Id ?? "", revision.Number, context.ServiceName);
        return RolloutInterpreter.Interpret(updated.Service!, primary.Id!, definition.TaskDefinitionArn!) with { TaskDefinition = definition.TaskDefinitionArn! };
    }

    /// <summary>Where the rolling deployment stands: rolloutState of its entry in deployments[], the circuit breaker's reasons, or that ECS rolled it back.</summary>
    public async Task<EcsRollout> GetRolloutAsync(ServiceSpec spec, EcsRollout rollout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        var context = Register(spec);
        var described = await DescribeServiceAsync(context, cancellationToken);
        var service = described.Services.FirstOrDefault(s => s.Status == "ACTIVE") ?? throw Deleted(context, described.Services.FirstOrDefault()?.Status ?? "MISSING");
        return RolloutInterpreter.Interpret(service, rollout.DeploymentId, rollout.TaskDefinition);
    }

    /// <summary>
    /// The service's deploymentConfiguration for a rolling update of n tasks: up to batch new tasks at a time
    /// (maximumPercent 100 + ⌈100·batch/n⌉, at most 200), at most maxUnavailable old ones stopped before their
    /// replacements are healthy (minimumHealthyPercent 100 − ⌊100·maxUnavailable/n⌋), and the circuit breaker on
    /// without its own rollback: Backstay decides rollbacks.
    /// </summary>
    internal static DeploymentConfiguration RollingConfiguration(ServiceSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var rolling = spec.Strategy.Rolling ?? new RollingSpec();
        var n = Math.Max(1, spec.Platform.Instances);
        return new DeploymentConfiguration
        {
            DeploymentCircuitBreaker = new DeploymentCircuitBreaker { Enable = true, Rollback = false },
            MaximumPercent = Math.Min(200, 100 + (int)Math.Ceiling(100.0 * Math.Max(1, rolling.Batch) / n)),
            MinimumHealthyPercent = Math.Max(0, 100 - (int)Math.Floor(100.0 * rolling.MaxUnavailable / n)),
        };
    }

    /// <summary>The rollout's id for the engine's journal: the ECS deployment id and the task definition it runs ("family:revision").</summary>
    internal static string RolloutId(EcsRollout rollout) =>
        rollout.TaskDefinition.Length == 0 ? rollout.DeploymentId : $"{rollout.DeploymentId}@{ShortTaskDefinition(rollout.TaskDefinition)}";

    internal static NativeRolloutStatus ToStatus(EcsRollout rollout)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        var state = rollout.State switch
        {
            EcsRolloutState.Completed => NativeRolloutState.Completed,
            EcsRolloutState.Failed => NativeRolloutState.Failed,
            EcsRolloutState.RolledBack => NativeRolloutState.RolledBack,
            _ => NativeRolloutState.InProgress,
        };
        return new NativeRolloutStatus(RolloutId(rollout), state, rollout.Reason, rollout.Desired, rollout.Running, rollout.FailedTasks);
    }

    private static string ShortTaskDefinition(string arn)
    {
        var slash = arn.LastIndexOf('/');
        return slash < 0 ? arn : arn[(slash + 1)..];
    }

    /// <summary>A service on the ECS controller, created with the first revision's task definition behind the production target group.</summary>
    private async Task<EcsRollout> CreateNativeServiceAsync(EcsServiceContext context, Revision revision, CancellationToken cancellationToken)
    {
        var definition = await TaskDefinitionAsync(context, new EcsSnapshot(new Service()), revision, cancellationToken);
        _revisionOfTaskDefinition[definition.TaskDefinitionArn!] = revision.Number;
        var container = TaskDefinitionBuilder.PickContainer(definition, context.Ecs.Container, context.Family);
        var options = Effective(context.Ecs);
        var network = SpecNetwork(context.Ecs);
        if (network is null && definition.NetworkMode == "awsvpc")
        {
            throw new PlatformException(
                $"Revision {revision.Number} of '{context.Spec.Service}' uses awsvpc networking, and service '{context.ServiceName}' does not exist yet; give platform.ecs.subnets (and securityGroups) so Backstay can create it.");
        }

        var created = await CallAsync(context, () => context.Aws.Ecs.CreateServiceAsync(new CreateServiceRequest
        {
            Cluster = context.Cluster,
            ServiceName = context.ServiceName,
            TaskDefinition = definition.TaskDefinitionArn,
            DesiredCount = Math.Max(1, context.Spec.Platform.Instances),
            DeploymentController = new DeploymentController { Type = "ECS" },
            DeploymentConfiguration = RollingConfiguration(context.Spec),
            LoadBalancers = [new LoadBalancer { TargetGroupArn = ProductionTargetGroup(context), ContainerName = container.Name, ContainerPort = revision.Port }],
            NetworkConfiguration = network,
            LaunchType = options.LaunchType.ToUpperInvariant(),
            SchedulingStrategy = "REPLICA",
            Tags = [new Tag(Tags.ManagedBy, "backstay"), new Tag(Tags.Service, Tags.Clean(context.Spec.Service))],
        }, cancellationToken));
        EcsLog.NativeServiceCreated(_logger, context.ServiceName, context.Cluster);
        context.Invalidate();
        var primary = created.Service?.Deployments?.FirstOrDefault(d => d.Status == "PRIMARY")
            ?? throw new PlatformException($"ECS created service '{context.ServiceName}' but reported no PRIMARY deployment to follow.");
        EcsLog.RolloutStarted(_logger, primary.Id ?? "", revision.Number, context.ServiceName);
        return RolloutInterpreter.Interpret(created.Service!, primary.Id!, definition.TaskDefinitionArn!) with { TaskDefinition = definition.TaskDefinitionArn! };
    }

    /// <summary>The target group of a service on the ECS controller: the first one the spec names.</summary>
    private static string ProductionTargetGroup(EcsServiceContext context) => context.LoadBalancer.TargetGroups[0];

    /// <summary>
    /// The revisions of a service on the ECS controller, one per entry in deployments[]: its desired count, running
    /// tasks as healthy instances (ECS registers them in the target group once they run) and pending ones as starting.
    /// </summary>
    private async Task<IReadOnlyList<InstanceSet>> ListNativeAsync(EcsServiceContext context, string service, CancellationToken cancellationToken)
    {
        var snapshot = await ReadAsync(context, Freshness.Watch, cancellationToken);
        var sets = new List<InstanceSet>();
        foreach (var deployment in snapshot.Service.Deployments ?? [])
        {
            if (TaskDefinitionOf(snapshot, deployment) is not { } arn || await RevisionOfTaskDefinitionAsync(context, arn, cancellationToken) is not { } revision)
            {
                continue;
            }

            var instances = Enumerable.Range(0, deployment.RunningCount)
                .Select(i => new InstanceStatus { Id = $"{deployment.Id}#{i.ToString(CultureInfo.InvariantCulture)}", Revision = revision, Health = InstanceHealth.Healthy })
                .Concat(Enumerable.Range(0, deployment.PendingCount)
                    .Select(i => new InstanceStatus { Id = $"{deployment.Id}#pending{i.ToString(CultureInfo.InvariantCulture)}", Revision = revision, Health = InstanceHealth.Starting }))
                .ToList();
            var existing = sets.FindIndex(s => s.Revision == revision);
            var set = new InstanceSet { Service = service, Revision = revision, DesiredCount = deployment.DesiredCount, Instances = instances };
            if (existing >= 0)
            {
                sets[existing] = sets[existing] with { DesiredCount = sets[existing].DesiredCount + set.DesiredCount, Instances = [.. sets[existing].Instances, .. instances] };
            }
            else
            {
                sets.Add(set);
            }
        }

        return sets.Where(s => s.DesiredCount > 0 || s.Instances.Count > 0).ToList();
    }

    /// <summary>Production traffic of a service on the ECS controller: its one target group serves the PRIMARY deployment's revision.</summary>
    private async Task<IReadOnlyDictionary<int, int>> NativeWeightsAsync(EcsServiceContext context, CancellationToken cancellationToken)
    {
        var snapshot = await ReadAsync(context, Freshness.ForAct, cancellationToken);
        var primary = snapshot.Service.Deployments?.FirstOrDefault(d => d.Status == "PRIMARY");
        return primary is not null && TaskDefinitionOf(snapshot, primary) is { } arn && await RevisionOfTaskDefinitionAsync(context, arn, cancellationToken) is { } revision
            ? new Dictionary<int, int> { [revision] = 100 }
            : new Dictionary<int, int>();
    }

    /// <summary>
    /// Scaling on the ECS controller: the revision the service runs takes the count as the service's desired count;
    /// any other revision is on its way out (ECS stops it), so 0 for it needs nothing.
    /// </summary>
    private async Task ScaleNativeAsync(EcsServiceContext context, Revision revision, int count, CancellationToken cancellationToken)
    {
        var snapshot = await ReadAsync(context, Freshness.Fresh, cancellationToken);
        var primary = snapshot.Service.Deployments?.FirstOrDefault(d => d.Status == "PRIMARY");
        var runs = primary is not null && TaskDefinitionOf(snapshot, primary) is { } arn && await RevisionOfTaskDefinitionAsync(context, arn, cancellationToken) == revision.Number;
        if (!runs)
        {
            if (count == 0)
            {
                return;
            }

            throw new PlatformException(
                $"ECS service '{context.ServiceName}' uses the ECS deployment controller and runs another revision than {revision.Number}; revisions change there only through a rolling update.");
        }

        if (snapshot.DesiredCount != count)
        {
            await CallAsync(context, () => context.Aws.Ecs.UpdateServiceAsync(new UpdateServiceRequest
            {
                Cluster = context.Cluster,
                Service = context.ServiceName,
                DesiredCount = count,
            }, cancellationToken));
            context.Invalidate();
        }
    }

    /// <summary>
    /// The task definition a deployment runs; the PRIMARY one's is the service's own (moto leaves the entry's field at the
    /// service's first task definition after an update, ECS keeps both the same).
    /// </summary>
    private static string? TaskDefinitionOf(EcsSnapshot snapshot, Aws.Ecs.Deployment deployment) =>
        deployment.Status == "PRIMARY" ? snapshot.Service.TaskDefinition ?? deployment.TaskDefinition : deployment.TaskDefinition;

    private async Task<int?> RevisionOfTaskDefinitionAsync(EcsServiceContext context, string arn, CancellationToken cancellationToken)
    {
        if (_revisionOfTaskDefinition.TryGetValue(arn, out var known))
        {
            return known;
        }

        var cached = context.TaskDefinitions.FirstOrDefault(kv => kv.Value.TaskDefinitionArn == arn);
        if (cached.Value is not null)
        {
            return _revisionOfTaskDefinition[arn] = cached.Key;
        }

        var described = await CallAsync(context, () => context.Aws.Ecs.DescribeTaskDefinitionAsync(
            new DescribeTaskDefinitionRequest { TaskDefinition = arn, Include = ["TAGS"] }, cancellationToken));
        int? revision = Tags.Find(described.Tags, Tags.Service) == Tags.Clean(context.Spec.Service)
            && int.TryParse(Tags.Find(described.Tags, Tags.Revision), NumberStyles.None, CultureInfo.InvariantCulture, out var tagged)
                ? tagged
                : null;
        return _revisionOfTaskDefinition[arn] = revision;
    }

    /// <summary>The service as DescribeServices answers now (not the paced snapshot: a rollout decision reads it fresh).</summary>
    private Task<DescribeServicesResponse> DescribeServiceAsync(EcsServiceContext context, CancellationToken cancellationToken) =>
        CallAsync(context, () => context.Aws.Ecs.DescribeServicesAsync(new DescribeServicesRequest
        {
            Cluster = context.Cluster,
            Services = [context.ServiceName],
        }, cancellationToken));
}
