using Backstay.Core.Ports;
using Backstay.Platform.Ecs;

namespace Backstay.Cli.Runtime;

/// <summary>Pins images the way the spec's platform can: files for the local runtime, ECR digests for ECS.</summary>
internal sealed class ImageResolvers(string? region, TimeProvider time) : IImageResolver, IAsyncDisposable
{
    private readonly LocalImageResolver _local = new(Builtins.Images);
    private EcsImageResolver? _ecs;

    public Task<ResolvedImage> ResolveAsync(ServiceSpec spec, string image, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Platform.Ecs is null)
        {
            return _local.ResolveAsync(spec, image, cancellationToken);
        }

        _ecs ??= new EcsImageResolver(new EcsPlatformOptions { Region = region }, time);
        return _ecs.ResolveAsync(spec, image, cancellationToken);
    }

    /// <summary>The AWS calls image resolution sent in this process (ECR), by "service:Operation".</summary>
    public IReadOnlyDictionary<string, int> ApiCalls => _ecs?.ApiCalls ?? new Dictionary<string, int>();

    public ValueTask DisposeAsync()
    {
        _ecs?.Dispose();
        return ValueTask.CompletedTask;
    }
}
