using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Backstay.Bench;

/// <summary>--key value and --flag arguments.</summary>
internal sealed class Args
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public static Args Parse(IReadOnlyList<string> argv)
    {
        var args = new Args();
        for (var i = 0; i < argv.Count; i++)
        {
            var a = argv[i];
            if (!a.StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"unexpected argument '{a}'");
            }

            var key = a[2..];
            var eq = key.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                args._values[key[..eq]] = key[(eq + 1)..];
            }
            else if (i + 1 < argv.Count && !argv[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                args._values[key] = argv[++i];
            }
            else
            {
                args._values[key] = "true";
            }
        }

        return args;
    }

    public bool Has(string key) => _values.ContainsKey(key);

    public string? Get(string key) => _values.TryGetValue(key, out var v) ? v : null;

    public string Require(string key) => Get(key) ?? throw new ArgumentException($"--{key} is required");

    public int GetInt(string key, int fallback) =>
        Get(key) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
}

/// <summary>Medians and spreads.</summary>
internal static class Stats
{
    public static double? Median(IEnumerable<double> values) => Percentile(values, 0.5);

    /// <summary>Linear interpolation between closest ranks.</summary>
    public static double? Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).OrderBy(v => v).ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }

        var rank = p * (sorted.Length - 1);
        var lo = (int)Math.Floor(rank);
        var hi = (int)Math.Ceiling(rank);
        return sorted[lo] + ((sorted[hi] - sorted[lo]) * (rank - lo));
    }

    /// <summary>"median (min–max)", and p10–p90 when there are at least 10 values.</summary>
    public static string Spread(IEnumerable<double> values, string unit = "", string format = "0")
    {
        var list = values.Where(v => !double.IsNaN(v)).ToList();
        if (list.Count == 0)
        {
            return "–";
        }

        string F(double v) => NoNegativeZero(v.ToString(format, CultureInfo.InvariantCulture)) + unit;
        var median = Median(list)!.Value;
        if (list.Count == 1)
        {
            return $"{F(median)} (n=1)";
        }

        var s = $"{F(median)} ({F(list.Min())}–{F(list.Max())}";
        if (list.Count >= 10)
        {
            s += $"; p10–p90 {F(Percentile(list, 0.1)!.Value)}–{F(Percentile(list, 0.9)!.Value)}";
        }

        return s + $"; n={list.Count})";
    }

    public static string Num(double v, string format = "0") => NoNegativeZero(v.ToString(format, CultureInfo.InvariantCulture));

    private static string NoNegativeZero(string s) => s.StartsWith('-') && s.Trim('-', '0', '.').Length == 0 ? s[1..] : s;
}

/// <summary>Runs a child process to completion with a time limit; kills only that process tree on time-out.</summary>
internal static class Proc
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed, bool TimedOut);

    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout,
        string? workingDirectory = null, IDictionary<string, string>? env = null, CancellationToken cancel = default)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["NO_COLOR"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        if (env is not null)
        {
            foreach (var (k, v) in env)
            {
                info.Environment[k] = v;
            }
        }

        var sw = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        cts.CancelAfter(timeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }

            await process.WaitForExitAsync();
        }

        sw.Stop();
        return new Result(timedOut ? -1 : process.ExitCode, await stdout, await stderr, sw.Elapsed, timedOut);
    }
}

/// <summary>What /proc tells about a process and the machine.</summary>
internal static class ProcFs
{
    private const int SigTerm = 15;
    private const int SigKill = 9;
    public const double ClockTicksPerSecond = 100;

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int SysKill(int pid, int sig);

    public static void Terminate(int pid) => SysKill(pid, SigTerm);

    public static void KillHard(int pid) => SysKill(pid, SigKill);

    public static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state != "Z" && state != "X";
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Resident set size in KiB, or null when the process is gone.</summary>
    public static long? RssKb(int pid) => StatusField(pid, "VmRSS:");

    public static long? PeakRssKb(int pid) => StatusField(pid, "VmHWM:");

    public static int? Threads(int pid) => (int?)StatusField(pid, "Threads:");

    /// <summary>Proportional set size in KiB: shared pages split among the processes that map them.</summary>
    public static long? PssKb(int pid) => StatusField(pid, "Pss:", "smaps_rollup");

