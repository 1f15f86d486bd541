using System.Collections.Concurrent;
using Backstay.Core.Model;

namespace Backstay.Platform.Ecs;

/// <summary>What Backstay left on AWS about a service: its revisions (task definitions) and where its latest deployment stands.</summary>
public sealed record EcsRecord(IReadOnlyList<Revision> Revisions, DeploymentMark? Latest, int? ServingRevision);

/// <summary>The deployment record kept on AWS (tags), for a process with an empty store.</summary>
public sealed partial class EcsPlatform
{
    private readonly ConcurrentDictionary<string, bool> _markedSets = new(StringComparer.Ordinal);

    /// <summary>Tags the service with where its latest deployment stands, and the target's task set with the deployment id.</summary>
    public async Task MarkDeploymentAsync(ServiceSpec spec, DeploymentMark mark, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(mark);
        var context = Register(spec);

        // The tag names registered task definitions only: a deployment that ended before its target's was registered (stopped
        // for drift, an alarm already firing) changed nothing on AWS, so the tag stays on the last deployment that did, and
        // `import` never meets a revision it cannot find.
        foreach (var named in new[] { mark.TargetRevision, mark.StableRevision }.OfType<int>())
        {
            if (!await IsRegisteredAsync(context, named, cancellationToken))
            {
                EcsLog.MarkLeftAsItWas(_logger, mark.Id, context.ServiceName, named);
                return;
            }
        }

        var snapshot = await ReadAsync(context, Freshness.Watch, cancellationToken);
        await CallAsync(context, () => context.Aws.Ecs.TagResourceAsync(new TagResourceRequest
        {
            ResourceArn = snapshot.Service.ServiceArn!,
            Tags = [new Tag(Tags.Deployment, mark.Encode())],
        }, cancellationToken));
        if (snapshot.SetOf(mark.TargetRevision)?.TaskSetArn is { } setArn && _markedSets.TryAdd($"{mark.Id} {setArn}", true))
        {
            await CallAsync(context, () => context.Aws.Ecs.TagResourceAsync(new TagResourceRequest
            {
                ResourceArn = setArn,
                Tags = [new Tag(Tags.DeploymentId, mark.Id)],
            }, cancellationToken));
        }
    }

    /// <summary>
    /// Where the service's latest deployment stands as its tag says, read fresh; null when it has no tag or one that cannot
    /// be read. Throws <see cref="PlatformDriftException"/> when the service does not exist.
    /// </summary>
    public async Task<DeploymentMark?> ReadMarkAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        var context = Register(spec);
        var snapshot = await ReadAsync(context, Freshness.Fresh, cancellationToken);
        if (Tags.Find(snapshot.Service.Tags, Tags.Deployment) is not { } tag)
        {
            return null;
        }

        try
        {
            return DeploymentMark.Decode(tag);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static async Task<bool> IsRegisteredAsync(EcsServiceContext context, int revision, CancellationToken cancellationToken)
    {
        if (context.TaskDefinitions.ContainsKey(revision))
        {
            return true;
        }

        var (found, _) = await FindTaskDefinitionAsync(context, revision, cancellationToken);
        if (found is null)
        {
            return false;
        }

        context.TaskDefinitions[revision] = found;
        return true;
    }

    /// <summary>
    /// Reads back what Backstay left on AWS about the spec's service: the revisions registered as task definitions (tagged
    /// with the service and revision number; the ACTIVE ones of the family, newest 100), the latest deployment's mark on the
    /// service, and the revision the service serves. Throws when the service does not exist.
    /// </summary>
    public async Task<EcsRecord> ReadRecordAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        var context = Register(spec);
        var snapshot = await ReadAsync(context, Freshness.Fresh, cancellationToken);
        DeploymentMark? latest = null;
        if (Tags.Find(snapshot.Service.Tags, Tags.Deployment) is { } tag)
        {
            try
            {
                latest = DeploymentMark.Decode(tag);
            }
            catch (FormatException ex)
            {
                throw new PlatformException(
                    $"The tag {Tags.Deployment} on ECS service '{context.ServiceName}' cannot be read ({ex.Message}): \"{tag}\". Remove the tag (aws ecs untag-resource) to import the service without its deployment.", ex);
            }
        }

        var revisions = new List<Revision>();
        var byArn = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var arn in await ListFamilyAsync(context, cancellationToken))
        {
            var described = await CallAsync(context, () => context.Aws.Ecs.DescribeTaskDefinitionAsync(
                new DescribeTaskDefinitionRequest { TaskDefinition = arn, Include = ["TAGS"] }, cancellationToken));
            if (described.TaskDefinition is not { } definition || Tags.Find(described.Tags, Tags.Service) != Tags.Clean(spec.Service)
                || !int.TryParse(Tags.Find(described.Tags, Tags.Revision), NumberStyles.None, CultureInfo.InvariantCulture, out var number)
                || revisions.Any(r => r.Number == number))
            {
                continue;
            }

            byArn[arn] = number;
            revisions.Add(RevisionOf(spec, context, definition, number, described.Tags));
        }

