using System.Text.Json;
using Backstay.Core.Model;

namespace Backstay.Platform.Ecs;

/// <summary>
/// Builds the task definition of a revision: a copy of the service's current one (every member kept) with the
/// container's image, environment and port replaced, or one made from the spec when there is nothing to copy.
/// </summary>
internal static class TaskDefinitionBuilder
{
    /// <summary>The image a task definition should name: pinned to the revision's digest when it has one.</summary>
    public static string ImageOf(Revision revision)
    {
        ArgumentNullException.ThrowIfNull(revision);
        var reference = ImageReference.Parse(revision.Image);
        if (reference.Digest is not null || revision.Digest is null)
        {
            return revision.Image;
        }

        return reference.Pinned(revision.Digest);
    }

    public static List<Tag> TagsOf(string service, Revision revision)
    {
        ArgumentNullException.ThrowIfNull(revision);
        var tags = new List<Tag>
        {
            new(Tags.Service, Tags.Clean(service)),
            new(Tags.Revision, revision.Number.ToString(CultureInfo.InvariantCulture)),
            new(Tags.ManagedBy, "backstay"),
        };
        if (revision.Provenance.Commit is { Length: > 0 } commit)
        {
            tags.Add(new(Tags.Commit, Tags.Clean(commit)));
        }

        if (revision.Provenance.Branch is { Length: > 0 } branch)
        {
            tags.Add(new(Tags.Branch, Tags.Clean(branch)));
        }

        return tags;
    }

    /// <summary>A copy of an existing definition for the revision.</summary>
    public static RegisterTaskDefinitionRequest FromExisting(TaskDefinition existing, string family, string? containerName, Revision revision, IReadOnlyList<Tag> tags)
    {
        ArgumentNullException.ThrowIfNull(existing);
        ArgumentNullException.ThrowIfNull(revision);
        var target = PickContainer(existing, containerName, family);
        var awsvpc = existing.NetworkMode == "awsvpc";
        var containers = existing.ContainerDefinitions
            .Select(c => c.Name == target.Name ? Apply(c, revision, awsvpc) : c)
            .ToList();
        Dictionary<string, JsonElement>? extension = null;
        if (existing.ExtensionData is { } data)
        {
            extension = data.Where(kv => !TaskDefinition.ReadOnlyMembers.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        }

        return new RegisterTaskDefinitionRequest
        {
            Family = family,
            NetworkMode = existing.NetworkMode,
            RequiresCompatibilities = existing.RequiresCompatibilities,
            Cpu = existing.Cpu,
            Memory = existing.Memory,
            ExecutionRoleArn = existing.ExecutionRoleArn,
            TaskRoleArn = existing.TaskRoleArn,
            ContainerDefinitions = containers,
            Tags = tags,
            ExtensionData = extension,
        };
    }

    /// <summary>A definition made from the spec and the platform options, for a service that has none yet.</summary>
    public static RegisterTaskDefinitionRequest FromSpec(string family, string containerName, Revision revision, EcsPlatformOptions options, IReadOnlyList<Tag> tags)
    {
        ArgumentNullException.ThrowIfNull(revision);
        ArgumentNullException.ThrowIfNull(options);
        var fargate = string.Equals(options.LaunchType, "FARGATE", StringComparison.OrdinalIgnoreCase);
        var networkMode = options.NetworkMode ?? (fargate ? "awsvpc" : "bridge");
        var container = Apply(new ContainerDefinition
        {
            Name = containerName,
            Essential = true,
            Memory = fargate ? null : int.Parse(options.Memory, CultureInfo.InvariantCulture),
        }, revision, networkMode == "awsvpc");
        return new RegisterTaskDefinitionRequest
        {
            Family = family,
            NetworkMode = networkMode,
            RequiresCompatibilities = [options.LaunchType.ToUpperInvariant()],
            Cpu = options.Cpu,
            Memory = options.Memory,
            ExecutionRoleArn = options.ExecutionRoleArn,
            TaskRoleArn = options.TaskRoleArn,
            ContainerDefinitions = [container],
            Tags = tags,
        };
    }

    /// <summary>The container Backstay deploys: the one the spec names, the only one, or the one named like the service.</summary>
    public static ContainerDefinition PickContainer(TaskDefinition definition, string? containerName, string family)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var containers = definition.ContainerDefinitions;
        if (containerName is not null)
        {
            return containers.FirstOrDefault(c => c.Name == containerName)
                ?? throw new PlatformException(
                    $"Task definition {definition.TaskDefinitionArn ?? definition.Family} has no container named '{containerName}' (it has {Names(containers)}); fix platform.ecs.container.");
        }

        if (containers.Count == 1)
        {
            return containers[0];
        }

        return containers.FirstOrDefault(c => c.Name == family)
            ?? throw new PlatformException(
                $"Task definition {definition.TaskDefinitionArn ?? definition.Family} has {containers.Count} containers ({Names(containers)}); name the one Backstay deploys with platform.ecs.container.");
    }

    private static ContainerDefinition Apply(ContainerDefinition container, Revision revision, bool awsvpc)
    {
        var mappings = (container.PortMappings ?? []).ToList();
        if (mappings.Count == 0)
        {
            mappings.Add(new PortMapping { ContainerPort = revision.Port, HostPort = awsvpc ? revision.Port : 0, Protocol = "tcp" });
        }
        else
        {
            var first = mappings[0];
            var hostFollows = awsvpc || first.HostPort == first.ContainerPort;
            mappings[0] = first with { ContainerPort = revision.Port, HostPort = hostFollows ? revision.Port : first.HostPort };
        }

        return container with
        {
            Image = ImageOf(revision),
            PortMappings = mappings,
            Environment = revision.Env.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => new EcsKeyValuePair(e.Key, e.Value)).ToList(),
        };
    }

    private static string Names(IReadOnlyList<ContainerDefinition> containers) =>
        containers.Count == 0 ? "none" : string.Join(", ", containers.Select(c => c.Name));
}
