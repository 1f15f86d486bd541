using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Backstay.Bench;

/// <summary>One timeline event of a deployment report; a Failed event also says when the failure verdict was taken.</summary>
internal sealed record Event(string DeploymentId, DateTimeOffset At, string Type, string Message, DateTimeOffset? VerdictAt = null);

/// <summary>What `backstay deploy --output json` answered, plus the wall time of the command.</summary>
internal sealed record DeployReport(
    string Id,
    string Outcome,
    int Revision,
    string? Reason,
    long? TimeToSafetyMs,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt,
    IReadOnlyList<Event> Events,
    int ExitCode,
    string Raw)
{
    public Event? First(string type, string? deploymentId = null) =>
        Events.FirstOrDefault(e => e.Type == type && (deploymentId is null || e.DeploymentId == deploymentId));

    /// <summary>When the deployed revision first received production traffic (its first TrafficShifted event with weight above 0).</summary>
    public DateTimeOffset? FirstTrafficAt =>
        Events.FirstOrDefault(e => e.DeploymentId == Id && e.Type == "TrafficShifted" && WeightIn(e.Message, Revision) > 0)?.At;

    /// <summary>The revision's production weight the last time traffic moved before the Failed event.</summary>
    public int? WeightAtFailure()
    {
        var failed = First("Failed", Id);
        if (failed is null)
        {
            return null;
        }

        var shift = Events.LastOrDefault(e => e.DeploymentId == Id && e.Type == "TrafficShifted" && e.At <= failed.At);
        return shift is null ? 0 : WeightIn(shift.Message, Revision);
    }

    /// <summary>Reads "revision N W%" out of a "production traffic: revision 2 10%, revision 1 90%" message.</summary>
    public static int WeightIn(string message, int revision)
    {
        var marker = $"revision {revision} ";
        var i = message.IndexOf(marker, StringComparison.Ordinal);
        if (i < 0)
        {
            return 0;
        }

        var rest = message[(i + marker.Length)..];
        var pct = rest.IndexOf('%', StringComparison.Ordinal);
        return pct > 0 && int.TryParse(rest[..pct], NumberStyles.Integer, CultureInfo.InvariantCulture, out var w) ? w : 0;
    }

    public static DeployReport Parse(string json, int exitCode)
    {
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        var events = new List<Event>();
        if (r.TryGetProperty("events", out var ev) && ev.ValueKind == JsonValueKind.Array)
        {
            foreach (var e in ev.EnumerateArray())
            {
                DateTimeOffset? verdictAt = e.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object
                    && data.TryGetProperty("verdictAt", out var v) && v.ValueKind == JsonValueKind.String ? v.GetDateTimeOffset() : null;
                events.Add(new Event(e.GetProperty("deploymentId").GetString()!, e.GetProperty("at").GetDateTimeOffset(),
                    e.GetProperty("type").GetString()!, e.GetProperty("message").GetString() ?? "", verdictAt));
            }
        }

        return new DeployReport(
            r.GetProperty("id").GetString()!,
            r.GetProperty("outcome").GetString()!,
            r.GetProperty("revision").GetInt32(),
            r.TryGetProperty("reason", out var reason) && reason.ValueKind == JsonValueKind.String ? reason.GetString() : null,
            r.TryGetProperty("timeToSafetyMs", out var tts) && tts.ValueKind == JsonValueKind.Number ? tts.GetInt64() : null,
            r.GetProperty("createdAt").GetDateTimeOffset(),
            r.TryGetProperty("finishedAt", out var f) && f.ValueKind == JsonValueKind.String ? f.GetDateTimeOffset() : null,
            events,
            exitCode,
            json);
    }
}

/// <summary>The real `backstay` command, run as a child process against one state directory.</summary>
internal sealed class BackstayCli(string dll, string stateDirectory, string workDirectory)
{
    public string Dll { get; } = dll;

    public string State { get; } = stateDirectory;

    public Task<Proc.Result> RunAsync(TimeSpan timeout, params string[] args) =>
        Proc.RunAsync("dotnet", [Dll, .. args, "--state", State], timeout, workDirectory);

