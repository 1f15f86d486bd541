using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Engine;

/// <summary>Thrown for a request that names something that does not exist or cannot be done now.</summary>
public sealed class InvalidRequestException(string message) : Exception(message);

/// <summary>
/// What people and CI ask of Backstay: new revisions, deployments, rollbacks, continues. Requests are written
/// to the store; the engine (in this process or a running `backstay serve`) carries them out.
/// </summary>
public sealed class Deployments(IStateStore store, TimeProvider time, IImageResolver? imageResolver = null)
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    /// <summary>Records a new immutable revision from the spec with the overrides applied.</summary>
    public async Task<Revision> CreateRevisionAsync(ServiceSpec spec, string? image, IReadOnlyDictionary<string, string>? env,
        Provenance provenance, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        await EnsureNoActiveAsync(spec.Service, cancellationToken);
        var mergedEnv = new Dictionary<string, string>(spec.Task.Env, StringComparer.Ordinal);
        foreach (var (key, value) in env ?? new Dictionary<string, string>())
        {
            mergedEnv[key] = value;
        }

        var resolved = imageResolver is null
            ? new ResolvedImage(image ?? spec.Task.Image, null)
            : await imageResolver.ResolveAsync(spec, image ?? spec.Task.Image, cancellationToken);
        var task = spec.Task with { Image = resolved.Image, Env = mergedEnv };
        return await store.AddRevisionAsync(new Revision
        {
            Service = spec.Service,
            Image = resolved.Image,
            Digest = resolved.Digest,
            Env = mergedEnv,
            Port = spec.Task.Port,
            TaskJson = JsonSerializer.Serialize(task, JsonOptions),
            Provenance = provenance,
            CreatedAt = time.GetUtcNow(),
        }, cancellationToken);
    }

    /// <summary>Records a deployment of the revision; the engine starts it. Throws <see cref="DeploymentConflictException"/> when one is active.</summary>
    public async Task<Deployment> StartAsync(ServiceSpec spec, Revision revision, Trigger trigger, string requestedBy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(revision);
        var now = time.GetUtcNow();
        var service = await store.GetServiceAsync(spec.Service, cancellationToken);
        var stable = service?.StableRevision;
        if (stable == revision.Number)
        {
            stable = null;
        }

        // Written before the deployment exists: from then on the engine may finish it, and record a new stable
        // revision, before this method returns.
        await EnsureNoActiveAsync(spec.Service, cancellationToken);
        await store.UpsertServiceAsync(new ServiceRecord
        {
            Name = spec.Service,
            Platform = spec.Platform.Kind,
            StableRevision = service?.StableRevision,
            DesiredCount = spec.Platform.Instances,
            SpecJson = JsonSerializer.Serialize(spec, JsonOptions),
            CreatedAt = service?.CreatedAt ?? now,
            UpdatedAt = now,
        }, cancellationToken);
        var plan = PlanBuilder.ForDeployment(spec, stable is not null);
        var deployment = new Deployment
        {
            Id = Ids.NewDeploymentId(),
            Service = spec.Service,
            Kind = DeploymentKind.Deploy,
            Trigger = trigger,
            Strategy = stable is null ? "initial" : spec.Strategy.Kind,
            StableRevision = stable,
            TargetRevision = revision.Number,
            State = DeploymentState.Pending,
            TotalSteps = plan.Actions.Count,
            PlanJson = plan.ToJson(),
            RequestedBy = requestedBy,
            CreatedAt = now,
            UpdatedAt = now,
        };
        await store.CreateDeploymentAsync(deployment, cancellationToken);
        return deployment;
    }

    /// <summary>Throws <see cref="DeploymentConflictException"/> when the service has a deployment in progress.</summary>
    public async Task EnsureNoActiveAsync(string service, CancellationToken cancellationToken)
    {
        var active = (await store.ListActiveDeploymentsAsync(cancellationToken)).FirstOrDefault(d => d.Service == service);
        if (active is not null)
        {
            throw new DeploymentConflictException(service, active.Id);
        }
    }

    /// <summary>
    /// Rolls a service back: the deployment in progress is rolled back to its stable revision; otherwise a
    /// rollback deployment to the given revision (default: the one before the stable revision) is recorded.
    /// Returns the deployment to follow.
    /// </summary>
    public async Task<Deployment> RollbackAsync(string serviceName, int? toRevision, string requestedBy, CancellationToken cancellationToken)
    {
        var service = await store.GetServiceAsync(serviceName, cancellationToken)
            ?? throw new InvalidRequestException($"Unknown service '{serviceName}'. Known services: {await KnownServicesAsync(cancellationToken)}.");
        var active = (await store.ListActiveDeploymentsAsync(cancellationToken)).FirstOrDefault(d => d.Service == serviceName);
        if (active is not null)
        {
            if (toRevision is not null && toRevision != active.StableRevision)
            {
                throw new InvalidRequestException(
                    $"Deployment {active.Id} of '{serviceName}' is in progress; it can only be rolled back to its stable revision {active.StableRevision}. Roll it back first, then roll back to revision {toRevision}.");
            }

            if (active.Kind == DeploymentKind.Rollback || active.State == DeploymentState.RollingBack)
            {
                return active;
            }

            await store.EnqueueCommandAsync(new DeploymentCommand
            {
                DeploymentId = active.Id,
                Kind = CommandKind.Rollback,
                RequestedBy = requestedBy,
                At = time.GetUtcNow(),
            }, cancellationToken);
            return active;
        }

        var stable = service.StableRevision
            ?? throw new InvalidRequestException($"Service '{serviceName}' has no stable revision to roll back from.");
        var revisions = await store.ListRevisionsAsync(serviceName, cancellationToken);
        var target = toRevision ?? await PreviousStableAsync(serviceName, stable, cancellationToken)
            ?? throw new InvalidRequestException($"Service '{serviceName}' has no earlier revision than {stable} that ever served; name one with --to.");
        var revision = revisions.FirstOrDefault(r => r.Number == target)
            ?? throw new InvalidRequestException($"Service '{serviceName}' has no revision {target}; it has {string.Join(", ", revisions.Select(r => r.Number).Order())}.");
        if (revision.Removed)
        {
            throw new InvalidRequestException($"Revision {target} of '{serviceName}' was removed by retention (keepPrevious); pick one of `backstay revisions {serviceName}`.");
        }

        if (target == stable)
        {
            throw new InvalidRequestException($"Revision {target} is already the stable revision of '{serviceName}'.");
        }

        var spec = JsonSerializer.Deserialize<ServiceSpec>(service.SpecJson, JsonOptions)
            ?? throw new InvalidOperationException($"The stored spec of '{serviceName}' is empty.");
        var lastSucceeded = (await store.ListDeploymentsAsync(serviceName, 50, cancellationToken))
            .FirstOrDefault(d => d.State == DeploymentState.Succeeded && d.TargetRevision == stable);
        var now = time.GetUtcNow();
        var rollback = new Deployment
        {
            Id = Ids.NewDeploymentId(),
            Service = serviceName,
            Kind = DeploymentKind.Rollback,
            Trigger = Trigger.ManualRollback,
            Strategy = "rollback",
            StableRevision = stable,
            TargetRevision = target,
            State = DeploymentState.Pending,
            StableCountBefore = service.DesiredCount,
            RollbackOf = lastSucceeded?.Id,
            Reason = $"manual rollback to revision {target} requested by {requestedBy}",
            PlanJson = new DeploymentPlan { Spec = spec, Actions = [], DesiredCount = service.DesiredCount }.ToJson(),
            RequestedBy = requestedBy,
            CreatedAt = now,
            UpdatedAt = now,
        };
        await store.CreateDeploymentAsync(rollback, cancellationToken);
        return rollback;
    }

    /// <summary>Answers a paused deployment; full skips the remaining pauses.</summary>
    public async Task<Deployment> ContinueAsync(string deploymentId, bool full, string requestedBy, CancellationToken cancellationToken)
    {
        var deployment = await store.GetDeploymentAsync(deploymentId, cancellationToken)
            ?? throw new InvalidRequestException($"Unknown deployment '{deploymentId}'; `backstay history SERVICE` lists them.");
        if (deployment.State != DeploymentState.Paused && !(full && deployment.State == DeploymentState.InProgress))
        {
            throw new InvalidRequestException($"Deployment {deploymentId} is {deployment.State}, not Paused; there is nothing to continue.");
        }

        await store.EnqueueCommandAsync(new DeploymentCommand
        {
            DeploymentId = deploymentId,
            Kind = full ? CommandKind.ContinueFull : CommandKind.Continue,
            RequestedBy = requestedBy,
            At = time.GetUtcNow(),
        }, cancellationToken);
        return deployment;
    }

    /// <summary>The last revision before stable that a deployment made stable.</summary>
    private async Task<int?> PreviousStableAsync(string service, int stable, CancellationToken cancellationToken)
    {
        var deployments = await store.ListDeploymentsAsync(service, 500, cancellationToken);
        var revisions = (await store.ListRevisionsAsync(service, cancellationToken)).Where(r => !r.Removed).Select(r => r.Number).ToHashSet();
        return deployments
            .Where(d => d.State == DeploymentState.Succeeded && d.TargetRevision != stable && revisions.Contains(d.TargetRevision))
            .Select(d => (int?)d.TargetRevision)
            .FirstOrDefault();
    }

    private async Task<string> KnownServicesAsync(CancellationToken cancellationToken)
    {
        var services = await store.ListServicesAsync(cancellationToken);
        return services.Count == 0 ? "none yet (deploy one with `backstay deploy`)" : string.Join(", ", services.Select(s => s.Name));
    }
}
