using Backstay.Core.Model;
using Backstay.Core.Ports;

namespace Backstay.Core.Engine;

/// <summary>Reads what the platform shows for a service.</summary>
public static class Observations
{
    public static Task<Observation> ReadAsync(IPlatform platform, string service, TimeProvider time, CancellationToken cancellationToken) =>
        ReadAsync(platform, service, time, productionWeights: null, cancellationToken);

    /// <summary>Reads the service back; <paramref name="productionWeights"/> when the pass has read them already for every service at once.</summary>
    public static async Task<Observation> ReadAsync(IPlatform platform, string service, TimeProvider time, IReadOnlyDictionary<int, int>? productionWeights, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(time);
        var sets = await platform.Compute.ListAsync(service, cancellationToken);
        var weights = productionWeights ?? await platform.Traffic.GetWeightsAsync(service, Listener.Production, cancellationToken);
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
    public static IReadOnlyList<string> Compare(ServiceRecord record, Observation observed) => Compare(record, observed, warmRevision: null);

    /// <summary>
    /// The same, with a previous revision kept warm by the last blue/green deployment (<see cref="Deployment.WarmRevision"/>):
    /// its instances run on purpose, without production traffic, until the engine retires them.
    /// </summary>
    public static IReadOnlyList<string> Compare(ServiceRecord record, Observation observed, int? warmRevision)
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
        foreach (var other in observed.Sets.Where(s => s.Revision != stable && s.Revision != warmRevision && s.Desired > 0))
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

    /// <summary>The event type a deployment records when it meets drift; its data holds the differences (<c>{"differences": [...]}</c>).</summary>
    public const string EventType = "Drift";

    /// <summary>
    /// Compares a deployment that waits (paused) with what the platform shows: the production split it set, and that the
    /// revisions it runs still run (a revision scaled to 0 or deleted by hand). Counts other than 0 are left alone: a
    /// restarted instance or auto scaling changes them without anyone meaning to.
    /// </summary>
    public static IReadOnlyList<string> CompareDeployment(Deployment deployment, DeploymentPlan plan, Observation observed)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(observed);
        var differences = new List<string>();
        var stable = deployment.StableRevision is { } s && s != deployment.TargetRevision ? s : (int?)null;
        var expected = stable is { } st
            ? new Dictionary<int, int> { [deployment.TargetRevision] = deployment.TargetWeight, [st] = 100 - deployment.TargetWeight }
            : new Dictionary<int, int> { [deployment.TargetRevision] = deployment.TargetWeight };
        foreach (var (revision, weight) in expected.OrderBy(e => e.Key))
        {
            var live = observed.ProductionWeights.TryGetValue(revision, out var w) ? w : 0;
            if (Math.Abs(live - weight) > 2)
            {
                differences.Add($"revision {revision} has {live}% of production traffic, Backstay set {weight}% for deployment {deployment.Id}");
            }
        }

        foreach (var (revision, role, count) in ExpectedCounts(deployment, plan, stable))
        {
            var set = observed.Sets.FirstOrDefault(o => o.Revision == revision);
            if (count > 0 && (set is null || set.Running == 0 || set.Desired == 0))
            {
                differences.Add($"revision {revision} ({role}) {(set is { Desired: 0 } ? "is scaled to 0" : "has no running instance")}; deployment {deployment.Id} runs {count} (deleted or scaled to 0 by hand?)");
            }
        }

        foreach (var other in observed.Sets.Where(o => o.Revision != deployment.TargetRevision && o.Revision != stable && o.Desired > 0))
        {
            differences.Add($"revision {other.Revision} is set to run {other.Desired} instance(s) that deployment {deployment.Id} does not account for");
        }

        return differences;
    }

    /// <summary>How many instances the deployment's steps done so far left each of its revisions with (the stable one starts at its count before).</summary>
    private static IEnumerable<(int Revision, string Role, int Count)> ExpectedCounts(Deployment deployment, DeploymentPlan plan, int? stable)
    {
        var done = deployment.StepPhase == StepPhase.Completed ? deployment.CurrentStep : deployment.CurrentStep - 1;
        var doneActions = plan.Actions.Take(Math.Max(0, done + 1)).ToList();
        if (doneActions.Any(a => a is NativeRolloutAction))
        {
            // The platform's own rollout replaced the stable revision's instances with the target's: the stable set is
            // expected gone, and the target runs what the platform keeps it at (auto scaling may change the count).
            yield return (deployment.TargetRevision, "new", Math.Max(1, plan.DesiredCount));
            yield break;
        }

        var scales = doneActions.OfType<ScaleAction>().ToList();
        var target = scales.LastOrDefault(a => a.Role == Role.Target)?.Count ?? 0;
        yield return (deployment.TargetRevision, "new", target);
        if (stable is { } s)
        {
            yield return (s, "stable", scales.LastOrDefault(a => a.Role == Role.Stable)?.Count ?? deployment.StableCountBefore);
        }
    }

    /// <summary>The message for a service that drifted, pointing at reset.</summary>
    public static string Describe(string service, IReadOnlyList<string> differences) =>
        $"The platform differs from Backstay's record of '{service}': {string.Join("; ", differences)}. Backstay will not guess: run `backstay reset {service} --adopt` to take what runs as the new baseline, or `backstay reset {service} --recreate` to bring back the last good revision (or `backstay deploy --reset`).";
}
