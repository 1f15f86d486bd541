// The UDP socket HAProxy logs every request to, and what those lines add up to per revision. Kept apart from the
// HAProxy runtime because it runs on its own loop at request rate and needs no lock: the attribution map is swapped
// whole, and each revision's buffer locks itself.
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Backstay.Platform.Local;

/// <summary>Which service, revision and listener a backend's server slot serves, for attributing a logged request.</summary>
internal sealed record SlotTarget(string Service, int Revision, Listener Listener);

/// <summary>Receives HAProxy's per-request log lines on a loopback UDP port and keeps each revision's recent requests.</summary>
internal sealed class RequestLogReceiver : IDisposable
{
    private readonly Socket _socket;
    private readonly TimeProvider _time;
    private readonly Action<PlatformEvent> _raise;
    private readonly ConcurrentDictionary<(string Service, int Revision, Listener Listener), RequestBuffer> _requests = new();
    private readonly ConcurrentDictionary<string, long> _unattributed = new(StringComparer.Ordinal);
    private volatile IReadOnlyDictionary<string, SlotTarget?[]> _slotMap = new Dictionary<string, SlotTarget?[]>();

    /// <summary>Binds the port an earlier Backstay process used (HAProxy's config names it), or any free one when it is taken.</summary>
    public RequestLogReceiver(int preferredPort, TimeProvider time, Action<PlatformEvent> raise)
    {
        _time = time;
        _raise = raise;
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 4 * 1024 * 1024 };
        try
        {
            _socket.Bind(new IPEndPoint(IPAddress.Loopback, preferredPort));
        }
        catch (SocketException) when (preferredPort != 0)
        {
            _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        }

        Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
    }

    public int Port { get; }

    /// <summary>Replaces the slot map the next lines are attributed with; the HAProxy runtime sends it with every sync.</summary>
    public void Attribute(IReadOnlyDictionary<string, SlotTarget?[]> slotMap) => _slotMap = slotMap;

    public RevisionMetrics Metrics(string service, int revision, TimeSpan window, DateTimeOffset? since) =>
        _requests.TryGetValue((service, revision, Listener.Production), out var buffer)
            ? buffer.Summarize(revision, window, _time.GetUtcNow(), since)
            : new RevisionMetrics { Revision = revision, Window = window };

    /// <summary>Completes when the revision's next production request is recorded.</summary>
    public Task NextRequestAsync(string service, int revision, CancellationToken cancellationToken) =>
        _requests.GetOrAdd((service, revision, Listener.Production), _ => new RequestBuffer()).NextAsync(cancellationToken);

    /// <summary>Requests of the backend that no revision served (no server available).</summary>
    public long Unattributed(string backend) => _unattributed.GetValueOrDefault(backend);

    /// <summary>The receive loop, until cancelled; its own death is reported as an event.</summary>
    public async Task ReceiveAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                int received;
                try
                {
                    received = await _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
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
            _raise(new PlatformEvent("", null, null, PlatformEventTypes.LoopStopped,
                $"The request log receiver stopped: {ex.Message}. Request metrics are no longer collected; restart Backstay."));
        }
    }

    public void Dispose() => _socket.Dispose();

    private void Record(RequestLine line)
    {
        var map = _slotMap;
        if (!map.TryGetValue(line.Backend, out var targets))
        {
            return;
        }

        // The map holds the backend's own slots, which may be fewer than HAProxy's maximum.
        var target = line.Slot > 0 && line.Slot < targets.Length ? targets[line.Slot] : null;
        if (target is null)
        {
            _unattributed.AddOrUpdate(line.Backend, 1, (_, n) => n + 1);
            return;
        }

        // Timed by arrival. HAProxy's own time (line.ServedAt) is parsed but not used yet: its clock is cached per event-loop
        // turn and on a loaded machine put requests before a window that had started, so windows lost requests.
        _requests
            .GetOrAdd((target.Service, target.Revision, target.Listener), _ => new RequestBuffer())
            .Add(_time.GetUtcNow(), line.Status, line.LatencyMs, line.IsError);
    }
}
