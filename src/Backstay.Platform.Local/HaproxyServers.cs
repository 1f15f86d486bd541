// HAProxy's server slots as Backstay last sent or read them back, and the one burst of runtime commands that brings
// them in line with the routes (splits, slots) and the instances (ports, health). It has no lock of its own: only
// HaproxyRuntime calls it, always holding its gate. It takes InstanceSupervisor's lock briefly to read the instances.

namespace Backstay.Platform.Local;

/// <summary>Keeps HAProxy's server slots (address, state, weight) in line with the model, sending only differences.</summary>
internal sealed class HaproxyServers(HaproxyClient client, ServiceRoutes routes, InstanceSupervisor instances, RequestLogReceiver requestLog)
{
    private readonly Dictionary<string, AppliedServer[]> _applied = new(StringComparer.Ordinal);

    /// <summary>Forgets what HAProxy holds, e.g. when it died: the next sync sends everything.</summary>
    public void Forget() => _applied.Clear();

    /// <summary>Reads what HAProxy holds for every server slot, so the next sync sends only differences.</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        _applied.Clear();
        var rows = await client.ShowServersStateAsync(null, cancellationToken);
        foreach (var row in rows)
        {
            var slot = row.Slot;
            if (slot is < 1 or > HaproxyConfig.SlotsPerBackend)
            {
                continue;
            }

            if (!_applied.TryGetValue(row.Backend, out var servers))
            {
                servers = NewServerArray();
                _applied[row.Backend] = servers;
            }

            servers[slot] = new AppliedServer(row.Port, !row.InMaintenance, row.Weight);
        }
    }

    /// <summary>Per backend, the port of every slot HAProxy has ready, as last sent or read.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<int, int>> Ready() =>
        _applied.ToDictionary(
            p => p.Key,
            p => (IReadOnlyDictionary<int, int>)Enumerable.Range(1, HaproxyConfig.SlotsPerBackend)
                .Where(slot => p.Value[slot].Ready)
                .ToDictionary(slot => slot, slot => p.Value[slot].Port),
            StringComparer.Ordinal);

    /// <summary>
    /// Brings HAProxy's server slots in line with the model in one burst: slots to drain go to maint first, then addresses
    /// and weights change, then new servers become ready.
    /// </summary>
    public async Task SyncAsync(CancellationToken cancellationToken)
    {
        var desired = ComputeDesired();
        var drain = new List<string>();
        var change = new List<string>();
        var enable = new List<string>();
        var updates = new List<(AppliedServer[] Servers, int Slot, AppliedServer Value)>();
        foreach (var (backend, servers) in desired)
        {
            if (!_applied.TryGetValue(backend, out var applied))
            {
                applied = NewServerArray();
                _applied[backend] = applied;
            }

            // The desired array is as long as the backend's server template: slots beyond it do not exist in HAProxy.
            for (var slot = 1; slot < servers.Length; slot++)
            {
                var want = servers[slot];
                var have = applied[slot];
                var name = string.Create(CultureInfo.InvariantCulture, $"{backend}/s{slot}");
                if (!want.Ready)
                {
                    if (have.Ready || !have.Known)
                    {
                        drain.Add($"set server {name} state maint");
                        updates.Add((applied, slot, new AppliedServer(have.Known ? have.Port : -1, false, have.Known ? have.Weight : -1)));
                    }

                    continue;
                }

                if (!have.Known || have.Port != want.Port)
                {
                    change.Add(string.Create(CultureInfo.InvariantCulture, $"set server {name} addr 127.0.0.1 port {want.Port}"));
                }

                if (!have.Known || have.Weight != want.Weight)
                {
                    change.Add(string.Create(CultureInfo.InvariantCulture, $"set weight {name} {want.Weight}"));
                }

                if (!have.Known || !have.Ready)
                {
                    enable.Add($"set server {name} state ready");
                }

                updates.Add((applied, slot, new AppliedServer(want.Port, true, want.Weight)));
            }
        }

        var commands = drain.Concat(change).Concat(enable).ToList();
        if (commands.Count == 0)
        {
            return;
        }

        try
        {
            await client.ExecuteAsync(commands, cancellationToken);
        }
        catch
        {
            // What HAProxy holds is unknown now; read it again next time.
            _applied.Clear();
            throw;
        }

        foreach (var (servers, slot, value) in updates)
        {
            servers[slot] = value;
        }
    }

    /// <summary>What every slot of every backend should hold; also hands the request log the slot map it attributes requests with.</summary>
    private Dictionary<string, DesiredServer[]> ComputeDesired()
    {
        var placements = instances.Placements();
        var desired = new Dictionary<string, DesiredServer[]>(StringComparer.Ordinal);
        var slotMap = new Dictionary<string, SlotTarget?[]>(StringComparer.Ordinal);
        foreach (var route in routes.All)
        {
            var placed = placements.GetValueOrDefault(route.Name) ?? [];
            var serving = placed.Where(i => i.Serving).OrderBy(i => i.Sequence).ToList();
            var servingByRevision = serving.GroupBy(i => i.Revision).ToDictionary(g => g.Key, g => g.Count());
            foreach (var listener in route.Listeners)
            {
                var backend = route.Backend(listener);
                var plan = WeightPlanner.Plan(route.Split(listener), servingByRevision);
                var next = new Dictionary<int, int>();
                var servers = new DesiredServer[route.Slots + 1];
                foreach (var instance in serving)
                {
                    var index = next.GetValueOrDefault(instance.Revision);
                    next[instance.Revision] = index + 1;
                    servers[instance.Slot] = new DesiredServer(instance.Port, true, plan[instance.Revision][index]);
                }

                desired[backend] = servers;
                var targets = new SlotTarget?[route.Slots + 1];
                foreach (var instance in placed)
                {
                    targets[instance.Slot] = new SlotTarget(route.Name, instance.Revision, listener);
                }

                slotMap[backend] = targets;
            }
        }

        requestLog.Attribute(slotMap);
        return desired;
    }

    private static AppliedServer[] NewServerArray()
    {
        var servers = new AppliedServer[HaproxyConfig.SlotsPerBackend + 1];
        Array.Fill(servers, AppliedServer.Unknown);
        return servers;
    }

    private readonly record struct DesiredServer(int Port, bool Ready, int Weight);

    private readonly record struct AppliedServer(int Port, bool Ready, int Weight, bool Known = true)
    {
        public static AppliedServer Unknown => new(0, false, 0, Known: false);
    }
}
