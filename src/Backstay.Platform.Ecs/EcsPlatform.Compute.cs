using Backstay.Core.Model;
using Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2;

namespace Backstay.Platform.Ecs;

public sealed partial class EcsPlatform
{
    /// <summary>How many task definitions of the family are looked at to find a revision's.</summary>
    private const int TaskDefinitionSearchLimit = 100;

    /// <summary>
    /// Runs count tasks of the revision: creates its task set (on the free target group, from its task definition,
    /// registered when missing) or changes its scale; 0 deletes the task set, handing PRIMARY to the other set first.
    /// </summary>
    public async Task ScaleAsync(ServiceSpec spec, Revision revision, int count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revision);
        var context = Register(spec);
        if (context.Ecs.NativeRolling)
        {
            await ScaleNativeAsync(context, revision, count, cancellationToken);
            return;
        }

        var snapshot = await ReadAsync(context, Freshness.Fresh, cancellationToken);
        var set = snapshot.SetOf(revision.Number);
        try
        {
            if (count <= 0)
            {
                if (set is not null)
                {
                    await DeleteTaskSetAsync(context, snapshot, set, revision.Number, cancellationToken);
                }

                return;
            }

            var desired = snapshot.DesiredCount;
            if (count > desired)
            {
                await RaiseDesiredCountAsync(context, snapshot, count, set, cancellationToken);
                desired = count;
            }

            var percent = TaskSetMath.Percent(count, desired);
            if (set is null)
            {
                await CreateTaskSetAsync(context, snapshot, revision, percent, cancellationToken);
            }
            else if (Math.Abs((set.Scale?.Value ?? -1) - percent) > 0.001)
            {
                await UpdateScaleAsync(context, set, percent, cancellationToken);
                EcsLog.TaskSetChanged(_logger, set.Id ?? "", revision.Number, context.ServiceName, $"scale {percent.ToString(CultureInfo.InvariantCulture)}% ({count} task(s))");
            }
        }
        finally
        {
            context.Invalidate();
        }
    }

    /// <summary>Backstay's task sets of the service with their instances: the targets registered in each set's target group and its recently stopped tasks.</summary>
    public async Task<IReadOnlyList<InstanceSet>> ListAsync(string service, CancellationToken cancellationToken)
    {
        var context = Context(service);
        if (context.Ecs.NativeRolling)
        {
            return await ListNativeAsync(context, service, cancellationToken);
        }

        var snapshot = await ReadAsync(context, Freshness.Watch, cancellationToken);
        var health = await TargetHealthAsync(context, snapshot, cancellationToken);
        var sets = new List<InstanceSet>();
        foreach (var (revision, set) in snapshot.Revisions)
        {
            var targetGroup = EcsSnapshot.TargetGroupOf(set);
            var instances = targetGroup is not null && health.TryGetValue(targetGroup, out var targets)
                ? targets.Select(t => InstanceHealthMapping.FromTarget(t, revision)).Where(i => i is not null).Select(i => i!).ToList()
                : [];
            sets.Add(new InstanceSet { Service = service, Revision = revision, DesiredCount = snapshot.CountOf(set), Instances = instances });
        }

        if (sets.Any(s => s.HealthyCount < s.DesiredCount))
        {
            var stopped = await StoppedTasksAsync(context, cancellationToken);
            for (var i = 0; i < sets.Count; i++)
            {
                var set = snapshot.SetOf(sets[i].Revision)!;
                var dead = InstanceHealthMapping.FromStoppedTasks(stopped, set, sets[i].Revision);
                if (dead.Count > 0)
                {
                    sets[i] = sets[i] with { Instances = [.. sets[i].Instances, .. dead] };
                }
            }
        }

        return sets.Where(s => s.DesiredCount > 0 || s.Instances.Count > 0).ToList();
    }

    private async Task CreateTaskSetAsync(EcsServiceContext context, EcsSnapshot snapshot, Revision revision, double percent, CancellationToken cancellationToken)
    {
        var definition = await TaskDefinitionAsync(context, snapshot, revision, cancellationToken);
        var targetGroup = FreeTargetGroup(context, snapshot, revision.Number);
        var template = snapshot.Primary ?? snapshot.Revisions.Select(r => r.Set).FirstOrDefault() ?? snapshot.TaskSets.FirstOrDefault();
        var container = TaskDefinitionBuilder.PickContainer(definition, context.Ecs.Container, context.Family);
        var network = template is null ? SpecNetwork(context.Ecs) : template.NetworkConfiguration;
        if (network is null && definition.NetworkMode == "awsvpc")
        {
            throw new PlatformException(
                $"Revision {revision.Number} of '{context.Spec.Service}' uses awsvpc networking, and service '{context.ServiceName}' has no task set to copy subnets and security groups from; " +
                "give them for new services (EcsPlatformOptions.Subnets and SecurityGroups), or create the first task set yourself.");
        }

        var created = await CallAsync(context, () => context.Aws.Ecs.CreateTaskSetAsync(new CreateTaskSetRequest
        {
            Cluster = context.Cluster,
            Service = context.ServiceName,
            ExternalId = Tags.ExternalId(revision.Number),
            TaskDefinition = definition.TaskDefinitionArn!,
            LoadBalancers = [new LoadBalancer { TargetGroupArn = targetGroup, ContainerName = container.Name, ContainerPort = revision.Port }],
            NetworkConfiguration = network,
            LaunchType = template is null ? Effective(context.Ecs).LaunchType.ToUpperInvariant() : template.CapacityProviderStrategy is { Count: > 0 } ? null : template.LaunchType,
            CapacityProviderStrategy = template?.CapacityProviderStrategy is { Count: > 0 } strategy ? strategy : null,
            PlatformVersion = template?.PlatformVersion is { } version && version != "LATEST" ? version : null,
            Scale = new Scale { Value = percent, Unit = "PERCENT" },
            ClientToken = Guid.NewGuid().ToString("N"),
            Tags = TaskDefinitionBuilder.TagsOf(context.Spec.Service, revision),
        }, cancellationToken));
        var taskSet = created.TaskSet!;
        EcsLog.TaskSetChanged(_logger, taskSet.Id ?? "", revision.Number, context.ServiceName,
            $"created on {TargetGroupName(targetGroup)} at {percent.ToString(CultureInfo.InvariantCulture)}%");
        if (snapshot.Primary is null)
        {
            await CallAsync(context, () => context.Aws.Ecs.UpdateServicePrimaryTaskSetAsync(new UpdateServicePrimaryTaskSetRequest
            {
                Cluster = context.Cluster,
                Service = context.ServiceName,
                PrimaryTaskSet = taskSet.TaskSetArn!,
            }, cancellationToken));
        }
    }

    private async Task DeleteTaskSetAsync(EcsServiceContext context, EcsSnapshot snapshot, TaskSet set, int revision, CancellationToken cancellationToken)
    {
        if (set.Status == "PRIMARY"
            && snapshot.TaskSets.Where(t => t.TaskSetArn != set.TaskSetArn && t.Status != "DRAINING").OrderByDescending(t => t.Scale?.Value ?? 0).FirstOrDefault() is { } next)
        {
            await CallAsync(context, () => context.Aws.Ecs.UpdateServicePrimaryTaskSetAsync(new UpdateServicePrimaryTaskSetRequest
            {
                Cluster = context.Cluster,
                Service = context.ServiceName,
                PrimaryTaskSet = next.TaskSetArn!,
            }, cancellationToken));
        }

        await CallAsync(context, () => context.Aws.Ecs.DeleteTaskSetAsync(new DeleteTaskSetRequest
        {
            Cluster = context.Cluster,
            Service = context.ServiceName,
            TaskSet = set.TaskSetArn!,
            Force = true,
        }, cancellationToken));
        EcsLog.TaskSetChanged(_logger, set.Id ?? "", revision, context.ServiceName, "deleted");
    }

    /// <summary>Raises the service's desired count; the scaled set (if it exists) is left to the caller, which sets its own scale next.</summary>
    private async Task RaiseDesiredCountAsync(EcsServiceContext context, EcsSnapshot snapshot, int count, TaskSet? scaled, CancellationToken cancellationToken)
    {
        await CallAsync(context, () => context.Aws.Ecs.UpdateServiceAsync(new UpdateServiceRequest
        {
            Cluster = context.Cluster,
            Service = context.ServiceName,
            DesiredCount = count,
        }, cancellationToken));

        // Other sets keep their number of tasks: their percentage of the larger desired count shrinks to match.
        // The scaled set is compared with its scale as read: changing it here too would leave the caller's comparison stale
        // (a set brought back from 0 by hand would stay at 0%).
        foreach (var other in snapshot.TaskSets.Where(t => t.Status != "DRAINING" && t.TaskSetArn != scaled?.TaskSetArn))
        {
            var percent = TaskSetMath.Percent(snapshot.CountOf(other), count);
            if (Math.Abs((other.Scale?.Value ?? 0) - percent) > 0.001)
            {
                await UpdateScaleAsync(context, other, percent, cancellationToken);
            }
        }
    }

    private Task<TaskSetResponse> UpdateScaleAsync(EcsServiceContext context, TaskSet set, double percent, CancellationToken cancellationToken) =>
        CallAsync(context, () => context.Aws.Ecs.UpdateTaskSetAsync(new UpdateTaskSetRequest
        {
            Cluster = context.Cluster,
            Service = context.ServiceName,
            TaskSet = set.TaskSetArn!,
            Scale = new Scale { Value = percent, Unit = "PERCENT" },
        }, cancellationToken));

    /// <summary>The target group no other task set holds; two alternate, so a third revision has to wait for one to be removed.</summary>
    private static string FreeTargetGroup(EcsServiceContext context, EcsSnapshot snapshot, int revision)
    {
        var owners = snapshot.TargetGroupOwners();
        var free = context.LoadBalancer.TargetGroups.FirstOrDefault(tg => !owners.ContainsKey(tg));
        if (free is not null)
        {
            return free;
        }

        var held = string.Join(" and ", context.LoadBalancer.TargetGroups.Select(tg =>
            $"{TargetGroupName(tg)} by {(owners[tg] is { } r ? $"revision {r.ToString(CultureInfo.InvariantCulture)}" : "a task set Backstay did not create")}"));
        throw new EcsDriftException(
            $"Both target groups of '{context.Spec.Service}' are taken ({held}), so revision {revision} has none to start on. Finish or roll back the deployment in progress, " +
            $"or run `backstay reset {context.Spec.Service}`; delete task sets Backstay did not create by hand.");
    }

    /// <summary>Deregisters the revision's task definition once retention let it go (only Backstay's own, found by its tags).</summary>
    public async Task RemoveRevisionAsync(ServiceSpec spec, Revision revision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(revision);
        var context = Context(spec.Service);
        var (found, _) = await FindTaskDefinitionAsync(context, revision.Number, cancellationToken);
        if (found?.TaskDefinitionArn is not { } arn)
        {
            return;
        }

        await CallAsync(context, () => context.Aws.Ecs.DeregisterTaskDefinitionAsync(new DeregisterTaskDefinitionRequest { TaskDefinition = arn }, cancellationToken));
        context.TaskDefinitions.TryRemove(revision.Number, out _);
    }

    /// <summary>The revision's task definition: found by its tags, or registered from the service's current one (or the spec).</summary>
    private async Task<TaskDefinition> TaskDefinitionAsync(EcsServiceContext context, EcsSnapshot snapshot, Revision revision, CancellationToken cancellationToken)
    {
        if (context.TaskDefinitions.TryGetValue(revision.Number, out var known))
        {
            return known;
        }

        var (found, newest) = await FindTaskDefinitionAsync(context, revision.Number, cancellationToken);
        if (found is not null)
        {
            context.TaskDefinitions[revision.Number] = found;
            return found;
        }

        var baseArn = snapshot.Primary?.TaskDefinition ?? snapshot.Service.TaskDefinition ?? newest;
        var tags = TaskDefinitionBuilder.TagsOf(context.Spec.Service, revision);
        RegisterTaskDefinitionRequest request;
        if (baseArn is not null)
        {
            var existing = await CallAsync(context, () => context.Aws.Ecs.DescribeTaskDefinitionAsync(
                new DescribeTaskDefinitionRequest { TaskDefinition = baseArn }, cancellationToken));
            request = TaskDefinitionBuilder.FromExisting(existing.TaskDefinition!, context.Family, context.Ecs.Container, revision, tags);
        }
        else
        {
            request = TaskDefinitionBuilder.FromSpec(context.Family, context.Ecs.Container ?? context.Family, revision, Effective(context.Ecs), tags);
        }

        var registered = await CallAsync(context, () => context.Aws.Ecs.RegisterTaskDefinitionAsync(request, cancellationToken));
        var definition = registered.TaskDefinition!;
        EcsLog.TaskDefinitionRegistered(_logger, definition.TaskDefinitionArn ?? "", revision.Number, context.Spec.Service);
        context.TaskDefinitions[revision.Number] = definition;
        return definition;
    }

    /// <summary>
    /// Looks through the family newest first for the definition tagged with the revision. Backstay registers revisions in
    /// order, so meeting one of its own older revisions ends the search: the wanted one was never registered.
    /// </summary>
    private static async Task<(TaskDefinition? Found, string? Newest)> FindTaskDefinitionAsync(EcsServiceContext context, int revision, CancellationToken cancellationToken)
    {
        var ordered = await ListFamilyAsync(context, cancellationToken);
        foreach (var arn in ordered)
        {
            var described = await CallAsync(context, () => context.Aws.Ecs.DescribeTaskDefinitionAsync(
                new DescribeTaskDefinitionRequest { TaskDefinition = arn, Include = ["TAGS"] }, cancellationToken));
            if (Tags.Find(described.Tags, Tags.Service) != Tags.Clean(context.Spec.Service)
                || !int.TryParse(Tags.Find(described.Tags, Tags.Revision), NumberStyles.None, CultureInfo.InvariantCulture, out var tagged))
            {
                continue;
            }

            if (tagged == revision)
            {
                return (described.TaskDefinition, ordered[0]);
            }

            if (tagged < revision)
            {
                break;
            }
        }

        return (null, ordered.FirstOrDefault());
    }

    /// <summary>The targets of the target groups the service's task sets use, one DescribeTargetHealth per group, paced like the service read.</summary>
    private async Task<IReadOnlyDictionary<string, IReadOnlyList<TargetHealthDescription>>> TargetHealthAsync(EcsServiceContext context, EcsSnapshot snapshot,
        CancellationToken cancellationToken)
    {
        var groups = snapshot.Revisions.Select(r => EcsSnapshot.TargetGroupOf(r.Set)).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        var key = TargetHealthRead.KeyOf(groups);
        var read = await context.Health.GetAsync(Freshness.Watch, _time, async ct =>
        {
            var health = new Dictionary<string, IReadOnlyList<TargetHealthDescription>>(StringComparer.Ordinal);
            foreach (var targetGroup in groups)
            {
                health[targetGroup] = await CallAsync(context, () => context.Aws.Elb.DescribeTargetHealthAsync(targetGroup, ct));
            }

            return new TargetHealthRead(key, health);
        }, cancellationToken, usable: h => h.Key == key);
        return read.ByTargetGroup;
    }

    /// <summary>Recently stopped tasks of the service, read at most once per interval: they say why a revision does not become healthy.</summary>
    private async Task<IReadOnlyList<EcsTask>> StoppedTasksAsync(EcsServiceContext context, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (now - context.StoppedTasksAt < _options.StoppedTaskCheckInterval)
        {
            return context.StoppedTasks;
        }

        context.StoppedTasksAt = now;
        var listed = await CallAsync(context, () => context.Aws.Ecs.ListTasksAsync(new ListTasksRequest
        {
            Cluster = context.Cluster,
            ServiceName = context.ServiceName,
            DesiredStatus = "STOPPED",
            MaxResults = 100,
        }, cancellationToken));
        if (listed.TaskArns.Count == 0)
        {
            context.StoppedTasks = [];
            return [];
        }

        var described = await CallAsync(context, () => context.Aws.Ecs.DescribeTasksAsync(new DescribeTasksRequest
        {
            Cluster = context.Cluster,
            Tasks = listed.TaskArns,
        }, cancellationToken));
        context.StoppedTasks = described.Tasks;
        return described.Tasks;
    }

    private static string FamilyOf(string arn)
    {
        var name = arn[(arn.LastIndexOf('/') + 1)..];
        var colon = name.LastIndexOf(':');
        return colon < 0 ? name : name[..colon];
    }

    private static int RevisionOf(string arn) =>
        int.TryParse(arn.AsSpan(arn.LastIndexOf(':') + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var r) ? r : 0;

    private static string TargetGroupName(string arn)
    {
        var i = arn.IndexOf(":targetgroup/", StringComparison.Ordinal);
        return i < 0 ? arn : arn[(i + ":targetgroup/".Length)..].Split('/')[0];
    }

    /// <summary>The platform's options with what the spec says about a service Backstay creates taking precedence.</summary>
    /// <summary>The awsvpc network the spec (or the platform's options) gives, or null when it gives no subnets.</summary>
    private NetworkConfiguration? SpecNetwork(Core.Spec.EcsPlatformSpec ecs)
    {
        var options = Effective(ecs);
        return options.Subnets.Count == 0 ? null : new NetworkConfiguration
        {
            AwsvpcConfiguration = new AwsVpcConfiguration
            {
                Subnets = options.Subnets,
                SecurityGroups = options.SecurityGroups.Count > 0 ? options.SecurityGroups : null,
                AssignPublicIp = options.AssignPublicIp ? "ENABLED" : "DISABLED",
            },
        };
    }

    private EcsPlatformOptions Effective(Core.Spec.EcsPlatformSpec ecs) => _options with
    {
        LaunchType = ecs.LaunchType ?? _options.LaunchType,
        Subnets = ecs.Subnets.Count > 0 ? ecs.Subnets : _options.Subnets,
        SecurityGroups = ecs.SecurityGroups.Count > 0 ? ecs.SecurityGroups : _options.SecurityGroups,
        AssignPublicIp = ecs.AssignPublicIp || _options.AssignPublicIp,
        Cpu = ecs.Cpu ?? _options.Cpu,
        Memory = ecs.Memory ?? _options.Memory,
        ExecutionRoleArn = ecs.ExecutionRoleArn ?? _options.ExecutionRoleArn,
        TaskRoleArn = ecs.TaskRoleArn ?? _options.TaskRoleArn,
    };
}
