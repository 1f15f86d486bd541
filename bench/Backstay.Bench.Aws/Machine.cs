using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Backstay.Bench.Aws;

/// <summary>The machine and versions a result comes from, and the moto process found by its port in /proc.</summary>
internal static class Machine
{
    public static Dictionary<string, string> Describe(string cli)
    {
        string Read(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : "?";
        var memory = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)) ?? "";
        var kib = long.TryParse(memory.Split(' ', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1), out var k) ? k : 0;
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["Machine"] = $"{Environment.ProcessorCount} CPUs, {kib / 1024.0 / 1024.0:0.0} GiB memory, {cpu}, {RuntimeInformation.OSDescription}",
            ["Load at start"] = Read("/proc/loadavg"),
            [".NET"] = RuntimeInformation.FrameworkDescription,
            ["Backstay"] = $"`{Output("dotnet", cli, "--version")}`, `{cli}`",
            ["Source"] = Source(cli),
            ["moto"] = Output("python3", "-c", "import moto; print(moto.__version__)"),
        };
    }

    /// <summary>The commit the repository is at and whether src/ differs from it (the CLI is built from the working tree).</summary>
    private static string Source(string cli)
    {
        var repo = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(cli)!, "../../../../.."));
        if (!Directory.Exists(Path.Combine(repo, ".git")) && !File.Exists(Path.Combine(repo, ".git")))
        {
            return "?";
        }

        var commit = Output("git", "-C", repo, "log", "-1", "--format=%h %s");
        var dirty = Output("git", "-C", repo, "status", "--porcelain", "--", "src");
        var built = File.GetLastWriteTimeUtc(cli).ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture);
        return $"commit `{commit.Split(' ')[0]}` ({commit[(commit.IndexOf(' ', StringComparison.Ordinal) + 1)..]}); CLI built {built} UTC" +
            (dirty.Length == 0 ? "" : $"; uncommitted changes in src/ at the time of the run: {string.Join(", ", dirty.Split('\n').Select(l => l.Trim()))}");
    }

    /// <summary>The pid of `python3 -m moto.server ... -p PORT`, from /proc (to kill it if the runner itself is stopped).</summary>
    public static int? FindMoto(int port)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                var p = Array.IndexOf(args, "-p");
                if (args.Contains("moto.server") && p >= 0 && p + 1 < args.Length && args[p + 1] == port.ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return null;
    }

    /// <summary>Running (not a zombie).</summary>
    public static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].FirstOrDefault();
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static void Kill(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(entireProcessTree: true);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
        }
    }

    public static string Output(string file, params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args)
            {
                info.ArgumentList.Add(a);
            }

            using var process = Process.Start(info)!;
            var text = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(30_000))
            {
                process.Kill(entireProcessTree: true);
                return "?";
            }

            return text.Result.Trim();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return "?";
        }
    }
}
