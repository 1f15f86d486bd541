using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>One request an http hook sent: its headers (lower-case names) and body.</summary>
public sealed record HookRequest(IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>
/// A real HTTP/1.1 server on 127.0.0.1, port 0, standing in for a user's verification endpoint: answers every request
/// with <see cref="Status"/> after <see cref="DelayMilliseconds"/> and keeps what it was sent.
/// </summary>
public sealed class LoopbackHookServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<HookRequest> _requests = [];
    private volatile int _status = 200;
    private volatile int _delayMilliseconds;

    public LoopbackHookServer()
    {
        _listener.Start();
        _ = Task.Run(AcceptAsync);
    }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture)}/verify";

    public int Status
    {
        get => _status;
        set => _status = value;
    }

    public int DelayMilliseconds
    {
        get => _delayMilliseconds;
        set => _delayMilliseconds = value;
    }

    public IReadOnlyList<HookRequest> Requests
    {
        get
        {
            lock (_requests)
            {
                return _requests.ToList();
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            // Each connection on its own, so a slow answer does not hold up the next attempt.
            _ = Task.Run(() => AnswerAsync(client));
        }
    }

    private async Task AnswerAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var token = _stop.Token;
                var stream = client.GetStream();
                var received = new MemoryStream();
                var buffer = new byte[8192];
                int headerEnd;
                while ((headerEnd = IndexOfHeaderEnd(received)) < 0)
                {
                    var read = await stream.ReadAsync(buffer, token);
                    if (read == 0)
                    {
                        return;
                    }

                    received.Write(buffer, 0, read);
                }

                var head = Encoding.ASCII.GetString(received.GetBuffer(), 0, headerEnd);
                var headers = head.Split("\r\n").Skip(1).Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
                    .ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim(), StringComparer.Ordinal);
                var length = headers.TryGetValue("content-length", out var l) ? int.Parse(l, CultureInfo.InvariantCulture) : 0;
                while (received.Length - headerEnd - 4 < length)
                {
                    var read = await stream.ReadAsync(buffer, token);
                    if (read == 0)
                    {
                        return;
                    }

                    received.Write(buffer, 0, read);
                }

                var body = Encoding.UTF8.GetString(received.GetBuffer(), headerEnd + 4, length);
                lock (_requests)
                {
                    _requests.Add(new HookRequest(headers, body));
                }

                if (DelayMilliseconds > 0)
                {
                    await Task.Delay(DelayMilliseconds, token);
                }

                var status = Status;
                var text = status is >= 200 and < 300 ? "verified" : "smoke check failed: /healthz answered 503";
                var response = Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 {status.ToString(CultureInfo.InvariantCulture)} X\r\nContent-Type: text/plain\r\nContent-Length: {text.Length.ToString(CultureInfo.InvariantCulture)}\r\nConnection: close\r\n\r\n{text}");
                await stream.WriteAsync(response, token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
            {
            }
        }
    }

    private static int IndexOfHeaderEnd(MemoryStream received)
    {
        var bytes = received.GetBuffer();
        for (var i = 0; i + 3 < received.Length; i++)
        {
            if (bytes[i] == '\r' && bytes[i + 1] == '\n' && bytes[i + 2] == '\r' && bytes[i + 3] == '\n')
            {
                return i;
            }
        }

        return -1;
    }
}
