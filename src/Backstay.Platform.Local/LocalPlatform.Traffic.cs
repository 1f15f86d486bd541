using Backstay.Core.Ports;

namespace Backstay.Platform.Local;

public sealed partial class LocalPlatform
{
    public async Task SetWeightsAsync(string service, Listener listener, IReadOnlyDictionary<int, int> weightByRevision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(weightByRevision);
        ThrowIfNotRunning();
        if (weightByRevision.Values.Any(w => w is < 0 or > 100) || (weightByRevision.Count > 0 && weightByRevision.Values.Sum() != 100))
        {
            throw new ArgumentException(
                $"Weights must be percentages from 0 to 100 that add up to 100; got {string.Join(", ", weightByRevision.Select(p => $"revision {p.Key}: {p.Value}"))}.",
                nameof(weightByRevision));
        }

        lock (_sync)
        {
            var state = FindService(service)
                ?? throw new PlatformException($"Service '{service}' is not set up on the local platform; deploy it (or call EnsureServiceAsync) first.");
            if (listener == Listener.Test && state.Test is null)
            {
                throw new PlatformException($"Service '{service}' has no test listener; add platform.local.listeners.test to its spec.");
            }

            var split = weightByRevision.Where(p => p.Value > 0).ToDictionary(p => p.Key, p => p.Value);
            if (listener == Listener.Production)
            {
                state.ProductionSplit = split;
            }
            else
            {
                state.TestSplit = split;
            }
        }

        Save();
        await SyncAsync(cancellationToken);
    }

    /// <summary>Reads the weights HAProxy actually holds (servers in maintenance count as 0) and turns them back into percentages per revision.</summary>
    public async Task<IReadOnlyDictionary<int, int>> GetWeightsAsync(string service, Listener listener, CancellationToken cancellationToken)
    {
        ThrowIfNotRunning();
        string backend;
        Dictionary<int, int> revisionBySlot;
        lock (_sync)
        {
            var state = FindService(service);
            if (state is null || (listener == Listener.Test && state.Test is null) || _haproxyProcess is null)
            {
                return new Dictionary<int, int>();
            }

            backend = listener == Listener.Production ? state.ProductionBackend : state.TestBackend;
            revisionBySlot = state.Instances.Where(i => !i.Stopping).ToDictionary(i => i.Slot, i => i.Revision);
        }

        var rows = await _haproxy!.ShowServersStateAsync(backend, cancellationToken);
        var weights = revisionBySlot.Values.Distinct().ToDictionary(r => r, _ => 0);
        foreach (var row in rows)
        {
            if (row.Backend == backend && revisionBySlot.TryGetValue(row.Slot, out var revision) && !row.InMaintenance)
            {
                weights[revision] += row.Weight;
            }
        }

        return WeightPlanner.ToPercent(weights);
    }
}
