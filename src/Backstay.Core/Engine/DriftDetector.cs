using Backstay.Core.Model;
using Backstay.Core.Ports;

namespace Backstay.Core.Engine;

/// <summary>Reads what the platform shows for a service.</summary>
public static class Observations
{
    public static async Task<Observation> ReadAsync(IPlatform platform, string service, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(time);
        var sets = await platform.Compute.ListAsync(service, cancellationToken);
        var weights = await platform.Traffic.GetWeightsAsync(service, Listener.Production, cancellationToken);
        return new Observation
        {
            Service = service,
            At = time.GetUtcNow(),
            Sets = sets.Select(s => new ObservedSet(s.Revision, s.DesiredCount, s.Instances.Count(i => i.Health != InstanceHealth.Dead), s.HealthyCount)).ToList(),
            ProductionWeights = weights,
            AutoScaled = await platform.IsAutoScaledAsync(service, cancellationToken),
        };
    }
}

/// <summary>
/// Compares a service's record (stable revision at its count with all production traffic, nothing else running)
/// with what the platform shows, and names every difference, so Backstay refuses to guess and points at reset.
/// </summary>
public static class DriftDetector
{
    public static IReadOnlyList<string> Compare(ServiceRecord record, Observation observed)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(observed);
        var differences = new List<string>();
        if (record.StableRevision is not { } stable)
        {
            return differences;
        }

        var stableSet = observed.Sets.FirstOrDefault(s => s.Revision == stable);
        var running = stableSet?.Running ?? 0;
        if (running == 0)
        {
            differences.Add($"revision {stable} (stable) has no running instance; the record says {record.DesiredCount} (deleted or scaled to 0 by hand?)");
        }
        else if (stableSet!.Desired != record.DesiredCount && !observed.AutoScaled)
        {
            differences.Add($"revision {stable} (stable) is set to {stableSet.Desired} instances; the record says {record.DesiredCount}");
        }

        // A set scaled to 0 may still be draining; only one someone asked to run counts.
        foreach (var other in observed.Sets.Where(s => s.Revision != stable && s.Desired > 0))
        {
            differences.Add($"revision {other.Revision} is set to run {other.Desired} instance(s) that no deployment in progress accounts for");
        }

        var stableWeight = observed.ProductionWeights.TryGetValue(stable, out var w) ? w : 0;
        if (Math.Abs(stableWeight - 100) > 2 && running > 0)
        {
            var split = observed.ProductionWeights.Count == 0 ? "nothing"
                : string.Join(", ", observed.ProductionWeights.OrderBy(p => p.Key).Select(p => $"revision {p.Key} {p.Value}%"));
            differences.Add($"production traffic goes to {split}; the record says revision {stable} 100%");
        }

        return differences;
    }

    /// <summary>The message for a service that drifted, pointing at reset.</summary>
    public static string Describe(string service, IReadOnlyList<string> differences) =>
        $"The platform differs from Backstay's record of '{service}': {string.Join("; ", differences)}. Backstay will not guess: run `backstay reset {service} --adopt` to take what runs as the new baseline, or `backstay reset {service} --recreate` to bring back the last good revision (or `backstay deploy --reset`).";
}
