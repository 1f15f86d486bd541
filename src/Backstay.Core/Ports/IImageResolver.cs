using Backstay.Core.Spec;

namespace Backstay.Core.Ports;

/// <summary>An image pinned to what it is now, so a rollback brings back the same bytes.</summary>
public sealed record ResolvedImage(string Image, string? Digest);

/// <summary>Pins an image reference to a digest where the registry (or file) can tell it.</summary>
public interface IImageResolver
{
    Task<ResolvedImage> ResolveAsync(ServiceSpec spec, string image, CancellationToken cancellationToken);
}
