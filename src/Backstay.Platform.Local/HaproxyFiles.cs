// Where HAProxy's files live: the executable, haproxy.cfg, the server state handed over on reload, the runtime socket
// and its log. Fixed at start (the socket path comes from platform.json when there is one, so an adopted HAProxy is
// still reachable), so it is a plain record.
using System.Security.Cryptography;
using System.Text;

namespace Backstay.Platform.Local;

/// <summary>The paths HAProxy is started with and controlled through.</summary>
internal sealed record HaproxyFiles(string Executable, string Directory, string ConfigPath, string ServerStatePath, string SocketPath, string LogPath)
{
    /// <summary>The files under local/ and logs/ of the state directory; the recorded socket path when there is one.</summary>
    public static HaproxyFiles In(string localDirectory, string logDirectory, string executable, string? recordedSocketPath) => new(
        executable,
        localDirectory,
        Path.Combine(localDirectory, "haproxy.cfg"),
        Path.Combine(localDirectory, "haproxy.state"),
        recordedSocketPath ?? ChooseSocketPath(localDirectory),
        Path.Combine(logDirectory, "haproxy.log"));

    /// <summary>Deletes the socket, and its directory under /tmp when Backstay made one for it.</summary>
    public static void DeleteSocket(string socketPath)
    {
        try
        {
            File.Delete(socketPath);
            var directory = Path.GetDirectoryName(socketPath);
            if (directory is not null
                && Path.GetFileName(directory).StartsWith("backstay-", StringComparison.Ordinal)
                && !System.IO.Directory.EnumerateFileSystemEntries(directory).Any())
            {
                System.IO.Directory.Delete(directory);
            }
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The runtime socket goes in the state directory unless that path is too long for a unix socket (HAProxy adds a suffix while binding).</summary>
    private static string ChooseSocketPath(string localDirectory)
    {
        var path = Path.Combine(localDirectory, "haproxy.sock");
        if (path.Length <= 100)
        {
            return path;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(localDirectory)))[..12];
        return Path.Combine(Path.GetTempPath(), "backstay-" + hash, "haproxy.sock");
    }
}
