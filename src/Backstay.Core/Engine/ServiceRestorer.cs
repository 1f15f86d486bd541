using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Engine;

/// <summary>
/// When a controller starts, brings each service with no deployment in progress back to its record: the
/// stable revision at its count with all traffic, other revisions at 0. Deployments in progress are left to
/// the engine, which resumes them from the journal.
/// </summary>
public static class ServiceRestorer
{
    private static JsonSerializerOptions JsonOptions => BackstayJson.Options;

    public static async Task<IReadOnlyList<string>> RestoreAsync(IStateStore store, IPlatform platform, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(platform);
        var restored = new List<string>();
        var active = (await store.ListActiveDeploymentsAsync(cancellationToken)).Select(d => d.Service).ToHashSet(StringComparer.Ordinal);
        foreach (var service in await store.ListServicesAsync(cancellationToken))
        {
            if (service.Platform != platform.Name || active.Contains(service.Name))
            {
                continue;
            }

            var spec = BackstayJson.Deserialize<ServiceSpec>(service.SpecJson, JsonOptions);
            if (spec is null || service.StableRevision is not { } stable || await store.GetRevisionAsync(service.Name, stable, cancellationToken) is not { } revision)
            {
                continue;
            }

            await platform.EnsureServiceAsync(spec, cancellationToken);
            await platform.Compute.ScaleAsync(spec, revision, service.DesiredCount, cancellationToken);
            foreach (var set in await platform.Compute.ListAsync(service.Name, cancellationToken))
            {
                if (set.Revision != stable && await store.GetRevisionAsync(service.Name, set.Revision, cancellationToken) is { } other)
                {
                    await platform.Compute.ScaleAsync(spec, other, 0, cancellationToken);
                }
            }

            await platform.Traffic.SetWeightsAsync(service.Name, Listener.Production, new Dictionary<int, int> { [stable] = 100 }, cancellationToken);
            if (spec.Platform.HasTestListener)
            {
                await platform.Traffic.SetWeightsAsync(service.Name, Listener.Test, new Dictionary<int, int> { [stable] = 100 }, cancellationToken);
            }

            restored.Add(service.Name);
        }

        return restored;
    }
}
