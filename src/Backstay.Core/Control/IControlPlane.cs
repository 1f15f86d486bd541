using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Releases;
using Backstay.Core.Spec;

namespace Backstay.Core.Control;

/// <summary>A request to deploy a new revision built from a spec with overrides.</summary>
public sealed record DeployRequest
{
    public required ServiceSpec Spec { get; init; }
    public string? Image { get; init; }
    public IReadOnlyDictionary<string, string> Env { get; set; } = new Dictionary<string, string>();
    public Provenance Provenance { get; set; } = new();
    public Trigger Trigger { get; set; } = Trigger.User;

    /// <summary>Adopt what runs on the platform as the baseline first (after a change by hand).</summary>
    public bool Reset { get; init; }
}

/// <summary>
/// Everything people and CI ask of Backstay, in one place: the CLI talks to it in-process (on the state
/// directory's store) or through a controller's REST API, with the same results and errors
/// (<see cref="InvalidRequestException"/>, <see cref="Ports.DeploymentConflictException"/>, <see cref="DriftException"/>).
/// </summary>
public interface IControlPlane : IAsyncDisposable
{
    /// <summary>Records a new revision and its deployment; the engine carries it out.</summary>
    Task<Deployment> DeployAsync(DeployRequest request, string requestedBy, CancellationToken cancellationToken);

    Task<Deployment> RollbackAsync(string service, int? toRevision, string requestedBy, CancellationToken cancellationToken);

    Task<Deployment> ContinueAsync(string deploymentId, string? hookId, bool full, string requestedBy, CancellationToken cancellationToken);

    Task<Deployment> StopAsync(string deploymentId, bool rollback, string requestedBy, CancellationToken cancellationToken);

    Task<Deployment> ResetAsync(string service, ResetMode mode, string requestedBy, CancellationToken cancellationToken);

    /// <summary>Acknowledges the service's latest release that went wrong (rolled back or failed), with an optional note.</summary>
    Task<ReleaseStatus> AcknowledgeAsync(string service, string? note, string requestedBy, CancellationToken cancellationToken);

    Task<IReadOnlyList<ServiceRecord>> ListServicesAsync(CancellationToken cancellationToken);

    Task<ServiceRecord?> GetServiceAsync(string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<Revision>> ListRevisionsAsync(string service, CancellationToken cancellationToken);

    /// <summary>Deployments newest first; of all services when service is null.</summary>
    Task<IReadOnlyList<Deployment>> ListDeploymentsAsync(string? service, int limit, CancellationToken cancellationToken);

    Task<IReadOnlyList<Deployment>> ListActiveDeploymentsAsync(CancellationToken cancellationToken);

    Task<Deployment?> GetDeploymentAsync(string id, CancellationToken cancellationToken);

    Task<IReadOnlyList<DeploymentEvent>> ListEventsAsync(string deploymentId, long afterSequence, CancellationToken cancellationToken);

    Task<IReadOnlyList<HookRun>> ListHookRunsAsync(string deploymentId, CancellationToken cancellationToken);

    /// <summary>How the platform differs from the record of a service, as the controller last saw it.</summary>
    Task<IReadOnlyList<string>> DriftAsync(string service, CancellationToken cancellationToken);

    /// <summary>Starts a release of several services (<see cref="Releases.ReleaseRequest"/>); checked whole before anything is recorded.</summary>
    Task<Release> StartReleaseAsync(ReleaseRequest request, string requestedBy, CancellationToken cancellationToken);

    Task<Release?> GetReleaseAsync(string id, CancellationToken cancellationToken);

    /// <summary>Releases newest first.</summary>
    Task<IReadOnlyList<Release>> ListReleasesAsync(int limit, CancellationToken cancellationToken);

    /// <summary>Puts every service of the release that moved back on its previous revision, also after it succeeded.</summary>
    Task<Release> RollbackReleaseAsync(string id, string requestedBy, CancellationToken cancellationToken);

    Task<Release> ContinueReleaseAsync(string id, string requestedBy, CancellationToken cancellationToken);

    Task<Release> StopReleaseAsync(string id, string requestedBy, CancellationToken cancellationToken);

    /// <summary>True when something runs the engine for this control plane (a controller), so recorded deployments progress.</summary>
    Task<bool> ControllerRunningAsync(CancellationToken cancellationToken);
}

/// <summary>The platform differs from the record; the message names what and points at reset.</summary>
public sealed class DriftException(string message) : Exception(message);