    public async Task<DeployReport> DeployAsync(string specPath, IEnumerable<string> env, TimeSpan timeout, bool noWait = false, Action? whileWaiting = null)
    {
        var args = new List<string> { "deploy", "-f", specPath, "--output", "json", "--commit", "bench", "--message", "backstay bench" };
        foreach (var e in env)
        {
            args.Add("--env");
            args.Add(e);
        }

        if (noWait)
        {
            args.Add("--no-wait");
        }

        using var stop = new CancellationTokenSource();
        var running = Proc.RunAsync("dotnet", [Dll, .. args, "--state", State], timeout, workDirectory, cancel: stop.Token);
        while (whileWaiting is not null && await Task.WhenAny(running, Task.Delay(2000)) != running)
        {
            try
            {
                whileWaiting();
            }
            catch
            {
                await stop.CancelAsync();
                await running;
                throw;
            }
        }

        var result = await running;
        if (result.TimedOut)
        {
            throw new BenchException($"`backstay deploy -f {Path.GetFileName(specPath)}` did not finish within {timeout.TotalSeconds:0} s");
        }

        var start = result.Stdout.IndexOf('{', StringComparison.Ordinal);
        if (start < 0)
        {
            throw new BenchException($"`backstay deploy` exited {result.ExitCode} without a JSON report: {result.Stderr.Trim()}");
        }

        return DeployReport.Parse(result.Stdout[start..], result.ExitCode);
    }

    /// <summary>
    /// Follows a deployment that `deploy` left while it was still going (it returns on any Paused state, also a timed
    /// pause that ends by itself) through `backstay history --events` until it has finished.
    /// </summary>
    public async Task<DeployReport> WaitFinishedAsync(string service, string id, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            var result = await RunAsync(TimeSpan.FromSeconds(30), "history", service, "--limit", "10", "--events", "--output", "json");
            if (result.ExitCode == 0)
            {
                using var doc = JsonDocument.Parse(result.Stdout);
                foreach (var d in doc.RootElement.EnumerateArray())
                {
                    if (d.GetProperty("id").GetString() == id && d.GetProperty("outcome").GetString() is not ("Paused" or "InProgress"))
                    {
                        return DeployReport.Parse(d.GetRawText(), -1);
                    }
                }
            }

            await Task.Delay(250);
        }

        throw new BenchException($"deployment {id} of {service} did not finish within {timeout.TotalSeconds:0} s");
    }
}

/// <summary>A broken product behaviour or environment: the run goes on where it can and exits non-zero at the end.</summary>
internal class BenchException(string message) : Exception(message);

/// <summary>serve no longer serves (it exited, or stopped its platform): nothing after this can be measured.</summary>
internal sealed class ServeGoneException(string message) : BenchException(message);

/// <summary>`backstay serve` started by the runner on its own state directory, stopped with SIGTERM at the end.</summary>
internal sealed class ServeHandle : IAsyncDisposable
{
    private readonly Process _process;

    private ServeHandle(Process process, string logPath, string state)
    {
        _process = process;
        LogPath = logPath;
        State = state;
    }

    public int Pid => _process.Id;

    public string LogPath { get; }

    public string State { get; }

    public bool Exited => _process.HasExited;

    public static async Task<ServeHandle> StartAsync(string dll, string state, string logPath)
    {
        // Newer builds of serve also listen for the REST API and dashboard on a fixed port by default: ask for a free one.
        var help = await Proc.RunAsync("dotnet", [dll, "serve", "--help"], TimeSpan.FromSeconds(30));
        var extra = help.Stdout.Contains("--listen", StringComparison.Ordinal) ? new[] { "--listen", "127.0.0.1:0" } : [];

        // sh execs dotnet in place (same pid) with its output appended to the log, so the runner holds no pipes to it.
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = true };
        foreach (var a in new[] { "-c", "exec \"$@\" >>\"$BENCH_SERVE_LOG\" 2>&1 </dev/null", "sh", "dotnet", dll, "serve", "--state", state }.Concat(extra))
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["BENCH_SERVE_LOG"] = logPath;
        info.Environment["NO_COLOR"] = "1";
        var process = Process.Start(info) ?? throw new BenchException("could not start `backstay serve`");
        var handle = new ServeHandle(process, logPath, state);
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (process.HasExited)
            {
                throw new BenchException($"`backstay serve` exited with {process.ExitCode}: {Tail(logPath)}");
            }

