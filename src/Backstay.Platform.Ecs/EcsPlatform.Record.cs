using System.Collections.Concurrent;
using System.Globalization;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs.Aws.Ecs;

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
        var snapshot = await ReadAsync(context, fresh: false, cancellationToken);
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
    /// Reads back what Backstay left on AWS about the spec's service: the revisions registered as task definitions (tagged
    /// with the service and revision number; the ACTIVE ones of the family, newest 100), the latest deployment's mark on the
    /// service, and the revision the service serves. Throws when the service does not exist.
    /// </summary>
    public async Task<EcsRecord> ReadRecordAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        var context = Register(spec);
        var snapshot = await ReadAsync(context, fresh: true, cancellationToken);
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
            TaskJson = System.Text.Json.JsonSerializer.Serialize(spec.Task with { Image = image, Env = env }, BackstayJson.Options),
            Provenance = new Provenance { Commit = Tags.Find(tags, Tags.Commit), Branch = Tags.Find(tags, Tags.Branch) },
        };
    }
}
