using System.Text.RegularExpressions;

namespace Backstay.Platform.Ecs;

/// <summary>A container image reference split into repository, tag and digest; tells a private ECR image apart.</summary>
internal sealed partial record ImageReference(string Repository, string? Tag, string? Digest)
{
    public static ImageReference Parse(string image)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(image);
        string? digest = null;
        var at = image.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            digest = image[(at + 1)..];
            image = image[..at];
        }

        // A colon after the last slash is a tag; one before it belongs to a registry host:port.
        var slash = image.LastIndexOf('/');
        var colon = image.LastIndexOf(':');
        return colon > slash
            ? new ImageReference(image[..colon], image[(colon + 1)..], digest)
            : new ImageReference(image, null, digest);
    }

    /// <summary>The same image by digest ("repo@sha256:..."), which a later tag move cannot change.</summary>
    public string Pinned(string digest) => $"{Repository}@{digest}";

    /// <summary>Registry id (account), region and repository name of a private ECR image; null for any other registry.</summary>
    public (string RegistryId, string Region, string RepositoryName)? Ecr =>
        EcrHost().Match(Repository) is { Success: true } m ? (m.Groups["account"].Value, m.Groups["region"].Value, m.Groups["repo"].Value) : null;

    [GeneratedRegex(@"^(?<account>\d{12})\.dkr\.ecr(-fips)?\.(?<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/(?<repo>.+)$", RegexOptions.CultureInvariant)]
    private static partial Regex EcrHost();
}
