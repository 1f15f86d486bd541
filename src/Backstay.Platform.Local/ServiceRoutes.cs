// The services' listeners, health-check request, backend slot counts and traffic splits: what haproxy.cfg and the
// server weights are made from. Kept apart so the HAProxy runtime and the instance supervisor both read it without a
// lock: the table is an immutable array swapped whole, and only writers take the lock.
using System.Net;
using System.Net.Sockets;

namespace Backstay.Platform.Local;

/// <summary>One service as HAProxy carries it: its listeners, health check, server slots and how each listener's traffic is split.</summary>
internal sealed record ServiceRoute
{
    public required string Name { get; init; }
    public required ListenerAddress Production { get; init; }
    public ListenerAddress? Test { get; init; }
    public required HealthCheckSpec HealthCheck { get; init; }

    /// <summary>Server slots of its backends (HaproxyConfig.SlotsFor its instances; only grows).</summary>
    public int Slots { get; init; } = HaproxyConfig.SlotsPerBackend;
    public IReadOnlyDictionary<int, int> ProductionSplit { get; init; } = new Dictionary<int, int>();
    public IReadOnlyDictionary<int, int> TestSplit { get; init; } = new Dictionary<int, int>();

    /// <summary>Its production listener, and its test listener when it has one.</summary>
    public IEnumerable<Listener> Listeners => Test is null ? [Listener.Production] : [Listener.Production, Listener.Test];

    public IReadOnlyDictionary<int, int> Split(Listener listener) => listener == Listener.Production ? ProductionSplit : TestSplit;

    public string Backend(Listener listener) => HaproxyConfig.Backend(Name, listener);

    public HaproxyConfig.ServiceConfig ToConfig() =>
        new(Name, Production.BindText, Test?.BindText, HealthCheck.Path, HealthCheck.Timeout, Slots);

    /// <summary>Its part of platform.json; the instance supervisor adds the revisions and the next slot.</summary>
    public PersistedService ToPersisted() => new()
    {
        Name = Name,
        ProductionListener = Production.Text,
        TestListener = Test?.Text,
        HealthCheck = HealthCheck,
        Slots = Slots,
        ProductionWeights = ProductionSplit,
        TestWeights = TestSplit,
    };
}

/// <summary>A change of HAProxy's config that <see cref="ServiceRoutes.Plan"/> found necessary: the service as it will be, and every service's config.</summary>
internal sealed record RoutePlan(ServiceRoute Route, IReadOnlyList<HaproxyConfig.ServiceConfig> Configs);

/// <summary>The table of <see cref="ServiceRoute"/>s; reads are lock-free snapshots, writes copy the table under the lock.</summary>
internal sealed class ServiceRoutes
{
    private readonly Lock _write = new();
    private volatile ServiceRoute[] _all = [];

    /// <summary>Every service, in the order they were added (the order of haproxy.cfg and platform.json).</summary>
    public IReadOnlyList<ServiceRoute> All => _all;

    public ServiceRoute? Find(string name) => Array.Find(_all, r => r.Name == name);

    public void Restore(IEnumerable<PersistedService> saved)
    {
        lock (_write)
        {
            _all = [.. _all, .. saved.Select(s => new ServiceRoute
            {
                Name = s.Name,
                Production = ListenerAddress.Parse(s.Name, "production", s.ProductionListener),
                Test = s.TestListener is null ? null : ListenerAddress.Parse(s.Name, "test", s.TestListener),
                HealthCheck = s.HealthCheck,
                Slots = Math.Clamp(s.Slots, 1, HaproxyConfig.SlotsPerBackend),
                ProductionSplit = new Dictionary<int, int>(s.ProductionWeights),
                TestSplit = new Dictionary<int, int>(s.TestWeights),
            })];
        }
    }

    /// <summary>
    /// Takes the spec's health check at once, and returns the config change the spec asks for, or null when HAProxy's
    /// config already matches it (a listener, the health-check request or the slot count differ otherwise).
    /// </summary>
    public RoutePlan? Plan(ServiceSpec spec)
    {
        var local = spec.Platform.Local!;
        var healthCheck = spec.Task.HealthCheck;
        var (production, test) = ReadListeners(spec);
        lock (_write)
        {
            var existing = Find(spec.Service);

            // Slots only grow: an instance may sit in any slot the backend had.
            var slots = Math.Max(existing?.Slots ?? 0, HaproxyConfig.SlotsFor(local.Instances));
            var wanted = new HaproxyConfig.ServiceConfig(spec.Service, production.BindText, test?.BindText, healthCheck.Path, healthCheck.Timeout, slots);
            if (existing is not null)
            {
                existing = Replace(existing, existing with { HealthCheck = healthCheck });
                if (existing.ToConfig() == wanted)
                {
                    return null;
                }
            }

            CheckListeners(spec.Service, production, test);
            var route = (existing ?? new ServiceRoute { Name = spec.Service, Production = production, HealthCheck = healthCheck }) with
            {
                Production = production,
                Test = test,
                HealthCheck = healthCheck,
                Slots = slots,
            };
            List<HaproxyConfig.ServiceConfig> configs = [.. _all.Select(r => r.Name == spec.Service ? wanted : r.ToConfig())];
            if (existing is null)
            {
                configs.Add(wanted);
            }

            return new RoutePlan(route, configs);
        }
    }

