// The haproxy binary: found and version-checked once at start; a new config checked with -c and started, or a running
// HAProxy reloaded seamlessly. Kept apart from HaproxyRuntime, which decides when to launch and keeps the process:
// this file only knows how, and holds no state.
using System.Diagnostics;

namespace Backstay.Platform.Local;

/// <summary>Finds haproxy (2.4 or newer), checks configs and starts it.</summary>
internal static class HaproxyExecutable
{
    private const string Install = "The local platform needs HAProxy 2.4 or newer: install it with `apt-get install -y haproxy` (Debian/Ubuntu), or set the path to haproxy in the options.";

    /// <summary>The path of a haproxy of version 2.4 or newer; the configured one, else the one on PATH or in /usr/sbin.</summary>
    public static async Task<string> FindAsync(string? configured, CancellationToken cancellationToken)
    {
        var path = configured ?? ProcessLauncher.FindOnPath("haproxy", "/usr/sbin/haproxy", "/usr/local/sbin/haproxy");
        if (path is null || !File.Exists(path))
        {
            throw new PlatformException($"HAProxy was not found{(configured is null ? " on PATH or in /usr/sbin" : $" at {configured}")}. {Install}");
        }

        var (exitCode, output) = await RunAsync(path, ["-v"], cancellationToken);
        var version = ParseVersion(output);
        if (exitCode != 0 || version is null)
        {
            throw new PlatformException($"{path} -v did not report a HAProxy version. {Install}");
        }

        if (version < new Version(2, 4))
        {
            throw new PlatformException($"{path} is HAProxy {version}. {Install}");
        }

        return path;
    }

    internal static Version? ParseVersion(string output)
    {
        const string Marker = "version ";
        var at = output.IndexOf(Marker, StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            return null;
        }

        var text = new string([.. output[(at + Marker.Length)..].TakeWhile(c => char.IsDigit(c) || c == '.')]);
        var parts = text.Split('.', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor)
            ? new Version(major, minor)
            : null;
    }

    /// <summary>
    /// Starts HAProxy with the config, after haproxy -c unless it is the config in place (which passed before); given the
    /// pid of the running one, reloads seamlessly (-x, -sf) from its server state. Returns once the new process answers on
    /// the runtime socket; puts the previous config file back when it does not.
    /// </summary>
    public static async Task<LaunchedProcess> LaunchAsync(HaproxyFiles files, HaproxyClient client, string config, int? replacing, TimeProvider time, CancellationToken cancellationToken)
    {
        var candidate = files.ConfigPath + ".new";
        var previous = File.Exists(files.ConfigPath) ? await File.ReadAllTextAsync(files.ConfigPath, cancellationToken) : null;
        await File.WriteAllTextAsync(candidate, config, cancellationToken);

        // The config in place passed this check before it was moved there: a restart after a crash need not wait for it again.
        if (previous != config)
        {
            await CheckConfigAsync(files.Executable, candidate, cancellationToken);
        }

        var args = new List<string> { "-f", files.ConfigPath };
        if (replacing is { } old)
        {
            // The new process starts from the old one's server addresses, states and weights, and takes its listening sockets over.
            var state = await client.SendToServingAsync("show servers state", cancellationToken);
            await File.WriteAllTextAsync(files.ServerStatePath, state, cancellationToken);
            args.AddRange(["-x", files.SocketPath, "-sf", old.ToString(CultureInfo.InvariantCulture)]);
        }
        else
        {
            // A fresh start must not trust state or a socket left by an earlier process; the runtime state is pushed again after start.
            File.Delete(files.ServerStatePath);
            File.Delete(files.SocketPath);
        }

        File.Move(candidate, files.ConfigPath, overwrite: true);
        try
        {
            var launched = await ProcessLauncher.StartAsync(files.Executable, args, new Dictionary<string, string>(), files.Directory, files.LogPath, time, cancellationToken);
            await WaitUntilServingAsync(files, client, launched, time, cancellationToken);
            return launched;
        }
        catch
        {
            if (previous is null)
            {
                File.Delete(files.ConfigPath);
            }
            else
            {
                await File.WriteAllTextAsync(files.ConfigPath, previous, CancellationToken.None);
            }

            throw;
        }
    }

    /// <summary>Waits until the new process answers on the runtime socket with its own pid; fails with its log when it exits.</summary>
    private static async Task WaitUntilServingAsync(HaproxyFiles files, HaproxyClient client, LaunchedProcess launched, TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = time.GetTimestamp() + (10 * time.TimestampFrequency);
        while (true)
        {
            if (!ProcFs.IsRunning(launched.Pid, launched.StartTicks))
            {
                launched.Process.Dispose();
                throw new PlatformException($"HAProxy exited right after start. Last lines of {files.LogPath}:\n{ProcFs.Tail(files.LogPath)}");
            }

            if (await client.TryGetPidAsync(cancellationToken) == launched.Pid)
            {
                return;
            }

            if (time.GetTimestamp() > deadline)
            {
                await ProcFs.StopAsync(launched.Pid, launched.StartTicks, TimeSpan.FromSeconds(1), time, ProcFs.SigKill);
                launched.Process.Dispose();
                throw new PlatformException($"HAProxy did not answer on {files.SocketPath} within 10 s. Last lines of {files.LogPath}:\n{ProcFs.Tail(files.LogPath)}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), time, cancellationToken);
        }
    }

    /// <summary>Fails with HAProxy's own words when it rejects the config file.</summary>
    private static async Task CheckConfigAsync(string haproxy, string configFile, CancellationToken cancellationToken)
    {
        var (exitCode, output) = await RunAsync(haproxy, ["-c", "-q", "-f", configFile], cancellationToken);
        if (exitCode != 0)
        {
            File.Delete(configFile);
            throw new PlatformException($"HAProxy rejected the configuration Backstay generated ({haproxy} -c -f {configFile}):\n{output.Trim()}");
        }
    }

    /// <summary>Runs a short command and returns its exit code and combined output.</summary>
    private static async Task<(int ExitCode, string Output)> RunAsync(string fileName, IEnumerable<string> args, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new PlatformException($"Could not run {fileName}.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new PlatformException($"{fileName} {string.Join(' ', info.ArgumentList)} did not finish within 30 s.");
        }

        return (process.ExitCode, (await stdout) + (await stderr));
    }
}
