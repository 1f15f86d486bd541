using Backstay.Cli.Runtime;
using Backstay.Platform.Local;

namespace Backstay.Cli.Infrastructure;

/// <summary>
/// Opens the control plane a command talks to: a controller given by --server or $BACKSTAY_SERVER, else the
/// `backstay serve` running on the state directory (found through its server.json, waited for while it starts), else a
/// runtime in this process on the state directory's store.
/// </summary>
internal static class ControlPlanes
{
    public static async Task<ControlSession> OpenAsync(ParseResult result, CancellationToken cancellationToken)
    {
        if (await OpenServerAsync(result, cancellationToken) is { } http)
        {
            return new ControlSession(http);
        }

        var state = GlobalOptions.StateDirectory(result);
        var runtime = await BackstayRuntime.StartAsync(new BackstayRuntimeOptions
        {
            Store = new RuntimeStore.Sqlite(state.Path),
            Region = result.GetValue(GlobalOptions.Region),
            ControllerRunning = state.ControllerRunning,
        }, cancellationToken);
        return new ControlSession(runtime.Control, runtime);
    }

    /// <summary>
    /// The controller, for commands only a controller can answer (tokens): as <see cref="OpenServer"/>, and one that holds
    /// the state directory but is still starting is waited for, as every other command does. Null when none runs.
    /// </summary>
    public static async Task<HttpControlPlane?> OpenServerAsync(ParseResult result, CancellationToken cancellationToken)
    {
        if (OpenServer(result) is { } http)
        {
            return http;
        }

        var state = GlobalOptions.StateDirectory(result);
        return await LocalServerOnceStartedAsync(state, cancellationToken) is { } local
            ? new HttpControlPlane(local, result.GetValue(GlobalOptions.Token) ?? Environment.GetEnvironmentVariable("BACKSTAY_TOKEN") ?? ReadToken(state))
            : null;
    }

    /// <summary>The controller given by --server or $BACKSTAY_SERVER, or the one serving the state directory; null when there is none.</summary>
    public static HttpControlPlane? OpenServer(ParseResult result)
    {
        var state = GlobalOptions.StateDirectory(result);
        var server = result.GetValue(GlobalOptions.Server) ?? Environment.GetEnvironmentVariable("BACKSTAY_SERVER");
        var token = result.GetValue(GlobalOptions.Token) ?? Environment.GetEnvironmentVariable("BACKSTAY_TOKEN");
        if (server is not null)
        {
            if (!Uri.TryCreate(server, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            {
                throw new CliException($"--server '{server}': give the controller's URL, e.g. http://127.0.0.1:7480");
            }

            return new HttpControlPlane(WithSlash(url), token ?? ReadToken(state));
        }

        return LocalServer(state) is { } local ? new HttpControlPlane(local, token ?? ReadToken(state)) : null;
    }

    /// <summary>How long a command waits for a controller that holds the state directory but is still starting to write its address.</summary>
    private static readonly TimeSpan StartingControllerWait = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The running controller's URL; waits while a controller is still starting, so that a request goes through it (and
    /// its platform's checks, e.g. whether a listener is free) rather than past it into the shared store.
    /// </summary>
    private static async Task<Uri?> LocalServerOnceStartedAsync(StateDirectory state, CancellationToken cancellationToken)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            if (LocalServer(state) is { } url)
            {
                return url;
            }

            if (!state.ControllerRunning() || waited.Elapsed > StartingControllerWait)
            {
                return null;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
    }

    /// <summary>
    /// The URL of the controller serving this state directory, when one runs and has written its address. A
    /// controller still starting (or a server.json left by one that was killed) gives null: the CLI then works
    /// on the shared store, which the running controller reads too.
    /// </summary>
    public static Uri? LocalServer(StateDirectory state)
    {
        var file = Path.Combine(state.Path, "server.json");
        if (!File.Exists(file) || !state.ControllerRunning())
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(file));
            var root = document.RootElement;
            return root.TryGetProperty("pid", out var pid) && pid.TryGetInt32(out var writer) && Processes.IsAlive(writer)
                && root.TryGetProperty("url", out var url) && Uri.TryCreate(url.GetString(), UriKind.Absolute, out var uri) ? WithSlash(uri) : null;
        }
        catch (Exception ex) when (ex is IOException or JsonException)
        {
            return null;
        }
    }

    private static string? ReadToken(StateDirectory state)
    {
        var file = Path.Combine(state.Path, "token");
        try
        {
            return File.Exists(file) ? File.ReadAllText(file).Trim() : null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static Uri WithSlash(Uri url) => url.AbsoluteUri.EndsWith('/') ? url : new Uri(url.AbsoluteUri + "/");
}

/// <summary>The control plane a command talks to, with the runtime in this process behind it when no controller answers.</summary>
internal sealed class ControlSession(IControlPlane control, BackstayRuntime? runtime = null) : IAsyncDisposable
{
    public IControlPlane Control => control;

    /// <summary>The runtime in this process, on the state directory's store; null when a controller answers.</summary>
    public BackstayRuntime? Runtime => runtime;

    public ValueTask DisposeAsync() => runtime?.DisposeAsync() ?? control.DisposeAsync();
}