            if (File.Exists(logPath) && (await File.ReadAllTextAsync(logPath)).Contains("Backstay is serving", StringComparison.Ordinal))
            {
                return handle;
            }

            await Task.Delay(100);
        }

        await handle.DisposeAsync();
        throw new BenchException($"`backstay serve` did not report serving within 60 s: {Tail(logPath)}");
    }

    public static string Tail(string path, int lines = 15)
    {
        try
        {
            return string.Join('\n', File.ReadLines(path).TakeLast(lines));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    /// <summary>Throws when serve has exited or has shut its platform down (HAProxy gone from platform.json, or its stop message logged) without the runner asking.</summary>
    public void EnsureServing()
    {
        if (_process.HasExited)
        {
            throw new ServeGoneException($"`backstay serve` exited with {_process.ExitCode} without being asked: {Tail(LogPath)}");
        }

        var platform = Path.Combine(State, "local", "platform.json");
        var log = File.Exists(LogPath) ? File.ReadAllText(LogPath) : "";
        var stopped = log.Contains("Stopping: instances and HAProxy", StringComparison.Ordinal);
        var hadHaproxy = log.Contains("haproxy.started", StringComparison.Ordinal);
        if (stopped || (hadHaproxy && File.Exists(platform) && PlatformPids().Haproxy is null))
        {
            throw new ServeGoneException(
                $"`backstay serve` (pid {Pid}, still running: {!_process.HasExited}) shut its platform down without being asked: HAProxy and the instances are gone " +
                $"(platform.json last written {File.GetLastWriteTimeUtc(platform):HH:mm:ss.fff} UTC{(stopped ? ", serve logged its stop message" : "")}); the benchmark never signals serve before the end");
        }
    }

    /// <summary>Pids of HAProxy and every instance the local platform recorded.</summary>
    public (int? Haproxy, List<int> Instances) PlatformPids()
    {
        var path = Path.Combine(State, "local", "platform.json");
        var instances = new List<int>();
        int? haproxy = null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            if (root.TryGetProperty("Haproxy", out var h) && h.ValueKind == JsonValueKind.Object && h.TryGetProperty("Pid", out var hp))
            {
                haproxy = hp.GetInt32();
            }

            foreach (var service in root.GetProperty("Services").EnumerateArray())
            {
                foreach (var revision in service.GetProperty("Revisions").EnumerateArray())
                {
                    foreach (var instance in revision.GetProperty("Instances").EnumerateArray())
                    {
                        if (instance.TryGetProperty("Pid", out var pid) && pid.ValueKind == JsonValueKind.Number)
                        {
                            instances.Add(pid.GetInt32());
                        }
                    }
                }
            }
        }
        catch (Exception ex) when (ex is IOException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
        }

        return (haproxy, instances);
    }

    /// <summary>SIGTERM, wait for a clean stop; then check that HAProxy and the instances are gone (and end any that are not).</summary>
    public async Task<List<string>> StopAsync()
    {
        var problems = new List<string>();
        var (haproxy, instances) = PlatformPids();
        if (!_process.HasExited)
        {
            ProcFs.Terminate(_process.Id);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                problems.Add($"`backstay serve` (pid {_process.Id}) did not stop within 40 s of SIGTERM; killed");
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }

        await Task.Delay(500);
        foreach (var pid in instances.Append(haproxy ?? 0).Where(p => p > 0))
        {
            if (ProcFs.Alive(pid) && IsOurs(pid))
            {
                problems.Add($"process {pid} started by serve was still running after serve stopped; killed");
                ProcFs.KillHard(pid);
            }
        }

        return problems;
    }

    /// <summary>Guards against pid reuse: only HAProxy on this state directory, a hello instance or an image copied into the run's work directory counts.</summary>
    private bool IsOurs(int pid)
    {
        try
        {
            var cmd = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            return cmd.Contains(Path.GetDirectoryName(State)!, StringComparison.Ordinal) || cmd.Contains("hello.dll", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await StopAsync();
        }

        _process.Dispose();
    }
}
