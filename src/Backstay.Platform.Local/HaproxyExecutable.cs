// The haproxy binary: found and version-checked once at start, then asked to check every new config before it
// replaces the one in place. Kept apart from HaproxyRuntime because it runs short commands and holds no state.
using System.Diagnostics;
using System.Globalization;
using Backstay.Core.Ports;

namespace Backstay.Platform.Local;

/// <summary>Finds haproxy (2.4 or newer) and runs its short commands: -v and -c.</summary>
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

    /// <summary>Fails with HAProxy's own words when it rejects the config file.</summary>
    public static async Task CheckConfigAsync(string haproxy, string configFile, CancellationToken cancellationToken)
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
