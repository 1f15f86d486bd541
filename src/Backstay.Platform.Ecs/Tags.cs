using System.Text;

namespace Backstay.Platform.Ecs;

/// <summary>The tags Backstay puts on what it creates, so another process (or a person) can tell what is whose.</summary>
internal static class Tags
{
    public const string Service = "backstay:service";
    public const string Revision = "backstay:revision";
    public const string Commit = "backstay:commit";
    public const string Branch = "backstay:branch";
    public const string ManagedBy = "backstay:managed-by";

    /// <summary>On the ECS service: where its latest deployment stands (<see cref="Core.Ports.DeploymentMark"/>), for `backstay import`.</summary>
    public const string Deployment = "backstay:deployment";

    /// <summary>On a task set: the id of the deployment that created it.</summary>
    public const string DeploymentId = "backstay:deployment-id";

    /// <summary>On the ECS service while Backstay holds its auto scaling suspended; the value is the state to restore.</summary>
    public const string AutoScalingSuspended = "backstay:autoscaling-suspended";

    private const string ExternalIdPrefix = "backstay:revision:";

    public static string ExternalId(int revision) => ExternalIdPrefix + revision.ToString(CultureInfo.InvariantCulture);

    /// <summary>The Backstay revision a task set runs, from its external id or its tags; null for one Backstay did not create.</summary>
    public static int? RevisionOf(TaskSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        if (set.ExternalId is { } id && id.StartsWith(ExternalIdPrefix, StringComparison.Ordinal)
            && int.TryParse(id.AsSpan(ExternalIdPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var fromId))
        {
            return fromId;
        }

        return Find(set.Tags, Revision) is { } tag && int.TryParse(tag, NumberStyles.None, CultureInfo.InvariantCulture, out var fromTag) ? fromTag : null;
    }

    public static string? Find(IReadOnlyList<Tag>? tags, string key) => tags?.FirstOrDefault(t => t.Key == key)?.Value;

    /// <summary>Tag values allow letters, digits, spaces and _ . : / = + - @ only, up to 256 characters.</summary>
    public static string Clean(string value)
    {
        var sb = new StringBuilder(Math.Min(value.Length, 256));
        foreach (var c in value)
        {
            if (sb.Length == 256)
            {
                break;
            }

            sb.Append(char.IsLetterOrDigit(c) || c is ' ' or '_' or '.' or ':' or '/' or '=' or '+' or '-' or '@' ? c : '-');
        }

        return sb.ToString();
    }
}
