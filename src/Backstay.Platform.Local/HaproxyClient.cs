using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;

namespace Backstay.Platform.Local;

/// <summary>One row of "show servers state": what HAProxy holds for one server slot.</summary>
internal sealed record ServerStateRow(string Backend, string Server, int OperationalState, int AdminState, int Weight, int Port)
{
    // SRV_ADMF_FMAINT | IMAINT | RMAINT | HMAINT; CMAINT (0x04, "disabled" in the config) stays set after "state ready" and does not count.
    private const int MaintenanceFlags = 0x01 | 0x02 | 0x20 | 0x40;

    public bool InMaintenance => (AdminState & MaintenanceFlags) != 0;

    /// <summary>The slot number of a server named "sN", or 0.</summary>
    public int Slot => Server.Length > 1 && Server[0] == 's'
        && int.TryParse(Server.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var slot) ? slot : 0;
}

/// <summary>HAProxy's runtime API on its unix socket, one connection per command line.</summary>
/// <remarks>
/// A seamless reload hands the runtime socket's listener to the new process (-x), so for a while both the new and the
/// retiring process accept on it. A command answered by the retiring one acts on a process that is going away and does
/// not know the backends the reload added ("No such backend"). So every command line and read is sent behind "show
/// info", and an answer from another pid than <see cref="Serving"/> is thrown away and the line sent again.
/// </remarks>
internal sealed class HaproxyClient(string socketPath, TimeProvider time)
{
    // How long a retiring HAProxy may keep answering before a command gives up (it stops accepting on its soft stop).
    private static readonly TimeSpan AnsweredByServingWithin = TimeSpan.FromSeconds(10);

    // Stays well below HAProxy's 16 kB buffer for one command line.
    private const int MaxLineLength = 8000;

    private static readonly string[] ErrorStarts =
    [
        "No such", "Unknown command", "Require ", "Invalid", "Permission denied", "Can't find", "Failed", "Unexpected", "Backend is using", "'set server",
    ];

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private volatile StrongBox<int>? _serving;

    public string SocketPath { get; } = socketPath;

    /// <summary>The pid of the HAProxy that serves (whose answers count), or null before one is known.</summary>
    public int? Serving
    {
        get => _serving?.Value;
        set => _serving = value is { } pid ? new StrongBox<int>(pid) : null;
    }

    /// <summary>Sends the commands separated by ';' on as few connections as the line length allows (one, normally); throws on an error answer.</summary>
    public async Task<string> ExecuteAsync(IReadOnlyList<string> commands, CancellationToken cancellationToken)
    {
        var output = new StringBuilder();
        var line = new StringBuilder();
        foreach (var command in commands)
        {
            if (line.Length > 0 && line.Length + command.Length + 1 > MaxLineLength)
            {
                output.Append(await SendToServingAsync(line.ToString(), cancellationToken));
                line.Clear();
            }

            if (line.Length > 0)
            {
                line.Append(';');
            }

            line.Append(command);
        }

        if (line.Length > 0)
        {
            output.Append(await SendToServingAsync(line.ToString(), cancellationToken));
        }

        var text = output.ToString();
        var errors = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => ErrorStarts.Any(e => l.StartsWith(e, StringComparison.Ordinal)))
            .ToList();
        if (errors.Count > 0)
        {
            throw new PlatformException($"HAProxy refused a runtime command: {string.Join("; ", errors)}");
        }

        return text;
    }

    /// <summary>
    /// Sends the line to the serving HAProxy and returns its answer: behind "show info", again until the pid that
    /// answers is <see cref="Serving"/> (a retiring process may still accept on the socket for a moment after a reload).
    /// </summary>
    public async Task<string> SendToServingAsync(string line, CancellationToken cancellationToken)
    {
        if (Serving is not { } serving)
        {
            return await SendAsync(line, cancellationToken);
        }

        var deadline = time.GetTimestamp() + (long)(AnsweredByServingWithin.TotalSeconds * time.TimestampFrequency);
        var pause = TimeSpan.FromMilliseconds(5);
        while (true)
        {
            var (pid, answer) = SplitInfo(await SendAsync("show info;" + line, cancellationToken));
            if (pid == serving)
            {
                return answer;
            }

            if (time.GetTimestamp() > deadline)
            {
                throw new PlatformException(string.Create(CultureInfo.InvariantCulture,
                    $"HAProxy's runtime socket {SocketPath} was answered by {(pid is null ? "something that is not HAProxy" : $"pid {pid}")}, not by the serving HAProxy (pid {serving}), for {AnsweredByServingWithin.TotalSeconds:0} s."));
            }

            await Task.Delay(pause, time, cancellationToken);
            pause = TimeSpan.FromMilliseconds(Math.Min(pause.TotalMilliseconds * 2, 100));
        }
    }

    /// <summary>Splits the answer to "show info;…" into the pid "show info" named (null when it named none) and the rest.</summary>
    internal static (int? Pid, string Answer) SplitInfo(string answer)
    {
        var end = answer.IndexOf("\n\n", StringComparison.Ordinal);
        var info = end < 0 ? answer : answer[..end];
        var rest = end < 0 ? "" : answer[(end + 2)..];
        foreach (var line in info.Split('\n'))
        {
            if (line.StartsWith("Pid:", StringComparison.Ordinal)
                && int.TryParse(line.AsSpan(4).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid))
            {
                return (pid, rest);
            }
        }

        return (null, rest);
    }

    public async Task<string> SendAsync(string line, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), linked.Token);
            await socket.SendAsync(Encoding.ASCII.GetBytes(line + "\n"), SocketFlags.None, linked.Token);
            var buffer = new byte[16384];
            using var answer = new MemoryStream();
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, linked.Token)) > 0)
            {
                answer.Write(buffer, 0, read);
            }

            return Encoding.UTF8.GetString(answer.GetBuffer(), 0, (int)answer.Length);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new PlatformException($"HAProxy did not answer on {SocketPath} within {Timeout.TotalSeconds:0} s.");
        }
        catch (SocketException ex)
        {
            throw new PlatformException($"Cannot reach HAProxy's runtime API on {SocketPath}: {ex.Message}", ex);
        }
    }

    /// <summary>The pid HAProxy reports for itself, or null when it does not answer.</summary>
    public async Task<int?> TryGetPidAsync(CancellationToken cancellationToken)
    {
        try
        {
            return SplitInfo(await SendAsync("show info", cancellationToken)).Pid;
        }
        catch (PlatformException)
        {
            return null;
        }
    }

    public async Task<IReadOnlyList<ServerStateRow>> ShowServersStateAsync(string? backend, CancellationToken cancellationToken)
    {
        var text = await SendToServingAsync(backend is null ? "show servers state" : "show servers state " + backend, cancellationToken);
        return ParseServersState(text);
    }

    public static IReadOnlyList<ServerStateRow> ParseServersState(string text)
    {
        var rows = new List<ServerStateRow>();
        string[]? columns = null;
        foreach (var raw in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw.StartsWith('#'))
            {
                columns = raw.TrimStart('#').Split(' ', StringSplitOptions.RemoveEmptyEntries);
                continue;
            }

            if (columns is null)
            {
                continue;
            }

            var fields = raw.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string Field(string name)
            {
                var index = Array.IndexOf(columns, name);
                return index >= 0 && index < fields.Length ? fields[index] : "";
            }

            int Number(string name) => int.TryParse(Field(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;

            rows.Add(new ServerStateRow(
                Field("be_name"),
                Field("srv_name"),
                Number("srv_op_state"),
                Number("srv_admin_state"),
                Number("srv_uweight"),
                Number("srv_port")));
        }

        return rows;
    }
}
