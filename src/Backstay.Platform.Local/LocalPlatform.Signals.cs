using System.Collections.Concurrent;
using System.Net.Sockets;
using Backstay.Core.Ports;

namespace Backstay.Platform.Local;

public sealed partial class LocalPlatform
{
    private readonly ConcurrentDictionary<(string Service, int Revision, Listener Listener), RequestBuffer> _requests = new();
    private readonly ConcurrentDictionary<string, long> _unattributed = new(StringComparer.Ordinal);
    private volatile IReadOnlyDictionary<string, SlotTarget?[]> _slotMap = new Dictionary<string, SlotTarget?[]>();

    /// <summary>Requests of the revision on the production listener, from HAProxy's per-request log; latency is HAProxy's %Tr (time to the server's response headers).</summary>
    public Task<RevisionMetrics> GetMetricsAsync(string service, int revision, TimeSpan window, DateTimeOffset? since, CancellationToken cancellationToken)
    {
        ThrowIfNotRunning();
        var now = _time.GetUtcNow();
        var metrics = _requests.TryGetValue((service, revision, Listener.Production), out var buffer)
            ? buffer.Summarize(revision, window, now, since)
            : new RevisionMetrics { Revision = revision, Window = window };
        return Task.FromResult(metrics);
    }

    /// <summary>Requests of the service that no revision served (no server available), by backend; for diagnostics and tests.</summary>
    internal long UnattributedRequests(string backend) => _unattributed.GetValueOrDefault(backend);

    private async Task ReceiveRequestLogAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                int received;
                try
                {
                    received = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                }
                catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused or SocketError.MessageSize)
                {
                    continue;
                }

                if (RequestLine.TryParse(buffer.AsSpan(0, received), out var line))
                {
                    Record(line);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (ObjectDisposedException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // The loop's own death is reported, not thrown into nowhere.
            Raise(new PlatformEvent("", null, null, PlatformEventTypes.LoopStopped,
                $"The request log receiver stopped: {ex.Message}. Request metrics are no longer collected; restart Backstay."));
        }
    }

    private void Record(RequestLine line)
    {
        var map = _slotMap;
        if (!map.TryGetValue(line.Backend, out var targets))
        {
            return;
        }

        var target = line.Slot is > 0 and <= HaproxyConfig.SlotsPerBackend ? targets[line.Slot] : null;
        if (target is null)
        {
            _unattributed.AddOrUpdate(line.Backend, 1, (_, n) => n + 1);
            return;
        }

        _requests
            .GetOrAdd((target.Service, target.Revision, target.Listener), _ => new RequestBuffer())
            .Add(_time.GetUtcNow(), line.Status, line.LatencyMs, line.IsError);
    }

    private sealed record SlotTarget(string Service, int Revision, Listener Listener);
}