    /// <summary>Records a planned change once HAProxy runs with it; a service that lost its test listener loses its test split.</summary>
    public void Apply(ServiceRoute planned)
    {
        lock (_write)
        {
            if (Find(planned.Name) is not { } existing)
            {
                _all = [.. _all, planned];
                return;
            }

            Replace(existing, existing with
            {
                Slots = planned.Slots,
                Production = planned.Production,
                Test = planned.Test,
                HealthCheck = planned.HealthCheck,
                TestSplit = planned.Test is null ? new Dictionary<int, int>() : existing.TestSplit,
            });
        }
    }

    public void SetSplit(string service, Listener listener, IReadOnlyDictionary<int, int> split)
    {
        lock (_write)
        {
            var existing = Find(service)
                ?? throw new PlatformException($"Service '{service}' is not set up on the local platform; deploy it (or call EnsureServiceAsync) first.");
            if (listener == Listener.Test && existing.Test is null)
            {
                throw new PlatformException($"Service '{service}' has no test listener; add platform.local.listeners.test to its spec.");
            }

            Replace(existing, listener == Listener.Production ? existing with { ProductionSplit = split } : existing with { TestSplit = split });
        }
    }

    /// <summary>
    /// Checks, changing nothing, that the service's listeners parse, are not another service's, and are free (or already
    /// HAProxy's for one of these services).
    /// </summary>
    public void Check(ServiceSpec spec)
    {
        var (production, test) = ReadListeners(spec);
        CheckListeners(spec.Service, production, test);
    }

    private ServiceRoute Replace(ServiceRoute existing, ServiceRoute replacement)
    {
        _all = [.. _all.Select(r => ReferenceEquals(r, existing) ? replacement : r)];
        return replacement;
    }

    private static (ListenerAddress Production, ListenerAddress? Test) ReadListeners(ServiceSpec spec)
    {
        var local = spec.Platform.Local
            ?? throw new PlatformException($"Service '{spec.Service}' is for the {spec.Platform.Kind} platform, not the local one.");
        var healthCheck = spec.Task.HealthCheck;
        if (!healthCheck.Path.StartsWith('/') || healthCheck.Path.Any(c => char.IsWhiteSpace(c) || c == '"' || c == '#'))
        {
            throw new PlatformException($"Service '{spec.Service}': the health-check path '{healthCheck.Path}' must start with / and contain no spaces, quotes or #.");
        }

        var production = ListenerAddress.Parse(spec.Service, "production", local.ProductionListener);
        var test = local.TestListener is { Length: > 0 } t ? ListenerAddress.Parse(spec.Service, "test", t) : null;
        if (test is not null && SameBinding(production, test))
        {
            throw new PlatformException($"Service '{spec.Service}': the production and test listeners are both {production}; give the test listener another port.");
        }

        return (production, test);
    }

    /// <summary>Fails when a listener is another service's, or not ours and taken by another process.</summary>
    private void CheckListeners(string service, ListenerAddress production, ListenerAddress? test)
    {
        var bound = new List<ListenerAddress>();
        foreach (var other in _all)
        {
            bound.Add(other.Production);
            if (other.Test is not null)
            {
                bound.Add(other.Test);
            }

            if (other.Name == service)
            {
                continue;
            }

            foreach (var mine in new[] { production, test }.OfType<ListenerAddress>())
            {
                if (SameBinding(mine, other.Production) || (other.Test is not null && SameBinding(mine, other.Test)))
                {
                    throw new PlatformException($"Service '{service}': listener {mine} is already used by service '{other.Name}'; choose another port.");
                }
            }
        }

        if (!bound.Any(b => SameBinding(production, b)))
        {
            EnsureBindable(service, "production", production);
        }

        if (test is not null && !bound.Any(b => SameBinding(test, b)))
        {
            EnsureBindable(service, "test", test);
        }
    }

    private static bool SameBinding(ListenerAddress a, ListenerAddress b) =>
        a.Port == b.Port && (a.Address.Equals(b.Address) || a.Address.Equals(IPAddress.Any) || b.Address.Equals(IPAddress.Any));

    /// <summary>Fails with an actionable message when something else already listens on the address.</summary>
    private static void EnsureBindable(string service, string listener, ListenerAddress address)
    {
        try
        {
            using var probe = new Socket(address.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(address.Address, address.Port));
            probe.Listen();
        }
        catch (SocketException ex)
        {
            var suggestion = "";
            try
            {
                using var free = new Socket(address.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                free.Bind(new IPEndPoint(address.Address, 0));
                suggestion = string.Create(CultureInfo.InvariantCulture, $", e.g. {address.Address}:{((IPEndPoint)free.LocalEndPoint!).Port}");
            }
            catch (SocketException)
            {
            }

            var problem = ex.SocketErrorCode == SocketError.AddressAlreadyInUse
                ? $"{address} is already in use: another process listens there"
                : $"cannot listen on {address}: {ex.Message}";
            throw new PlatformException(
                $"Service '{service}': the {listener} listener (platform.local.listeners.{listener}) {problem}. Choose another port{suggestion}, or stop the process that uses it.",
                ex);
        }
    }
}
