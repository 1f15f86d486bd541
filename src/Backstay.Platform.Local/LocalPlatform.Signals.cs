using Backstay.Core.Ports;

namespace Backstay.Platform.Local;

public sealed partial class LocalPlatform
{
    /// <summary>Requests of the revision on the production listener, from HAProxy's per-request log; latency is HAProxy's %Tr (time to the server's response headers).</summary>
    public Task<RevisionMetrics> GetMetricsAsync(string service, int revision, TimeSpan window, DateTimeOffset? since, CancellationToken cancellationToken)
    {
        ThrowIfNotRunning();
        return Task.FromResult(_requestLog!.Metrics(service, revision, window, since));
    }

    /// <summary>Requests of the service that no revision served (no server available), by backend; for diagnostics and tests.</summary>
    internal long UnattributedRequests(string backend) => _requestLog?.Unattributed(backend) ?? 0;
}
