using Backstay.Core.Model;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Backstay.Server.Hosting;

/// <summary>
/// `&lt;state&gt;/server.json`: `{"url": ..., "pid": ...}` while the controller listens, so a CLI on the same state
/// directory finds it. Written once the port is known (port 0 resolves to the real one), removed at stop.
/// </summary>
internal sealed class ServerFile(string stateDirectory, ListenAddress listen, IServer server, ILogger logger)
{
    public const string FileName = "server.json";

    public string Path { get; } = System.IO.Path.Combine(stateDirectory, FileName);

    /// <summary>The URL clients on this machine use, once listening.</summary>
    public string? Url { get; private set; }

    public void Write()
    {
        var bound = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("The server started without an address.");
        var port = new Uri(bound.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal)).Port;
        Url = listen.LocalUrl(port);
        ServerLog.Listening(logger, Url);
        try
        {
            StateFiles.CreateDirectory(stateDirectory);
            StateFiles.WriteAllText(Path, BackstayJson.Serialize(new ServerInfo(Url, Environment.ProcessId), Api.ApiJson.Options) + "\n");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ServerLog.ServerFileFailed(logger, ex, Path);
        }
    }

    /// <summary>Removes the file if it still names this process (another controller may have replaced it).</summary>
    public void Delete()
    {
        try
        {
            if (Read(Path) is { } info && info.Pid == Environment.ProcessId && string.Equals(info.Url, Url, StringComparison.Ordinal))
            {
                File.Delete(Path);
                ServerLog.Stopped(logger, Path);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ServerLog.ServerFileFailed(logger, ex, Path);
        }
    }

    public static ServerInfo? Read(string path)
    {
        try
        {
            return File.Exists(path) ? BackstayJson.Deserialize<ServerInfo>(File.ReadAllText(path), Api.ApiJson.Options) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>The content of server.json.</summary>
internal sealed record ServerInfo(
    [property: System.Text.Json.Serialization.JsonPropertyName("url")] string Url,
    [property: System.Text.Json.Serialization.JsonPropertyName("pid")] int Pid);
