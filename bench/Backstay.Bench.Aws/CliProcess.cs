using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace Backstay.Bench.Aws;

/// <summary>What one `backstay` process did: exit code, wall time, its JSON report and the access key it signed with.</summary>
internal sealed record CliResult(string Key, string[] Args, int ExitCode, double WallMs, string Stdout, string Stderr, bool TimedOut)
{
    public JsonElement? Report
    {
        get
        {
            try
            {
                return JsonDocument.Parse(Stdout).RootElement;
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }

    public string Outcome => Report is { ValueKind: JsonValueKind.Object } r && r.TryGetProperty("outcome", out var o) ? o.GetString() ?? "?" : TimedOut ? "TimedOut" : $"exit {ExitCode}";

    /// <summary>The apiCalls field of the report: total and by "service:Operation"; null when it is missing.</summary>
    public (int Total, Dictionary<string, int> ByOperation)? ApiCalls
    {
        get
        {
            if (Report is not { ValueKind: JsonValueKind.Object } r || !r.TryGetProperty("apiCalls", out var calls) || calls.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            var by = new Dictionary<string, int>(StringComparer.Ordinal);
            if (calls.TryGetProperty("byOperation", out var ops) && ops.ValueKind == JsonValueKind.Object)
            {
                foreach (var op in ops.EnumerateObject())
                {
                    by[op.Name] = op.Value.GetInt32();
                }
            }

            var total = calls.TryGetProperty("total", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetInt32() : by.Values.Sum();
            return (total, by);
        }
    }

    public string Brief => $"exit {ExitCode}{(TimedOut ? " (timed out, killed)" : "")}: {Trim(Stderr)} {Trim(Stdout)}";

    private static string Trim(string s) => s.Length > 600 ? s[..600] + "…" : s.Trim();
}

/// <summary>
/// Starts the real `backstay` CLI (`dotnet backstay.dll`), each process with its own AWS access key so that moto's
/// request log tells its calls apart, pointed at moto by AWS_ENDPOINT_URL (set by MotoServer in this process and
/// inherited). Every process is bounded in time and killed at the end if still there.
/// </summary>
internal sealed class CliProcess(string cliDll)
{
    private static int _sequence;
    private readonly ConcurrentDictionary<int, Process> _running = new();
    private readonly string _run = DateTime.UtcNow.ToString("HHmmss", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A fresh access key id: BENCH, the run's time, a sequence number (20 characters, like a real one).</summary>
    public string NewKey() => $"BENCH{_run}{Interlocked.Increment(ref _sequence):D9}";

    public int Started { get; private set; }

    public Process Start(string workDirectory, string key, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = workDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(cliDll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["NO_COLOR"] = "1";
        info.Environment["AWS_ACCESS_KEY_ID"] = key;
        info.Environment["AWS_SECRET_ACCESS_KEY"] = "bench-secret";
        info.Environment.Remove("AWS_SESSION_TOKEN");
        info.Environment.Remove("AWS_PROFILE");
        info.Environment.Remove("BACKSTAY_STATE");
        info.Environment.Remove("BACKSTAY_SERVER");
        var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
        _running[process.Id] = process;
        Started++;
        return process;
    }

    public async Task<CliResult> RunAsync(string workDirectory, TimeSpan limit, params string[] args)
    {
        var key = NewKey();
        var watch = Stopwatch.StartNew();
        using var process = Start(workDirectory, key, args);
        return await WaitAsync(process, key, args, watch, limit);
    }

    /// <summary>Waits for a started process (killing it after <paramref name="limit"/>); the wall time is the watch's.</summary>
    public async Task<CliResult> WaitAsync(Process process, string key, string[] args, Stopwatch watch, TimeSpan limit)
    {
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync().WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            timedOut = true;
            Kill(process);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        watch.Stop();
        var result = new CliResult(key, args, process.ExitCode, watch.Elapsed.TotalMilliseconds,
            await stdout.WaitAsync(TimeSpan.FromSeconds(10)), await stderr.WaitAsync(TimeSpan.FromSeconds(10)), timedOut);
        _running.TryRemove(process.Id, out _);
        return result;
    }

    /// <summary>Kills every process this runner started that is still running; returns how many it had to kill.</summary>
    public int KillAll()
    {
        var killed = 0;
        foreach (var (id, process) in _running)
        {
            try
            {
                if (!process.HasExited)
                {
                    Kill(process);
                    killed++;
                }
            }
            catch (InvalidOperationException)
            {
            }

            _running.TryRemove(id, out _);
        }

        return killed;
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }
}
