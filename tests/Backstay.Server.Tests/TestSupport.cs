using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Backstay.Core.Control;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Microsoft.Extensions.Logging;

namespace Backstay.Server.Tests;

/// <summary>Awaits with a time limit, so a hung server or browser fails the test instead of hanging the run.</summary>
internal static class TimeoutExtensions
{
    public static Task Within(this Task task, double seconds) => task.WaitAsync(TimeSpan.FromSeconds(seconds));

    public static Task<T> Within<T>(this Task<T> task, double seconds) => task.WaitAsync(TimeSpan.FromSeconds(seconds));

    public static Task Within(this ValueTask task, double seconds) => task.AsTask().WaitAsync(TimeSpan.FromSeconds(seconds));
}

/// <summary>The JSON a client of the API uses: the same options as the CLI's (Web defaults, enums as strings).</summary>
internal static class ClientJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}

/// <summary>Specs for the hello sample on free loopback ports, one service per test.</summary>
internal static class Specs
{
    private static int _counter;

    public static string NewService(string prefix) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}{Interlocked.Increment(ref _counter)}-{Guid.NewGuid().ToString("N")[..4]}");

    public static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>One hello instance; canary with a pause (pausing: true) or a quick canary without one.</summary>
    public static ServiceSpec Canary(string service, bool pausing) => new()
    {
        Service = service,
        Platform = new PlatformSpec
        {
            Local = new LocalPlatformSpec { Instances = 1, ProductionListener = "127.0.0.1:" + FreePort().ToString(CultureInfo.InvariantCulture) },
        },
        Task = new TaskSpec
        {
            Image = "builtin:hello",
            StartTimeout = TimeSpan.FromSeconds(20),
            HealthCheck = new HealthCheckSpec
            {
                Path = "/healthz",
                // The timeout must be shorter than the interval, as `backstay validate` requires, which the API now checks too.
                Interval = TimeSpan.FromMilliseconds(500),
                Timeout = TimeSpan.FromMilliseconds(400),
                HealthyThreshold = 1,
                UnhealthyThreshold = 2,
            },
        },
        Strategy = new StrategySpec
        {
            Canary = new CanarySpec
            {
                Steps = pausing
                    ? [new SetWeightStep(50), new PauseStep(null), new SetWeightStep(100)]
                    : [new SetWeightStep(50), new SetWeightStep(100)],
            },
        },
        Analysis = new AnalysisSpec
        {
            Window = TimeSpan.FromSeconds(5),
            MinRequests = 1000,
            MaxErrorRate = 0.05,
            MaxLatencyP99 = TimeSpan.FromMilliseconds(300),
            ConsecutiveFailures = 2,
        },
    };

    public static DeployRequest Request(ServiceSpec spec, string greeting, string? commit = null) => new()
    {
        Spec = spec,
        Env = new Dictionary<string, string> { ["GREETING"] = greeting },
        Provenance = new Provenance { Commit = commit ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20)), Message = "release " + greeting, Author = "Test Author" },
    };
}

/// <summary>Load on a service's production listener, for tests that need figures (charts, series).</summary>
internal static class TrafficLoad
{
    /// <summary>Requests to the service's production listener for a while, so the charts have figures to show; bounded in time and count.</summary>
    public static async Task SendAsync(Backstay.Core.Spec.ServiceSpec spec, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        using var http = new HttpClient { BaseAddress = new Uri("http://" + spec.Platform.Local!.ProductionListener), Timeout = TimeSpan.FromSeconds(2) };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(duration);
        var sent = 0;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            while (!stop.IsCancellationRequested && Interlocked.Increment(ref sent) < 4000)
            {
                try
                {
                    using var response = await http.GetAsync(new Uri("/", UriKind.Relative), stop.Token);
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
                {
                }

                await Task.Delay(5, CancellationToken.None);
            }
        })).Within(duration.TotalSeconds + 10);
        await Task.Delay(1500);
    }
}

/// <summary>Pins builtin:hello to the SHA-256 of hello.dll, as the CLI's resolver does, so revisions carry a digest.</summary>
internal sealed class TestImageResolver : IImageResolver
{
    public static string HelloDll => Path.Combine(AppContext.BaseDirectory, "hello.dll");

