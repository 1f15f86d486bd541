namespace Backstay.Platform.Local;

/// <summary>Spreads each revision's share of a listener over its serving instances as HAProxy server weights (0..256).</summary>
internal static class WeightPlanner
{
    public const int MaxWeight = 256;

    /// <summary>
    /// Returns per-revision weights, one per serving instance (in the order given). The scale is the largest that keeps every server at or
    /// below 256, and each revision's weights add up to its exact rounded share of that scale, so the split between revisions stays accurate.
    /// </summary>
    public static IReadOnlyDictionary<int, int[]> Plan(IReadOnlyDictionary<int, int> percentByRevision, IReadOnlyDictionary<int, int> servingByRevision)
    {
        var result = new Dictionary<int, int[]>();
        foreach (var (revision, count) in servingByRevision)
        {
            result[revision] = new int[count];
        }

        var active = percentByRevision
            .Where(p => p.Value > 0 && servingByRevision.GetValueOrDefault(p.Key) > 0)
            .ToList();
        if (active.Count == 0)
        {
            return result;
        }

        var scale = active.Min(p => (double)MaxWeight * servingByRevision[p.Key] / p.Value);
        foreach (var (revision, percent) in active)
        {
            var count = servingByRevision[revision];
            var total = (int)Math.Round(percent * scale, MidpointRounding.AwayFromZero);
            total = Math.Clamp(total, count, MaxWeight * count);
            var weights = result[revision];
            var share = total / count;
            var remainder = total % count;
            for (var i = 0; i < count; i++)
            {
                weights[i] = share + (i < remainder ? 1 : 0);
            }
        }

        return result;
    }

    /// <summary>The percentage per revision that the backend's servers carry, from HAProxy's server state (servers in maintenance count 0).</summary>
    public static IReadOnlyDictionary<int, int> FromServers(IEnumerable<ServerStateRow> rows, string backend, IReadOnlyDictionary<int, int> revisionBySlot)
    {
        var weights = revisionBySlot.Values.Distinct().ToDictionary(r => r, _ => 0);
        foreach (var row in rows)
        {
            if (row.Backend == backend && revisionBySlot.TryGetValue(row.Slot, out var revision) && !row.InMaintenance)
            {
                weights[revision] += row.Weight;
            }
        }

        return ToPercent(weights);
    }

    /// <summary>Converts effective server weights per revision back into whole percentages.</summary>
    public static IReadOnlyDictionary<int, int> ToPercent(IReadOnlyDictionary<int, int> weightByRevision)
    {
        var total = weightByRevision.Values.Sum();
        return weightByRevision.ToDictionary(
            p => p.Key,
            p => total == 0 ? 0 : (int)Math.Round(100.0 * p.Value / total, MidpointRounding.AwayFromZero));
    }
}
