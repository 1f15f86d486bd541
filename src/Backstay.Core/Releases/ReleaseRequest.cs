using Backstay.Core.Model;
using Backstay.Core.Spec;

namespace Backstay.Core.Releases;

/// <summary>One service of a release request: its spec and the overrides `deploy` takes, and the services it waits for.</summary>
public sealed record ReleaseServiceRequest
{
    public required ServiceSpec Spec { get; init; }

    public string? Image { get; init; }

    public IReadOnlyDictionary<string, string> Env { get; set; } = new Dictionary<string, string>();

    /// <summary>Names of services of the same release that must pass (their deployment succeeds) before this one starts.</summary>
    public IReadOnlyList<string> DependsOn { get; set; } = [];

    public Provenance Provenance { get; set; } = new();
}

/// <summary>A request to release several services together (the release file, or the API's body).</summary>
public sealed record ReleaseRequest
{
    public required string Release { get; init; }

    public ReleaseOnFailure OnFailure { get; set; } = ReleaseOnFailure.RollbackAll;

    public required IReadOnlyList<ReleaseServiceRequest> Services { get; init; }

    public Trigger Trigger { get; set; } = Trigger.User;
}

/// <summary>The order of a release's services and the rules of its dependency graph, shared by the file's reader and the API.</summary>
public static class ReleaseGraph
{
    /// <summary>A problem of the graph: the index of the service it is about (-1 for the release), the key and what is wrong.</summary>
    public sealed record Problem(int Index, string Key, string Message);

    /// <summary>Every problem with the services and their dependencies: duplicates, unknown names, a service depending on itself, cycles, mixed platforms.</summary>
    public static IReadOnlyList<Problem> Check(IReadOnlyList<(string Service, string Platform, IReadOnlyList<string> DependsOn)> services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var problems = new List<Problem>();
        var first = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < services.Count; i++)
        {
            if (!first.TryAdd(services[i].Service, i))
            {
                problems.Add(new Problem(i, $"services[{i}].spec",
                    $"service '{services[i].Service}' is already services[{first[services[i].Service]}]; a release deploys each service once"));
            }
        }

        for (var i = 0; i < services.Count; i++)
        {
            for (var j = 0; j < services[i].DependsOn.Count; j++)
            {
                var name = services[i].DependsOn[j];
                if (name == services[i].Service)
                {
                    problems.Add(new Problem(i, $"services[{i}].dependsOn[{j}]", $"'{name}' is this service itself; a service cannot wait for itself"));
                }
                else if (!first.ContainsKey(name))
                {
                    var suggestion = SpecValues.ClosestMatch(name, [.. first.Keys]);
                    problems.Add(new Problem(i, $"services[{i}].dependsOn[{j}]",
                        $"unknown service '{name}'; a service may depend on the services of this release: {string.Join(", ", first.Keys)}"
                        + (suggestion is null ? "" : $". Did you mean '{suggestion}'?")));
                }
            }
        }

        if (problems.Count == 0 && FindCycle(services) is { } cycle)
        {
            problems.Add(new Problem(first[cycle[0]], $"services[{first[cycle[0]]}].dependsOn",
                $"dependency cycle: {string.Join(" -> ", cycle)} -> {cycle[0]}; a release needs an order in which every service starts after those it depends on"));
        }

        var platforms = services.Select(s => s.Platform).Distinct(StringComparer.Ordinal).ToList();
        if (platforms.Count > 1)
        {
            problems.Add(new Problem(-1, "services",
                $"the services run on different platforms ({string.Join(", ", services.Select(s => $"{s.Service}: {s.Platform}"))}); a release deploys services of one platform"));
        }

        return problems;
    }

    /// <summary>The services in an order where each comes after those it depends on (ties in the order given).</summary>
    public static IReadOnlyList<string> Order(IReadOnlyList<ReleaseMember> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        var ordered = new List<string>();
        var left = members.ToList();
        while (left.Count > 0)
        {
            var next = left.FirstOrDefault(m => m.DependsOn.All(ordered.Contains)) ?? left[0];
            ordered.Add(next.Service);
            left.Remove(next);
        }

        return ordered;
    }

    /// <summary>The services that depend on <paramref name="service"/>, directly or through others.</summary>
    public static IReadOnlySet<string> Dependents(IReadOnlyList<ReleaseMember> members, string service)
    {
        ArgumentNullException.ThrowIfNull(members);
        var found = new HashSet<string>(StringComparer.Ordinal);
        var grew = true;
        while (grew)
        {
            grew = false;
            foreach (var member in members)
            {
                if (!found.Contains(member.Service) && member.DependsOn.Any(d => d == service || found.Contains(d)))
                {
                    grew |= found.Add(member.Service);
                }
            }
        }

        return found;
    }

    private static List<string>? FindCycle(IReadOnlyList<(string Service, string Platform, IReadOnlyList<string> DependsOn)> services)
    {
        var edges = services.ToDictionary(s => s.Service, s => s.DependsOn, StringComparer.Ordinal);
        var done = new HashSet<string>(StringComparer.Ordinal);
        foreach (var start in services.Select(s => s.Service))
        {
            var path = new List<string>();
            if (Visit(start, path) is { } cycle)
            {
                return cycle;
            }
        }

        return null;

        List<string>? Visit(string node, List<string> path)
        {
            if (path.IndexOf(node) is var at and >= 0)
            {
                return path[at..];
            }

            if (!done.Add(node))
            {
                return null;
            }

            path.Add(node);
            foreach (var next in edges.GetValueOrDefault(node) ?? [])
            {
                if (Visit(next, path) is { } cycle)
                {
                    return cycle;
                }
            }

            path.RemoveAt(path.Count - 1);
            return null;
        }
    }
}