    public async Task<ResolvedImage> ResolveAsync(ServiceSpec spec, string image, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(HelloDll);
        return new ResolvedImage(image, "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken)));
    }
}

/// <summary>Every log line of the host, kept for assertions (and for reading after a failure).</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<(LogLevel Level, string Category, string Message)> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    public string Text => string.Join('\n', Lines.Select(l => $"{l.Level} {l.Category}: {l.Message}"));

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue((logLevel, category, formatter(state, exception) + (exception is null ? "" : " " + exception)));
    }
}

/// <summary>A client of the controller's API with a token (or none), reading answers into the Core types.</summary>
internal sealed class ApiClient : IDisposable
{
    private readonly HttpClient _http;

    public ApiClient(Uri baseUrl, string? token, string? user = null)
    {
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (user is not null)
        {
            _http.DefaultRequestHeaders.Add("X-Backstay-User", user);
        }
    }

    public HttpClient Http => _http;

    public Task<HttpResponseMessage> GetAsync(string path) => _http.GetAsync(new Uri(path, UriKind.Relative));

    public Task<HttpResponseMessage> PostAsync(string path, object? body) =>
        _http.PostAsync(new Uri(path, UriKind.Relative), body is null ? null : JsonContent.Create(body, body.GetType(), options: ClientJson.Options));

    public async Task<T> GetJsonAsync<T>(string path)
    {
        using var response = await GetAsync(path).Within(30);
        var text = await response.Content.ReadAsStringAsync();
        response.IsSuccessStatusCode.ShouldBeTrue($"GET {path}: {(int)response.StatusCode} {text}");
        text.ShouldNotBeEmpty($"GET {path}: {(int)response.StatusCode} with an empty body; headers: {response.Headers} {response.Content.Headers}");
        return JsonSerializer.Deserialize<T>(text, ClientJson.Options)!;
    }

    public async Task<T> PostJsonAsync<T>(string path, object? body)
    {
        using var response = await PostAsync(path, body).Within(30);
        var text = await response.Content.ReadAsStringAsync();
        response.IsSuccessStatusCode.ShouldBeTrue($"POST {path}: {(int)response.StatusCode} {text}");
        return JsonSerializer.Deserialize<T>(text, ClientJson.Options)!;
    }

    public Task<Deployment> DeployAsync(DeployRequest request) =>
        PostJsonAsync<Deployment>($"api/services/{Uri.EscapeDataString(request.Spec.Service)}/deployments", request);

    /// <summary>Polls GET /api/releases/{id} until the release has finished.</summary>
    public async Task<Backstay.Core.Releases.Release> WaitForReleaseFinishedAsync(string id, double seconds)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        Backstay.Core.Releases.Release? last = null;
        while (!timeout.IsCancellationRequested)
        {
            last = await GetJsonAsync<Backstay.Core.Releases.Release>($"api/releases/{id}");
            if (last.IsFinished)
            {
                return last;
            }

            await Task.Delay(150);
        }

        throw new ShouldAssertException($"Release {id} is {last?.Phase} ({last?.Reason}) after {seconds} s.");
    }

    /// <summary>Polls GET /api/deployments/{id} until the deployment is in one of the states.</summary>
    public async Task<Deployment> WaitForAsync(string id, double seconds, params DeploymentState[] states)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        Deployment? last = null;
        while (!timeout.IsCancellationRequested)
        {
            last = await GetJsonAsync<Deployment>($"api/deployments/{id}");
            if (states.Contains(last.State))
            {
                return last;
            }

            if (last.IsFinished)
            {
                break;
            }

            await Task.Delay(150);
        }

        var events = await GetJsonAsync<List<DeploymentEvent>>($"api/deployments/{id}/events");
        throw new ShouldAssertException(
            $"Deployment {id} is {last?.State} ({last?.Reason}), not {string.Join(" or ", states)}, after {seconds} s. Events:\n" +
            string.Join('\n', events.Select(e => $"  {e.At:HH:mm:ss.fff} {e.Type}: {e.Message}")));
    }

    public void Dispose() => _http.Dispose();
}
