using System.Runtime.InteropServices;

namespace Backstay.Platform.Local;

/// <summary>What /proc/PID/stat says about a process.</summary>
internal sealed record ProcStat(int Pid, string Command, char State, int ProcessGroup, int Session, long StartTicks)
{
    public bool IsZombie => State is 'Z' or 'X' or 'x';
}

/// <summary>Process facts from /proc and signals through libc, for processes Backstay did not necessarily start itself.</summary>
internal static partial class ProcFs
{
    public const int SigKill = 9;
    public const int SigUsr1 = 10;
    public const int SigTerm = 15;

    public static ProcStat? ReadStat(int pid)
    {
        if (pid <= 0)
        {
            return null;
        }

        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        return ParseStat(pid, text);
    }

    /// <summary>Parses /proc/PID/stat; the command sits in parentheses and may itself contain spaces and parentheses.</summary>
    public static ProcStat? ParseStat(int pid, string text)
    {
        var open = text.IndexOf('(', StringComparison.Ordinal);
        var close = text.LastIndexOf(')');
        if (open < 0 || close < open)
        {
            return null;
        }

        var command = text[(open + 1)..close];
        var fields = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);

        // fields[0] is field 3 (state) of proc(5); field N is fields[N - 3].
        if (fields.Length < 20
            || !int.TryParse(fields[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var group)
            || !int.TryParse(fields[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var session)
            || !long.TryParse(fields[19], NumberStyles.Integer, CultureInfo.InvariantCulture, out var startTicks))
        {
            return null;
        }

        return new ProcStat(pid, command, fields[0][0], group, session, startTicks);
    }

    /// <summary>Whether the process with this pid is still the one that was started at startTicks, and not a zombie.</summary>
    public static bool IsRunning(int pid, long startTicks)
    {
        var stat = ReadStat(pid);
        return stat is not null && !stat.IsZombie && stat.StartTicks == startTicks;
    }

    /// <summary>As <see cref="IsRunning(int, long)"/>, asking first the handle of a process this Backstay started, which knows of its exit at once.</summary>
    public static bool IsRunning(System.Diagnostics.Process? handle, int pid, long startTicks)
    {
        try
        {
            if (handle is { HasExited: true })
            {
                return false;
            }
        }
        catch (InvalidOperationException)
        {
        }

        return IsRunning(pid, startTicks);
    }

    /// <summary>Signals the process group the process leads (it was started with setsid), or the process alone when it leads none.</summary>
    public static void Signal(int pid, long startTicks, int signal)
    {
        var stat = ReadStat(pid);
        if (stat is null || stat.StartTicks != startTicks)
        {
            return;
        }

        if (stat.ProcessGroup == pid && Kill(-pid, signal) == 0)
        {
            return;
        }

        _ = Kill(pid, signal);
    }

    /// <summary>SIGTERM, then SIGKILL after the grace period; returns when the process is gone (or a zombie).</summary>
    public static async Task StopAsync(int pid, long startTicks, TimeSpan grace, TimeProvider time, int signal = SigTerm)
    {
        if (!IsRunning(pid, startTicks))
        {
            return;
        }

        Signal(pid, startTicks, signal);
        if (await WaitForExitAsync(pid, startTicks, grace, time))
        {
            return;
        }

        Signal(pid, startTicks, SigKill);
        await WaitForExitAsync(pid, startTicks, TimeSpan.FromSeconds(5), time);
    }

    public static async Task<bool> WaitForExitAsync(int pid, long startTicks, TimeSpan timeout, TimeProvider time)
    {
        var deadline = time.GetTimestamp() + (long)(timeout.TotalSeconds * time.TimestampFrequency);
        while (IsRunning(pid, startTicks))
        {
            if (time.GetTimestamp() >= deadline)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), time);
        }

        return true;
    }

    /// <summary>How the process ended; a child of this process reports its exit code (which /proc may show gone a moment before .NET has it).</summary>
    public static async Task<string> DescribeExitAsync(int pid, System.Diagnostics.Process? handle, TimeProvider time)
    {
        if (handle is not null)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1), time);
                await handle.WaitForExitAsync(timeout.Token);
                var code = handle.ExitCode;
                if (code > 128)
                {
                    var signal = code - 128;
                    var name = signal switch { 9 => " (SIGKILL)", 15 => " (SIGTERM)", 6 => " (SIGABRT)", 11 => " (SIGSEGV)", 2 => " (SIGINT)", _ => "" };
                    return string.Create(CultureInfo.InvariantCulture, $"(pid {pid}) was killed by signal {signal}{name}");
                }

                return string.Create(CultureInfo.InvariantCulture, $"(pid {pid}) exited with code {code}");
            }
            catch (OperationCanceledException)
            {
            }
            catch (InvalidOperationException)
            {
            }
        }

        return string.Create(CultureInfo.InvariantCulture, $"(pid {pid}) is gone (its exit code is unknown: an earlier Backstay process started it)");
    }

    /// <summary>The last lines of a log file, for messages about a process that died.</summary>
    public static string Tail(string path, int lines = 10, int maxBytes = 4096)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var start = Math.Max(0, stream.Length - maxBytes);
            stream.Seek(start, SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            var text = reader.ReadToEnd();
            var all = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var skipFirst = start > 0 ? 1 : 0;
            return string.Join('\n', all.Skip(skipFirst).TakeLast(lines));
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