        var serving = snapshot.Primary is { } primary ? Tags.RevisionOf(primary)
            : snapshot.Service.TaskDefinition is { } current && byArn.TryGetValue(current, out var native) ? native : null;
        return new EcsRecord([.. revisions.OrderBy(r => r.Number)], latest, serving);
    }

    /// <summary>
    /// Makes what a service ran before Backstay's first deployment of it revision 1, before anything changes: the task
    /// definition its PRIMARY deployment runs (ECS deployment controller), or its primary task set's (EXTERNAL), is tagged
    /// as revision 1 of the spec's service (the task set too), so a rollback has that revision to go back to and another
    /// process imports it. The revision keeps the image as the task definition names it, with the digest its running tasks
    /// pulled. Returns null when the service runs nothing Backstay could adopt (no task definition, or a controller the spec
    /// does not use, which the deployment then refuses).
    /// </summary>
    public async Task<EcsRecord?> AdoptAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        var context = Register(spec);
        var snapshot = await ReadAsync(context, Freshness.Fresh, cancellationToken);
        var controller = snapshot.Service.DeploymentController?.Type ?? "ECS";
        TaskSet? set = null;
        string? arn;
        if (context.Ecs.NativeRolling)
        {
            arn = controller == "ECS" ? snapshot.Service.TaskDefinition : null;
        }
        else
        {
            set = controller == "EXTERNAL" && snapshot.Primary is { } primary && Tags.RevisionOf(primary) is null ? primary : null;
            arn = set?.TaskDefinition;
        }

        if (arn is null)
        {
            return null;
        }

        var described = await CallAsync(context, () => context.Aws.Ecs.DescribeTaskDefinitionAsync(
            new DescribeTaskDefinitionRequest { TaskDefinition = arn, Include = ["TAGS"] }, cancellationToken));
        var definition = described.TaskDefinition ?? throw new PlatformException($"ECS described no task definition {arn}, which service '{context.ServiceName}' runs.");
        var revision = RevisionOf(spec, context, definition, 1, described.Tags);
        if (revision.Digest is null)
        {
            var container = TaskDefinitionBuilder.PickContainer(definition, context.Ecs.Container, context.Family);
            revision = revision with { Digest = RunningDigest(await RunningTasksAsync(context, cancellationToken), definition.TaskDefinitionArn ?? arn, container.Name) };
        }

        var tags = TaskDefinitionBuilder.TagsOf(spec.Service, revision);
        await CallAsync(context, () => context.Aws.Ecs.TagResourceAsync(new TagResourceRequest { ResourceArn = definition.TaskDefinitionArn ?? arn, Tags = tags }, cancellationToken));
        if (set?.TaskSetArn is { } setArn)
        {
            await CallAsync(context, () => context.Aws.Ecs.TagResourceAsync(new TagResourceRequest { ResourceArn = setArn, Tags = tags }, cancellationToken));
        }

        _revisionOfTaskDefinition[definition.TaskDefinitionArn ?? arn] = revision.Number;
        context.TaskDefinitions[revision.Number] = definition;
        context.Invalidate();
        EcsLog.Adopted(_logger, context.ServiceName, definition.TaskDefinitionArn ?? arn);
        return new EcsRecord([revision], null, revision.Number);
    }

    /// <summary>The digest running tasks of the task definition pulled for the container; null when none says.</summary>
    internal static string? RunningDigest(IReadOnlyList<EcsTask> tasks, string taskDefinitionArn, string? container) =>
        tasks.Where(t => t.TaskDefinitionArn == taskDefinitionArn && t.LastStatus == "RUNNING")
            .SelectMany(t => t.Containers ?? [])
            .Where(c => container is null || c.Name == container)
            .Select(c => c.ImageDigest)
            .FirstOrDefault(d => !string.IsNullOrWhiteSpace(d));

    private static async Task<IReadOnlyList<EcsTask>> RunningTasksAsync(EcsServiceContext context, CancellationToken cancellationToken)
    {
        var listed = await CallAsync(context, () => context.Aws.Ecs.ListTasksAsync(new ListTasksRequest
        {
            Cluster = context.Cluster,
            ServiceName = context.ServiceName,
            DesiredStatus = "RUNNING",
            MaxResults = 100,
        }, cancellationToken));
        if (listed.TaskArns.Count == 0)
        {
            return [];
        }

        var described = await CallAsync(context, () => context.Aws.Ecs.DescribeTasksAsync(new DescribeTasksRequest { Cluster = context.Cluster, Tasks = listed.TaskArns }, cancellationToken));
        return described.Tasks;
    }

    private static async Task<List<string>> ListFamilyAsync(EcsServiceContext context, CancellationToken cancellationToken)
    {
        var arns = new List<string>();
        string? next = null;
        do
        {
            var page = await CallAsync(context, () => context.Aws.Ecs.ListTaskDefinitionsAsync(new ListTaskDefinitionsRequest
            {
                FamilyPrefix = context.Family,
                Status = "ACTIVE",
                Sort = "DESC",
                NextToken = next,
            }, cancellationToken));
            arns.AddRange(page.TaskDefinitionArns);
            next = page.NextToken;
        }
        while (next is not null && arns.Count < TaskDefinitionSearchLimit);

        return [.. arns.Where(a => FamilyOf(a) == context.Family).OrderByDescending(RevisionOf).Take(TaskDefinitionSearchLimit)];
    }

    private static Revision RevisionOf(ServiceSpec spec, EcsServiceContext context, TaskDefinition definition, int number, IReadOnlyList<Tag>? tags)
    {
        var container = TaskDefinitionBuilder.PickContainer(definition, context.Ecs.Container, context.Family);
        var image = container.Image ?? "";
        var env = (container.Environment ?? []).Where(e => e.Name is not null)
            .ToDictionary(e => e.Name!, e => e.Value ?? "", StringComparer.Ordinal);
        return new Revision
        {
            Service = spec.Service,
            Number = number,
            Image = image,
            Digest = string.IsNullOrWhiteSpace(image) ? null : ImageReference.Parse(image).Digest,
            Env = env,
            Port = container.PortMappings?.FirstOrDefault()?.ContainerPort ?? spec.Task.Port,
            TaskJson = BackstayJson.Serialize(spec.Task with { Image = image, Env = env }, BackstayJson.Options),
            Provenance = new Provenance { Commit = Tags.Find(tags, Tags.Commit), Branch = Tags.Find(tags, Tags.Branch) },
        };
    }
}