    /// <summary>The machine's (busy, total) CPU time in clock ticks since boot, from the first line of /proc/stat.</summary>
    public static (long Busy, long Total) MachineTicks()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..]
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        var total = fields.Take(8).Sum();
        var idle = fields[3] + fields[4];
        return (total - idle, total);
    }

    private static long? StatusField(int pid, string field, string file = "status")
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/{file}"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    var parts = line[field.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.Parse(parts[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    /// <summary>utime + stime in clock ticks.</summary>
    public static long? CpuTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After "pid (comm) ", field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12.
            return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }

    public static string CpuModel()
    {
        foreach (var line in File.ReadLines("/proc/cpuinfo"))
        {
            if (line.StartsWith("model name", StringComparison.Ordinal))
            {
                return line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
            }
        }

        return "unknown";
    }

    public static double MemTotalGiB() => MemInfoGiB("MemTotal:");

    /// <summary>Memory the kernel could give to new work without swapping.</summary>
    public static double MemAvailableGiB() => MemInfoGiB("MemAvailable:");

    private static double MemInfoGiB(string field)
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                var kb = long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                return kb / 1024.0 / 1024.0;
            }
        }

        return 0;
    }

    /// <summary>The soft limit on open files of a process, from /proc/PID/limits.</summary>
    public static string? OpenFilesLimit(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            return line?["Max open files".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        }
        catch (IOException)
        {
            return null;
        }
    }

    public static string LoadAverage() => File.ReadAllText("/proc/loadavg").Trim();

    public static string Kernel() => File.ReadAllText("/proc/sys/kernel/osrelease").Trim();

    /// <summary>Processes whose command line or working directory mentions path (for the leftover check).</summary>
    public static List<(int Pid, string Cmd)> ProcessesMentioning(string path)
    {
        var found = new List<(int, string)>();
        var self = Environment.ProcessId;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == self)
            {
                continue;
            }

            try
            {
                var cmd = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim();
                string? cwd = null;
                try
                {
                    cwd = new DirectoryInfo(Path.Combine(dir, "cwd")).LinkTarget;
                }
                catch (IOException)
                {
                }
                catch (UnauthorizedAccessException)
                {
                }

                if ((cmd.Contains(path, StringComparison.Ordinal) || (cwd?.StartsWith(path, StringComparison.Ordinal) ?? false)) && Alive(pid))
                {
                    found.Add((pid, cmd));
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return found;
    }
}

internal static class Net
{
    private static readonly HashSet<int> Given = [];

    /// <summary>
    /// A free loopback port for a service's listener, below the kernel's ephemeral range (ip_local_port_range), so that
    /// nothing binding port 0 (an instance, a client's outgoing connection) can take it before the deployment binds it.
    /// Each port is handed out once per run.
    /// </summary>
    public static int ListenerPort()
    {
        var low = 32768;
        try
        {
            low = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split('\t', ' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or FormatException)
        {
        }

        lock (Given)
        {
            for (var attempt = 0; attempt < 1000 && low > 2048; attempt++)
            {
                var port = Random.Shared.Next(Math.Max(1024, low - 12000), low);
                if (!Given.Add(port))
                {
                    continue;
                }

                try
                {
                    using var probe = new TcpListener(IPAddress.Loopback, port);
                    probe.Start();
                    return port;
                }
                catch (SocketException)
                {
                }
            }
        }

        return FreePort();
    }

    /// <summary>A loopback port that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

internal static class Text
{
    public static string Ms(double? v) => v is { } x ? x.ToString("0", CultureInfo.InvariantCulture) + " ms" : "–";

    public static string Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        var sb = new StringBuilder();
        sb.Append("| ").Append(string.Join(" | ", header)).AppendLine(" |");
        sb.Append('|').Append(string.Concat(header.Select(_ => " --- |"))).AppendLine();
        foreach (var row in rows)
        {
            sb.Append("| ").Append(string.Join(" | ", row.Select(c => c.Replace("|", "\\|", StringComparison.Ordinal)))).AppendLine(" |");
        }

        return sb.ToString();
    }
}
