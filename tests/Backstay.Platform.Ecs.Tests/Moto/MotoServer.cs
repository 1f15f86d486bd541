using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Backstay.Platform.Ecs.Tests.Moto;

/// <summary>
/// A moto server (python3 -m moto.server) on a free loopback port, started once for the test collection, with the
/// process environment pointing the AWS SDK chain and Backstay's endpoint resolution at it, and dummy credentials.
/// </summary>
public sealed class MotoServer : IAsyncLifetime
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly IReadOnlyDictionary<string, string> _serverEnvironment;
    private readonly bool _exportEndpoint;
    private Process? _process;

    public MotoServer()
        : this(new Dictionary<string, string>(StringComparer.Ordinal), exportEndpoint: true)
    {
    }

    /// <summary>A server started with extra settings of moto's own (e.g. MOTO_ECS_SERVICE_RUNNING), which leaves the process environment alone.</summary>
    internal MotoServer(IReadOnlyDictionary<string, string> serverEnvironment, bool exportEndpoint)
    {
        _serverEnvironment = serverEnvironment;
        _exportEndpoint = exportEndpoint;
    }

    public Uri Endpoint { get; private set; } = null!;

    public const string Region = "us-east-1";

    /// <summary>moto's request log (its recorder): one JSON line per request it answered, in the order it answered them.</summary>
    public MotoRequestLog RequestLog { get; } = new(Path.Combine(Path.GetTempPath(), $"backstay-moto-{Guid.NewGuid():N}.jsonl"));

    public async Task InitializeAsync()
    {
        var port = FreePort();
        Endpoint = new Uri($"http://127.0.0.1:{port}");
        var start = new ProcessStartInfo("python3", ["-m", "moto.server", "-H", "127.0.0.1", "-p", port.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["MOTO_ALLOW_NONEXISTENT_REGION"] = "true";
        start.Environment["MOTO_ENABLE_RECORDING"] = "True";
        start.Environment["MOTO_RECORDER_FILEPATH"] = RequestLog.Path;
        foreach (var (name, value) in _serverEnvironment)
        {
            start.Environment[name] = value;
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("python3 -m moto.server did not start; install moto (pip install 'moto[server]').");

        // Its console log is not needed (the recorder keeps the requests), but the pipes must be drained or the server blocks once they fill up.
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        if (_exportEndpoint)
        {
            Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "testing");
            Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "testing");
            Environment.SetEnvironmentVariable("AWS_SESSION_TOKEN", null);
            Environment.SetEnvironmentVariable("AWS_REGION", Region);
            Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL", Endpoint.ToString());
            Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"moto server exited with code {_process.ExitCode} before answering.");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(Endpoint, "/moto-api/data.json"));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (watch.Elapsed > StartTimeout)
            {
                throw new TimeoutException($"moto server did not answer on {Endpoint} within {StartTimeout}.");
            }

            await Task.Delay(100);
        }
    }

    public async Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        _process?.Dispose();
        File.Delete(RequestLog.Path);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class MotoCollection : ICollectionFixture<MotoServer>
{
    public const string Name = "moto";
}
