using System.Text;

namespace Backstay.Platform.Local;

/// <summary>One request as HAProxy logged it: backend, server slot, status, latency in ms, and when HAProxy finished it.</summary>
internal readonly record struct RequestLine(string Backend, int Slot, int Status, int LatencyMs, DateTimeOffset? ServedAt = null)
{
    /// <summary>Server errors, HAProxy's own answers (no server, timeouts) and requests that got no answer at all.</summary>
    public bool IsError => Status >= 500 || Status < 0 || Slot == 0;

    /// <summary>
    /// Parses a datagram that holds "bsty1|%b|%s|%ST|%Tr|%Ta|%Ts|%ms" somewhere after an optional syslog header; returns false
    /// for HAProxy's other messages. Latency is %Tr (time until the server's response headers), or %Ta (the request's active
    /// time) when no server answered. When served: the accept date (%Ts seconds, %ms milliseconds) plus %Ta, HAProxy's own
    /// clock (not used for timing yet; see RequestLogReceiver.Record).
    /// A line of the format before (no %Ts|%ms, from an HAProxy adopted across an upgrade) has no ServedAt.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> datagram, out RequestLine line)
    {
        line = default;
        var start = datagram.IndexOf(Prefix);
        if (start < 0)
        {
            return false;
        }

        var rest = datagram[(start + Prefix.Length)..];
        Span<Range> parts = stackalloc Range[7];
        var count = 0;
        var from = 0;
        while (count < 7)
        {
            var bar = rest[from..].IndexOf((byte)'|');
            var end = bar < 0 ? rest.Length : from + bar;
            parts[count++] = new Range(from, end);
            if (bar < 0)
            {
                break;
            }

            from = end + 1;
        }

        if (count < 5)
        {
            return false;
        }

        var backend = Encoding.ASCII.GetString(rest[parts[0]]);
        var server = rest[parts[1]];
        var slot = server.Length > 1 && server[0] == (byte)'s' && TryInt(server[1..], out var s) ? s : 0;
        if (!TryInt(rest[parts[2]], out var status) || !TryInt(rest[parts[3]], out var tr) || !TryInt(TrimEnd(rest[parts[4]]), out var ta))
        {
            return false;
        }

        DateTimeOffset? servedAt = count == 7 && long.TryParse(rest[parts[5]], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            && TryInt(TrimEnd(rest[parts[6]]), out var milliseconds) && seconds is > 0 and < 100_000_000_000 && milliseconds is >= 0 and < 1000
            ? DateTimeOffset.FromUnixTimeMilliseconds((seconds * 1000) + milliseconds + Math.Max(ta, 0))
            : null;
        line = new RequestLine(backend, slot, status, tr >= 0 ? tr : Math.Max(ta, 0), servedAt);
        return true;
    }

    private static ReadOnlySpan<byte> Prefix => "bsty1|"u8;

    private static ReadOnlySpan<byte> TrimEnd(ReadOnlySpan<byte> value)
    {
        var end = value.Length;
        while (end > 0 && value[end - 1] is (byte)'\n' or (byte)'\r' or (byte)' ' or 0)
        {
            end--;
        }

        return value[..end];
    }

    private static bool TryInt(ReadOnlySpan<byte> value, out int result) =>
        int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out result);
}

/// <summary>The requests one revision served on one listener, oldest first; keeps the last 5 minutes and at most 200,000 entries.</summary>
internal sealed class RequestBuffer
{
    public const int Capacity = 200_000;
    public static readonly TimeSpan Retention = TimeSpan.FromMinutes(5);

    private readonly Queue<Entry> _entries = new();
    private readonly Lock _lock = new();

    // Completed (and replaced) by the next Add: what the engine waits on to judge a revision as its requests arrive.
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Add(DateTimeOffset at, int status, int latencyMs, bool isError)
    {
        TaskCompletionSource arrived;
        lock (_lock)
        {
            _entries.Enqueue(new Entry(at, status, latencyMs, isError));
            var cutoff = at - Retention;
            while (_entries.Count > Capacity || (_entries.Count > 0 && _entries.Peek().At < cutoff))
            {
                _entries.Dequeue();
            }

            arrived = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        arrived.TrySetResult();
    }

    /// <summary>Completes when the next request is added.</summary>
    public Task NextAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _next.Task.WaitAsync(cancellationToken);
        }
    }

    public RevisionMetrics Summarize(int revision, TimeSpan window, DateTimeOffset now, DateTimeOffset? since)
    {
        var from = now - window;
        if (since is { } s && s > from)
        {
            from = s;
        }

        var latencies = new List<int>();
        long errors = 0;
        DateTimeOffset? firstError = null;
        lock (_lock)
        {
            foreach (var entry in _entries)
            {
                if (entry.At < from || entry.At > now)
                {
                    continue;
                }

                latencies.Add(entry.LatencyMs);
                if (entry.IsError)
                {
                    errors++;
                    firstError ??= entry.At;
                }
            }
        }

        latencies.Sort();
        return new RevisionMetrics
        {
            Revision = revision,
            Window = window,
            Requests = latencies.Count,
            Errors = errors,
            LatencyP50Ms = Percentile(latencies, 0.50),
            LatencyP90Ms = Percentile(latencies, 0.90),
            LatencyP95Ms = Percentile(latencies, 0.95),
            LatencyP99Ms = Percentile(latencies, 0.99),
            LatencySamplesMs = latencies,
            FirstErrorAt = firstError,
        };
    }

    private static double? Percentile(List<int> sorted, double p)
    {
        if (sorted.Count == 0)
        {
            return null;
        }

        var rank = (int)Math.Ceiling(p * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    private readonly record struct Entry(DateTimeOffset At, int Status, int LatencyMs, bool IsError);
}
