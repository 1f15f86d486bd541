using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Releases;
using Backstay.Core.Spec;

namespace Backstay.Core.Control;

/// <summary>The control plane on a store: what the CLI uses without a controller URL, and what a controller serves.</summary>
/// <param name="platform">The platform the controller runs, asked before a deployment is recorded whether it can take the service; null to skip.</param>
public sealed class InProcessControlPlane(IStateStore store, TimeProvider time, IImageResolver? imageResolver, Func<bool> controllerRunning, bool ownsStore = true,
    IPlatform? platform = null)
    : IControlPlane
{
    /// <summary>How old the controller's last look at the platform may be to refuse a deployment on drift before it is recorded.</summary>
    public static readonly TimeSpan DriftMaxAge = TimeSpan.FromSeconds(15);

    private readonly DeploymentRequests _requests = new(store, time, imageResolver);

    public IStateStore Store => store;

    private ReleaseRequests Releases => new(store, time, _requests);

    /// <summary>What pins images to digests when revisions are recorded here.</summary>
    public IImageResolver? ImageResolver => imageResolver;

    public async Task<Deployment> DeployAsync(DeployRequest request, string requestedBy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var service = request.Spec.Service;
        await _requests.EnsureNoActiveAsync(service, cancellationToken);
        if (request.Reset && await store.GetServiceAsync(service, cancellationToken) is not null)
        {
            var reset = await _requests.ResetAsync(service, ResetMode.Adopt, requestedBy, cancellationToken);
            var finished = await WaitAsync(reset.Id, cancellationToken);
            if (finished.State != DeploymentState.Succeeded)
            {
                throw new InvalidRequestException($"The reset before the deployment ended {finished.State}: {finished.Reason}; see `backstay history {service}`.");
            }

            await CheckPlatformTakesAsync(request.Spec, cancellationToken);
        }
        else
        {
            await CheckServiceAsync(request.Spec, cancellationToken);
        }

        var revision = await _requests.CreateRevisionAsync(request.Spec, request.Image, request.Env, request.Provenance, cancellationToken);
        return await _requests.StartAsync(request.Spec, revision, request.Trigger, requestedBy, cancellationToken);
    }

    /// <summary>What every new deployment of a service must pass before anything is recorded: no drift, and a platform that can take it.</summary>
    private async Task CheckServiceAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        if (await _requests.DriftAsync(spec.Service, DriftMaxAge, cancellationToken) is { Count: > 0 } drift)
        {
            throw new DriftException(DriftDetector.Describe(spec.Service, drift));
        }

        await CheckPlatformTakesAsync(spec, cancellationToken);
    }

    private async Task CheckPlatformTakesAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        if (platform is null)
        {
            return;
        }

        try
        {
            await platform.CheckServiceAsync(spec, cancellationToken);
        }
        catch (PlatformException ex)
        {
            // Nothing is recorded and nothing started: a deployment that cannot even begin is bad input, not a stopped deployment.
            throw new InvalidRequestException(ex.Message);
        }
    }

    public Task<Release> StartReleaseAsync(ReleaseRequest request, string requestedBy, CancellationToken cancellationToken) =>
        Releases.StartAsync(request, requestedBy, (service, token) => CheckServiceAsync(service.Spec, token), cancellationToken);

    public Task<Release?> GetReleaseAsync(string id, CancellationToken cancellationToken) => store.GetReleaseAsync(id, cancellationToken);

    public Task<IReadOnlyList<Release>> ListReleasesAsync(int limit, CancellationToken cancellationToken) => store.ListReleasesAsync(limit, cancellationToken);

    public Task<Release> RollbackReleaseAsync(string id, string requestedBy, CancellationToken cancellationToken) =>
        Releases.RollbackAsync(id, requestedBy, cancellationToken);

    public Task<Release> ContinueReleaseAsync(string id, string requestedBy, CancellationToken cancellationToken) =>
        Releases.ContinueAsync(id, requestedBy, cancellationToken);

    public Task<Release> StopReleaseAsync(string id, string requestedBy, CancellationToken cancellationToken) =>
        Releases.StopAsync(id, requestedBy, cancellationToken);

    public Task<Deployment> RollbackAsync(string service, int? toRevision, string requestedBy, CancellationToken cancellationToken) =>
        _requests.RollbackAsync(service, toRevision, requestedBy, cancellationToken);

    public Task<Deployment> ContinueAsync(string deploymentId, string? hookId, bool full, string requestedBy, CancellationToken cancellationToken) =>
        _requests.ContinueAsync(deploymentId, hookId, full, requestedBy, cancellationToken);

    public Task<Deployment> StopAsync(string deploymentId, bool rollback, string requestedBy, CancellationToken cancellationToken) =>
        _requests.StopAsync(deploymentId, rollback, requestedBy, cancellationToken);

    public Task<Deployment> ResetAsync(string service, ResetMode mode, string requestedBy, CancellationToken cancellationToken) =>
        _requests.ResetAsync(service, mode, requestedBy, cancellationToken);

    public Task<ReleaseStatus> AcknowledgeAsync(string service, string? note, string requestedBy, CancellationToken cancellationToken) =>
        _requests.AcknowledgeAsync(service, note, requestedBy, cancellationToken);

    public Task<IReadOnlyList<ServiceRecord>> ListServicesAsync(CancellationToken cancellationToken) => store.ListServicesAsync(cancellationToken);

    public Task<ServiceRecord?> GetServiceAsync(string name, CancellationToken cancellationToken) => store.GetServiceAsync(name, cancellationToken);

    public Task<IReadOnlyList<Revision>> ListRevisionsAsync(string service, CancellationToken cancellationToken) => store.ListRevisionsAsync(service, cancellationToken);

    public Task<IReadOnlyList<Deployment>> ListDeploymentsAsync(string? service, int limit, CancellationToken cancellationToken) =>
        store.ListDeploymentsAsync(service, limit, cancellationToken);

    public Task<IReadOnlyList<Deployment>> ListActiveDeploymentsAsync(CancellationToken cancellationToken) => store.ListActiveDeploymentsAsync(cancellationToken);

    public Task<Deployment?> GetDeploymentAsync(string id, CancellationToken cancellationToken) => store.GetDeploymentAsync(id, cancellationToken);

    public Task<IReadOnlyList<DeploymentEvent>> ListEventsAsync(string deploymentId, long afterSequence, CancellationToken cancellationToken) =>
        store.ListEventsAsync(deploymentId, afterSequence, cancellationToken);

    public Task<IReadOnlyList<HookRun>> ListHookRunsAsync(string deploymentId, CancellationToken cancellationToken) =>
        store.ListHookRunsAsync(deploymentId, cancellationToken);

    public Task<IReadOnlyList<string>> DriftAsync(string service, CancellationToken cancellationToken) =>
        _requests.DriftAsync(service, DriftMaxAge, cancellationToken);

    public Task<bool> ControllerRunningAsync(CancellationToken cancellationToken) => Task.FromResult(controllerRunning());

    public ValueTask DisposeAsync() => ownsStore ? store.DisposeAsync() : ValueTask.CompletedTask;

    private async Task<Deployment> WaitAsync(string id, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(5));
        while (true)
        {
            var deployment = await store.GetDeploymentAsync(id, timeout.Token)
                ?? throw new InvalidOperationException($"Deployment {id} disappeared from the store.");
            if (deployment.IsFinished)
            {
                return deployment;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), time, timeout.Token);
        }
    }
}
