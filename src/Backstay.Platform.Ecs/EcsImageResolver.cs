using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Aws.Ecr;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Backstay.Platform.Ecs;

/// <summary>
/// Pins private ECR images to the digest their tag points to now (DescribeImages), so a rollback brings back the same
/// bytes even after the tag moved. Images in other registries stay tags, with a warning.
/// </summary>
public sealed class EcsImageResolver : IImageResolver, IDisposable
{
    private readonly AwsClientFactory _factory;
    private readonly ILogger _logger;
    private readonly bool _ownsFactory;

    public EcsImageResolver(EcsPlatformOptions options, TimeProvider time, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _logger = logger ?? NullLogger.Instance;
        _factory = new AwsClientFactory(new AwsEnvironment(options.Environment), options.Credentials ?? new DefaultChainCredentialSource(),
            time, options.Aws, _logger);
        _ownsFactory = true;
    }

    /// <summary>Calls sent so far per "service:Operation" (ECR DescribeImages), counted as the platform counts its own.</summary>
    public IReadOnlyDictionary<string, int> ApiCalls => _factory.Http.Calls.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    internal EcsImageResolver(AwsClientFactory factory, ILogger? logger = null)
    {
        _factory = factory;
        _logger = logger ?? NullLogger.Instance;
    }

    public async Task<ResolvedImage> ResolveAsync(ServiceSpec spec, string image, CancellationToken cancellationToken)
    {
        var reference = ImageReference.Parse(image);
        if (reference.Digest is { } digest)
        {
            return new ResolvedImage(image, digest);
        }

        if (reference.Ecr is not { } ecr)
        {
            EcsLog.ImageNotPinned(_logger, image);
            return new ResolvedImage(image, null);
        }

        var tag = reference.Tag ?? "latest";
        var clients = _factory.ForRegion(ecr.Region);
        DescribeImagesResponse found;
        try
        {
            found = await clients.Ecr.DescribeImagesAsync(new DescribeImagesRequest
            {
                RegistryId = ecr.RegistryId,
                RepositoryName = ecr.RepositoryName,
                ImageIds = [new ImageIdentifier { ImageTag = tag }],
            }, cancellationToken);
        }
        catch (AwsServiceException ex) when (ex.Code is "ImageNotFoundException" or "RepositoryNotFoundException")
        {
            throw new PlatformException(ex.Code == "ImageNotFoundException"
                ? $"Image tag '{tag}' is not in ECR repository '{ecr.RepositoryName}' (account {ecr.RegistryId}, {ecr.Region}); push it first or fix the tag."
                : $"ECR repository '{ecr.RepositoryName}' does not exist in account {ecr.RegistryId} ({ecr.Region}); check the image name.", ex);
        }

        var pinned = found.ImageDetails.FirstOrDefault(d => d.ImageDigest is not null)?.ImageDigest
            ?? throw new PlatformException($"ECR gave no digest for {image}; push the image again or deploy it by digest (repo@sha256:...).");
        return new ResolvedImage(image, pinned);
    }

    public void Dispose()
    {
        if (_ownsFactory)
        {
            _factory.Dispose();
        }
    }
}
