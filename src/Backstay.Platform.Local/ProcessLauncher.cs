using System.Diagnostics;

namespace Backstay.Platform.Local;

/// <summary>A process started in its own session, with its pid and start time (to tell it from a later process that reuses the pid).</summary>
internal sealed record LaunchedProcess(int Pid, long StartTicks, Process Process);

/// <summary>Starts processes detached from Backstay (own session, output to a log file) so they outlive it.</summary>
internal static class ProcessLauncher
{
    private const string SetsidPath = "/usr/bin/setsid";

    // The shell redirects output itself, so no pipe ties the process to Backstay; exec keeps one pid from sh through setsid to the program.
    private const string Script = "log=$1; shift; exec " + SetsidPath + " \"$@\" >>\"$log\" 2>&1 </dev/null";

    public static async Task<LaunchedProcess> StartAsync(
        string fileName,
        IEnumerable<string> args,
        IReadOnlyDictionary<string, string> environment,
        string workingDirectory,
        string logPath,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var info = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(Script);
        info.ArgumentList.Add("backstay-launch");
        info.ArgumentList.Add(logPath);
        info.ArgumentList.Add(fileName);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new PlatformException($"Could not start {fileName}.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new PlatformException($"Could not start {fileName}: {ex.Message}", ex);
        }

        var pid = process.Id;
        var first = ProcFs.ReadStat(pid);
        var startTicks = first?.StartTicks ?? 0;

        // Wait until sh has become setsid and setsid has become the program: then the pid is the program's,
        // and it leads its own session (setsid did not have to fork).
        var deadline = time.GetTimestamp() + time.TimestampFrequency;
        while (true)
        {
            var stat = ProcFs.ReadStat(pid);
            if (stat is null || stat.IsZombie)
            {
                break;
            }

            if (stat.Session == pid && stat.Command is not ("sh" or "dash" or "setsid"))
            {
                break;
            }

            if (time.GetTimestamp() > deadline)
            {
                if (stat.Session != pid)
                {
                    process.Kill(entireProcessTree: true);
                    process.Dispose();
                    throw new PlatformException($"Could not start {fileName} in its own session: pid {pid} is still '{stat.Command}' after 1 s.");
                }

                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(2), time, cancellationToken);
        }

        return new LaunchedProcess(pid, startTicks, process);
    }

    /// <summary>Finds an executable on PATH, or null.</summary>
    public static string? FindOnPath(string name, params string[] fallbacks)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var directory in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return fallbacks.FirstOrDefault(File.Exists);
    }

    /// <summary>The dotnet host that runs .dll images: the one running Backstay when it is dotnet, else the one on PATH.</summary>
    public static string FindDotnet()
    {
        var hostPath = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(hostPath) && File.Exists(hostPath))
        {
            return hostPath;
        }

        var self = Environment.ProcessPath;
        if (self is not null && string.Equals(Path.GetFileNameWithoutExtension(self), "dotnet", StringComparison.Ordinal))
        {
            return self;
        }

        return FindOnPath("dotnet", "/usr/share/dotnet/dotnet", "/usr/lib/dotnet/dotnet", "/usr/local/share/dotnet/dotnet")
            ?? throw new PlatformException("The dotnet host was not found on PATH; it is needed to run .dll images. Install the .NET runtime or put dotnet on PATH.");
    }
}
