using Backstay.Core.Ports;

namespace Backstay.Core.Engine;

/// <summary>
/// Keeps the last N previous revisions of a service. A revision that is stable, running, the target of a
/// deployment in progress, or among the last N before the stable one is never removed.
/// </summary>
public static class Retention
{
    public static async Task<IReadOnlyList<int>> ApplyAsync(IStateStore store, string service, int keepPrevious, int stable,
        IReadOnlySet<int> running, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(running);
        var revisions = await store.ListRevisionsAsync(service, cancellationToken);
        var active = await store.ListActiveDeploymentsAsync(cancellationToken);
        var protectedNumbers = new HashSet<int>(running) { stable };
        foreach (var d in active.Where(d => d.Service == service))
        {
            protectedNumbers.Add(d.TargetRevision);
            if (d.StableRevision is { } s)
            {
                protectedNumbers.Add(s);
            }
        }

        foreach (var previous in revisions.Where(r => r.Number < stable).OrderByDescending(r => r.Number).Take(keepPrevious))
        {
            protectedNumbers.Add(previous.Number);
        }

        var removed = new List<int>();
        foreach (var revision in revisions.Where(r => !r.Removed && r.Number < stable && !protectedNumbers.Contains(r.Number)))
        {
            await store.MarkRevisionRemovedAsync(service, revision.Number, cancellationToken);
            removed.Add(revision.Number);
        }

        return removed;
    }
}
