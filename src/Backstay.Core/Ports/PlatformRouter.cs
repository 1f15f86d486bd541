using System.Collections.Concurrent;
using Backstay.Core.Model;
using Backstay.Core.Spec;

namespace Backstay.Core.Ports;

/// <summary>
/// Several platforms behind one port, so one engine (the controller's) runs local and ECS services side by side. A
/// call that carries a spec goes to the spec's platform; one that names a service goes where that service lives,
/// learnt from its spec (the first time from the store, through <paramref name="specOf"/>, attaching it there).
/// </summary>
public sealed class PlatformRouter(IReadOnlyList<IPlatform> platforms, Func<string, CancellationToken, Task<ServiceSpec?>> specOf)
    : IPlatform, ICompute, ITraffic, ISignals, INativeRollout
{
    private readonly Dictionary<string, IPlatform> _byKind = platforms.ToDictionary(p => p.Name, StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IPlatform> _byService = new(StringComparer.Ordinal);

    public string Name => string.Join("+", _byKind.Keys);

    /// <summary>Why a platform this router does not run is not run here, added to the refusal.</summary>
    public string? NotRunHint { get; init; }

    public bool Serves(string platformKind) => _byKind.ContainsKey(platformKind);

    public TimeSpan ObservationInterval(string platformKind) =>
        _byKind.TryGetValue(platformKind, out var platform) ? platform.ObservationInterval(platformKind) : TimeSpan.Zero;

    public ICompute Compute => this;

    public ITraffic Traffic => this;

    public ISignals Signals => this;

    public INativeRollout? NativeRollout => this;

    public IReadOnlyList<IMetricProvider> MetricProviders => [.. _byKind.Values.SelectMany(p => p.MetricProviders)];

    // Checks and hints do not tell a platform about the service: they must not mark it known here, or a later call by name skips AttachAsync.
    public Task CheckServiceAsync(ServiceSpec spec, CancellationToken cancellationToken) => KindOf(spec).CheckServiceAsync(spec, cancellationToken);

    public Task EnsureServiceAsync(ServiceSpec spec, CancellationToken cancellationToken) => For(spec).EnsureServiceAsync(spec, cancellationToken);

    public Task AttachAsync(ServiceSpec spec, CancellationToken cancellationToken) => For(spec).AttachAsync(spec, cancellationToken);

    public Task RecreateServiceAsync(ServiceSpec spec, CancellationToken cancellationToken) => For(spec).RecreateServiceAsync(spec, cancellationToken);

    public Task BeginDeploymentAsync(ServiceSpec spec, CancellationToken cancellationToken) => For(spec).BeginDeploymentAsync(spec, cancellationToken);

    public Task EndDeploymentAsync(ServiceSpec spec, int servingRevision, CancellationToken cancellationToken) =>
        For(spec).EndDeploymentAsync(spec, servingRevision, cancellationToken);

    public Task<string?> TestListenerUrlAsync(ServiceSpec spec, CancellationToken cancellationToken) => KindOf(spec).TestListenerUrlAsync(spec, cancellationToken);

    public Task<string> LogsHintAsync(ServiceSpec spec, int revision, CancellationToken cancellationToken) => KindOf(spec).LogsHintAsync(spec, revision, cancellationToken);

    public Task MarkDeploymentAsync(ServiceSpec spec, DeploymentMark mark, CancellationToken cancellationToken) =>
        For(spec).MarkDeploymentAsync(spec, mark, cancellationToken);

    public async Task<bool> IsAutoScaledAsync(string service, CancellationToken cancellationToken) =>
        await (await ForAsync(service, cancellationToken)).IsAutoScaledAsync(service, cancellationToken);

    public Task ScaleAsync(ServiceSpec spec, Revision revision, int count, CancellationToken cancellationToken) =>
        For(spec).Compute.ScaleAsync(spec, revision, count, cancellationToken);

    public async Task<IReadOnlyList<InstanceSet>> ListAsync(string service, CancellationToken cancellationToken) =>
        await (await ForAsync(service, cancellationToken)).Compute.ListAsync(service, cancellationToken);

    public Task RemoveRevisionAsync(ServiceSpec spec, Revision revision, CancellationToken cancellationToken) =>
        For(spec).Compute.RemoveRevisionAsync(spec, revision, cancellationToken);

    public async Task SetWeightsAsync(string service, Listener listener, IReadOnlyDictionary<int, int> weightByRevision, CancellationToken cancellationToken) =>
        await (await ForAsync(service, cancellationToken)).Traffic.SetWeightsAsync(service, listener, weightByRevision, cancellationToken);

    public async Task<IReadOnlyDictionary<int, int>> GetWeightsAsync(string service, Listener listener, CancellationToken cancellationToken) =>
        await (await ForAsync(service, cancellationToken)).Traffic.GetWeightsAsync(service, listener, cancellationToken);

    /// <summary>Asks each platform once for the services it runs.</summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyDictionary<int, int>>> GetProductionWeightsAsync(IReadOnlyCollection<string> services, CancellationToken cancellationToken)
    {
        var byPlatform = new Dictionary<IPlatform, List<string>>();
        foreach (var service in services)
        {
            var platform = await ForAsync(service, cancellationToken);
            if (!byPlatform.TryGetValue(platform, out var list))
            {
                byPlatform[platform] = list = [];
            }

            list.Add(service);
        }

        var weights = new Dictionary<string, IReadOnlyDictionary<int, int>>(StringComparer.Ordinal);
        foreach (var (platform, list) in byPlatform)
        {
            foreach (var (service, read) in await platform.Traffic.GetProductionWeightsAsync(list, cancellationToken))
            {
                weights[service] = read;
            }
        }

        return weights;
    }

    public async Task<RevisionMetrics> GetMetricsAsync(string service, int revision, TimeSpan window, DateTimeOffset? since, CancellationToken cancellationToken) =>
        await (await ForAsync(service, cancellationToken)).Signals.GetMetricsAsync(service, revision, window, since, cancellationToken);

    public Task<IReadOnlyList<AlarmStatus>> GetAlarmsAsync(ServiceSpec spec, CancellationToken cancellationToken) => For(spec).Signals.GetAlarmsAsync(spec, cancellationToken);

    public Task<IReadOnlyList<AlarmStatus>> GetAlarmsBeforeActingAsync(ServiceSpec spec, CancellationToken cancellationToken) =>
        For(spec).Signals.GetAlarmsBeforeActingAsync(spec, cancellationToken);

    Task<NativeRolloutStatus> INativeRollout.StartAsync(ServiceSpec spec, Revision revision, CancellationToken cancellationToken) =>
        NativeOf(spec).StartAsync(spec, revision, cancellationToken);

    Task<NativeRolloutStatus> INativeRollout.GetAsync(ServiceSpec spec, string rolloutId, CancellationToken cancellationToken) =>
        NativeOf(spec).GetAsync(spec, rolloutId, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        foreach (var platform in _byKind.Values)
        {
            await platform.DisposeAsync();
        }
    }

    private IPlatform For(ServiceSpec spec)
    {
        var platform = KindOf(spec);
        _byService[spec.Service] = platform;
        return platform;
    }

    private IPlatform KindOf(ServiceSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var kind = spec.Platform.Kind;
        return _byKind.GetValueOrDefault(kind)
            ?? throw new PlatformException($"Service '{spec.Service}' is for the {kind} platform, which this controller does not run (it runs {string.Join(", ", _byKind.Keys)}){(NotRunHint is null ? "" : $": {NotRunHint}")}.");
    }

    private async Task<IPlatform> ForAsync(string service, CancellationToken cancellationToken)
    {
        if (_byService.TryGetValue(service, out var known))
        {
            return known;
        }

        var spec = await specOf(service, cancellationToken)
            ?? throw new PlatformException($"Service '{service}' is not on record; deploy it first.");
        var platform = For(spec);
        await platform.AttachAsync(spec, cancellationToken);
        return platform;
    }

    private INativeRollout NativeOf(ServiceSpec spec) =>
        For(spec).NativeRollout ?? throw new PlatformException($"the {spec.Platform.Kind} platform cannot run a rolling update itself; deploy '{spec.Service}' with a strategy Backstay runs");
}
