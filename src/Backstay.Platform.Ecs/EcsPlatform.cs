using System.Collections.Concurrent;
using Backstay.Platform.Ecs.Aws;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Backstay.Platform.Ecs;

/// <summary>
/// Amazon ECS as a Backstay platform: each revision is a task-definition revision run by its own task set of a
/// service with the EXTERNAL deployment controller, behind one of two target groups that alternate between
/// deployments; traffic moves through weighted forward actions on the ALB listeners. The platform only carries out
/// what the engine decides: it never decides to roll back.
/// </summary>
public sealed partial class EcsPlatform : IPlatform, ICompute, ITraffic, ISignals
{
    private const string ScalableDimension = "ecs:service:DesiredCount";

    private readonly EcsPlatformOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly AwsClientFactory _factory;
    private readonly ConcurrentDictionary<string, EcsServiceContext> _services = new(StringComparer.Ordinal);

    public EcsPlatform(EcsPlatformOptions options, TimeProvider time, ILogger? logger = null)
        : this(options, time, logger, handler: null)
    {
    }

    internal EcsPlatform(EcsPlatformOptions options, TimeProvider time, ILogger? logger, HttpMessageHandler? handler)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        _factory = new AwsClientFactory(new AwsEnvironment(options.Environment), options.Credentials ?? new DefaultChainCredentialSource(),
            time, options.Aws, _logger, handler);
    }

    public string Name => "ecs";

    public ICompute Compute => this;

    public ITraffic Traffic => this;

    public ISignals Signals => this;

    /// <summary>AWS calls sent so far per "service:Operation", every attempt counted.</summary>
    public IReadOnlyDictionary<string, int> ApiCalls => _factory.Http.Calls.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    public void ResetApiCallCounts() => _factory.Http.ResetCounts();

    internal AwsClients ClientsFor(string region) => _factory.ForRegion(region);

    /// <summary>
    /// Tells the platform a service's spec without touching AWS, so a process that did not start the deployment
    /// (`backstay status`, `rollback`, `reset` with an empty local store) can read and change it: what runs is read
    /// back from the task sets' external ids and tags.
    /// </summary>
    public Task AttachAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        Register(spec);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Creates the ECS service with the EXTERNAL deployment controller when it does not exist, or adopts it when it does.
    /// A service that was deleted outside Backstay (INACTIVE) is drift: Backstay stops and says so rather than re-create it.
    /// </summary>
    public Task EnsureServiceAsync(ServiceSpec spec, CancellationToken cancellationToken) => EnsureAsync(spec, recreate: false, cancellationToken);

    /// <summary>
    /// As <see cref="EnsureServiceAsync"/>, but a service deleted outside Backstay is created again: what
    /// `backstay reset --recreate` needs. (Core's port has no such call yet; see docs/ecs.md.)
    /// </summary>
    public Task RecreateServiceAsync(ServiceSpec spec, CancellationToken cancellationToken) => EnsureAsync(spec, recreate: true, cancellationToken);

    private async Task EnsureAsync(ServiceSpec spec, bool recreate, CancellationToken cancellationToken)
    {
        var context = Register(spec);
        var described = await CallAsync(context, () => context.Aws.Ecs.DescribeServicesAsync(new DescribeServicesRequest
        {
            Cluster = context.Cluster,
            Services = [context.ServiceName],
        }, cancellationToken));
        var service = described.Services.FirstOrDefault();
        if (context.Ecs.NativeRolling)
        {
            await EnsureNativeAsync(context, service, recreate, cancellationToken);
            return;
        }

        if (service is null || service.Status is "INACTIVE" or "DRAINING")
        {
            if (service is not null && !recreate)
            {
                throw Deleted(context, service.Status!);
            }

            if (service?.Status == "DRAINING")
            {
                throw new PlatformException(
                    $"ECS service '{context.ServiceName}' in cluster '{context.Cluster}' is still DRAINING after its deletion; ECS refuses a new service of that name until it is INACTIVE. Try again in a few minutes.");
            }

            await CreateServiceAsync(context, cancellationToken);
        }
        else if (service.DeploymentController?.Type is { } type && type != "EXTERNAL")
        {
            throw new PlatformException(
                $"ECS service '{context.ServiceName}' in cluster '{context.Cluster}' uses the {type} deployment controller. Backstay deploys through task sets, which need the EXTERNAL controller, " +
                "and ECS cannot change a service's controller: create the service anew with `deploymentController: EXTERNAL` (or delete it and let Backstay create it)" +
                (type == "ECS" ? ", or set `platform.ecs.deploymentController: ECS` with `strategy: { rolling: {} }` to let ECS roll revisions out and Backstay follow it." : "."));
        }

        await CheckLoadBalancerAsync(context, cancellationToken);

        // A deployment starts (or resumes) here: its preflight checks (drift, alarms already firing) read AWS afresh.
        context.Invalidate();
        context.Alarms.Invalidate();
    }

    /// <summary>
    /// A service on the ECS controller is adopted when it exists; one that does not is created by the first rolling
    /// update, which has the task definition it needs. One on another controller is refused.
    /// </summary>
    private async Task EnsureNativeAsync(EcsServiceContext context, Service? service, bool recreate, CancellationToken cancellationToken)
    {
        if (service is not null && service.Status is "INACTIVE" or "DRAINING" && !recreate)
        {
            throw Deleted(context, service.Status!);
        }

        if (service is { Status: "ACTIVE", DeploymentController.Type: { } type } && type != "ECS")
        {
            throw new PlatformException(
                $"ECS service '{context.ServiceName}' in cluster '{context.Cluster}' uses the {type} deployment controller, but the spec says `platform.ecs.deploymentController: ECS`. " +
                "ECS cannot change a service's controller: set `deploymentController: EXTERNAL` in the spec to deploy it through task sets, or create the service anew.");
        }

        await CheckLoadBalancerAsync(context, cancellationToken);

        // A deployment starts (or resumes) here: its preflight checks (drift, alarms already firing) read AWS afresh.
        context.Invalidate();
        context.Alarms.Invalidate();
    }

    public ValueTask DisposeAsync()
    {
        _factory.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// The engine records each ECS service's state every 10 s at most (a DescribeServices and a DescribeTargetHealth per
    /// target group, from the service's paced reads, and a DescribeListeners), not every 2 s: reads count against the
    /// account's ECS and ELB rate limits. 10 s keeps the record younger than the 15 s a deployment's drift check trusts.
    /// With many services the interval grows so that these records take at most a quarter of the ELB describe rate limit
    /// (with the default 10 per second: 40 s for 100 services); deployments still check drift themselves before they act.
    /// </summary>
    public TimeSpan ObservationInterval(string platformKind)
    {
        var share = (_options.Aws.RateLimits?.LimitOf(AwsService.ElasticLoadBalancingV2.SigningName, "DescribeListeners").PerSecond ?? 0) / 4;
        var spread = share > 0 ? TimeSpan.FromSeconds(_services.Count / share) : TimeSpan.Zero;
        return spread > MinObservationInterval ? spread : MinObservationInterval;
    }

    private static readonly TimeSpan MinObservationInterval = TimeSpan.FromSeconds(10);

    private async Task CreateServiceAsync(EcsServiceContext context, CancellationToken cancellationToken)
    {
        await CallAsync(context, () => context.Aws.Ecs.CreateServiceAsync(new CreateServiceRequest
        {
            Cluster = context.Cluster,
            ServiceName = context.ServiceName,
            DesiredCount = Math.Max(1, context.Spec.Platform.Instances),
            DeploymentController = new DeploymentController { Type = "EXTERNAL" },
            SchedulingStrategy = "REPLICA",
            Tags = [new Tag(Tags.ManagedBy, "backstay"), new Tag(Tags.Service, Tags.Clean(context.Spec.Service))],
        }, cancellationToken));
        EcsLog.ServiceCreated(_logger, context.ServiceName, context.Cluster);
    }

    /// <summary>
    /// Reads the service and its task sets (DescribeServices), or reuses a read young enough for the caller: one started
    /// after it asked (<see cref="Freshness.Fresh"/>), one younger than the minimum age (<see cref="Freshness.ForAct"/>), or one
    /// as old as the pacing allows (<see cref="Freshness.Watch"/>). Callers at the same time share one read.
    /// </summary>
    private async Task<EcsSnapshot> ReadAsync(EcsServiceContext context, Freshness freshness, CancellationToken cancellationToken)
    {
        var snapshot = await context.Snapshot.GetAsync(freshness, _time, async ct =>
        {
            var described = await CallAsync(context, () => context.Aws.Ecs.DescribeServicesAsync(new DescribeServicesRequest
            {
                Cluster = context.Cluster,
                Services = [context.ServiceName],
                Include = ["TAGS"],
            }, ct));
            return new EcsSnapshot(described.Services.FirstOrDefault() ?? new Service { Status = "MISSING" });
        }, cancellationToken);
        if (snapshot.Service.Status != "ACTIVE")
        {
            throw Deleted(context, snapshot.Service.Status ?? "MISSING");
        }

        return snapshot;
    }

    private EcsDriftException Deleted(EcsServiceContext context, string status) => new(
        $"ECS service '{context.ServiceName}' in cluster '{context.Cluster}' is {status}: it was deleted or changed outside Backstay. " +
        $"Backstay does not re-create it on its own; run `backstay reset {context.Spec.Service} --recreate` to re-create it from the last good revision.");

    private EcsServiceContext Register(ServiceSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var ecs = spec.Platform.Ecs
            ?? throw new PlatformException($"Service '{spec.Service}' is not an ECS service (platform: {spec.Platform.Kind}); the ECS platform cannot run it.");
        if (ecs.LoadBalancer is not { } lb)
        {
            throw new PlatformException(
                $"Service '{spec.Service}' has no platform.ecs.loadBalancer: Backstay moves traffic through an ALB listener with two target groups; add `loadBalancer: {{ productionListener: arn:..., targetGroups: [arn:...blue, arn:...green] }}`.");
        }

        if (ecs.NativeRolling && lb.TargetGroups.Count == 0)
        {
            throw new PlatformException(
                $"Service '{spec.Service}' names no target group under platform.ecs.loadBalancer.targetGroups; a service on the ECS deployment controller needs the one its production listener forwards to.");
        }

        if (!ecs.NativeRolling && (lb.TargetGroups.Count != 2 || lb.TargetGroups[0] == lb.TargetGroups[1]))
        {
            throw new PlatformException(
                $"Service '{spec.Service}' names {lb.TargetGroups.Count} target group(s) under platform.ecs.loadBalancer.targetGroups; give exactly two different ones, which Backstay alternates between deployments.");
        }

        var region = _factory.Environment.ResolveRegion(ecs.Region, _options.Region);
        return _services.AddOrUpdate(spec.Service,
            _ => NewContext(spec, region),
            (_, existing) =>
            {
                if (existing.Aws.Region != region)
                {
                    return NewContext(spec, region);
                }

                existing.Spec = spec;
                return existing;
            });
    }

    private EcsServiceContext NewContext(ServiceSpec spec, string region) =>
        new(spec, ClientsFor(region), new ReadPacing(_options.SnapshotTtl, Max(_options.SnapshotTtl, _options.QuietReadInterval)), _options.AlarmsTtl);

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private EcsServiceContext Context(string service) =>
        _services.TryGetValue(service, out var context)
            ? context
            : throw new PlatformException(
                $"The ECS platform has not been told about service '{service}' in this process; it learns a service's cluster, listeners and target groups from its spec when a deployment (or `backstay reset`) starts.");

    /// <summary>Runs an AWS call and puts the cluster and service into the messages of the errors that name them.</summary>
    private static async Task<T> CallAsync<T>(EcsServiceContext context, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (AwsServiceException ex) when (ex.Code == "ClusterNotFoundException")
        {
            throw new PlatformException(
                $"ECS cluster '{context.Cluster}' was not found in {context.Aws.Region} ({ex.Operation}). Check platform.ecs.cluster and the region (platform.ecs.region, --region or AWS_REGION).", ex);
        }
        catch (AwsServiceException ex) when (ex.Code is "ServiceNotFoundException" or "ServiceNotActiveException")
        {
            throw new EcsDriftException(
                $"ECS service '{context.ServiceName}' in cluster '{context.Cluster}' {(ex.Code == "ServiceNotFoundException" ? "does not exist" : "is not active")} ({ex.Operation}); it was deleted or changed outside Backstay. " +
                $"Run `backstay reset {context.Spec.Service} --recreate` to re-create it from the last good revision.", ex);
        }
        catch (AwsServiceException ex) when (ex.Code is "TargetGroupNotFound" or "ListenerNotFound" or "RuleNotFound" or "LoadBalancerNotFound")
        {
            throw new PlatformException(
                $"{ex.Message} Check platform.ecs.loadBalancer of '{context.Spec.Service}': the listener and target group ARNs must exist in {context.Aws.Region}.", ex);
        }
    }
}
