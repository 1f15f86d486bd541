using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Backstay.Core.Model;
using Backstay.Core.Spec;

namespace Backstay.Platform.Local.Tests;

/// <summary>Awaits with a time limit, so a hung process or socket fails the test instead of hanging the run.</summary>
internal static class TimeoutExtensions
{
    public static Task Within(this Task task, double seconds) => task.WaitAsync(TimeSpan.FromSeconds(seconds));

    public static Task<T> Within<T>(this Task<T> task, double seconds) => task.WaitAsync(TimeSpan.FromSeconds(seconds));

    public static Task Within(this ValueTask task, double seconds) => task.AsTask().WaitAsync(TimeSpan.FromSeconds(seconds));
}

/// <summary>One test's world: its own state directory, platforms, and a cleanup that stops everything even when the test failed.</summary>
internal sealed class Sandbox : IAsyncDisposable
{
    private readonly List<LocalPlatform> _platforms = [];
    private readonly List<Process> _processes = [];
    private readonly HashSet<string> _stateDirectories = [];

    public Sandbox()
    {
        // Short, so the HAProxy socket stays in the state directory.
        StateDirectory = Path.Combine(Path.GetTempPath(), "bsty-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(StateDirectory);
        Service = "hello" + Guid.NewGuid().ToString("N")[..6];
    }

    public string StateDirectory { get; }

    /// <summary>A service name unique to this test, so leftover processes can be told apart.</summary>
    public string Service { get; }

    public ConcurrentQueue<PlatformEvent> Events { get; } = new();

    public static string HelloDll => Path.Combine(AppContext.BaseDirectory, "hello.dll");

    public HttpClient Http { get; } = new(new SocketsHttpHandler { UseProxy = false, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2) })
    {
        Timeout = TimeSpan.FromSeconds(10),
    };

    public LocalPlatformOptions Options => new()
    {
        StateDirectory = StateDirectory,
        BuiltinImages = new Dictionary<string, string> { ["hello"] = HelloDll },
        OnEvent = Events.Enqueue,
    };

    public async Task<LocalPlatform> StartPlatformAsync(LocalPlatformOptions? options = null)
    {
        options ??= Options;
        _stateDirectories.Add(options.StateDirectory);
        var platform = await LocalPlatform.StartAsync(options, TimeProvider.System, CancellationToken.None).Within(30);
        _platforms.Add(platform);
        return platform;
    }

    public ServiceSpec Spec(int productionPort, int? testPort = null) => new()
    {
        Service = Service,
        Platform = new PlatformSpec
        {
            Local = new LocalPlatformSpec
            {
                ProductionListener = Address(productionPort),
                TestListener = testPort is { } t ? Address(t) : null,
            },
        },
        Task = new TaskSpec
        {
            Image = "builtin:hello",
            HealthCheck = new HealthCheckSpec
            {
                Path = "/healthz",
                Interval = TimeSpan.FromMilliseconds(200),
                Timeout = TimeSpan.FromSeconds(1),
                HealthyThreshold = 1,
                UnhealthyThreshold = 2,
            },
        },
    };

    public Revision Revision(int number, params (string Name, string Value)[] env) => new()
    {
        Service = Service,
        Number = number,
        Image = "builtin:hello",
        Env = env.ToDictionary(e => e.Name, e => e.Value),
    };

    public static string Address(int port) => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{port}");

    public static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>Starts hello directly (not through the platform) with the given environment; its output is captured.</summary>
    public HelloProcess StartHello(params (string Name, string Value)[] env)
    {
        var info = new ProcessStartInfo(ProcessLauncher.FindDotnet())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(HelloDll);
        foreach (var name in new[] { "PORT", "GREETING", "BACKSTAY_REVISION", "BACKSTAY_INSTANCE", "ERROR_RATE", "LATENCY_MS", "CRASH_AT_START", "FAIL_HEALTH", "CRASH_AFTER_MS" })
        {
            info.Environment.Remove(name);
        }

        foreach (var (name, value) in env)
        {
            info.Environment[name] = value;
        }

        var process = Process.Start(info)!;
        _processes.Add(process);
        return new HelloProcess(process);
    }

    /// <summary>A process the test started, killed at cleanup.</summary>
    public Process Track(Process process)
    {
        _processes.Add(process);
        return process;
    }

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, double seconds, string what)
    {
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            if (await condition().Within(seconds))
            {
                return;
            }

            if (stopwatch.Elapsed.TotalSeconds > seconds)
            {
                throw new TimeoutException($"Gave up after {seconds} s waiting for: {what}");
            }

            await Task.Delay(50);
        }
    }

    public static Task WaitUntilAsync(Func<bool> condition, double seconds, string what) =>
        WaitUntilAsync(() => Task.FromResult(condition()), seconds, what);

    /// <summary>GET through a listener; returns the status and the revision that answered, or (0, null) on a connection error.</summary>
    public async Task<(int Status, string? Revision)> GetAsync(int port, string path = "/")
    {
        try
        {
            using var response = await Http.GetAsync(new Uri($"http://{Address(port)}{path}")).Within(15);
            await response.Content.ReadAsStringAsync().Within(15);
            var revision = response.Headers.TryGetValues("X-Revision", out var values) ? values.FirstOrDefault() : null;
            return ((int)response.StatusCode, revision);
        }
        catch (HttpRequestException)
        {
            return (0, null);
        }
    }

    public static bool IsAlive(int pid) => ProcFs.ReadStat(pid) is { IsZombie: false };

    /// <summary>Sends a signal (e.g. STOP, CONT) with kill(1).</summary>
    public static async Task SignalAsync(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]))!;
        await kill.WaitForExitAsync().Within(10);
        kill.ExitCode.ShouldBe(0);
    }

    /// <summary>Processes anywhere on the machine that belong to this test: instances by their BACKSTAY_SERVICE, HAProxy by its config path.</summary>
    public IReadOnlyList<int> FindOwnProcesses()
    {
        var found = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || !IsAlive(pid))
            {
                continue;
            }

            try
            {
                var environment = File.ReadAllText(Path.Combine(directory, "environ"));
                var commandLine = File.ReadAllText(Path.Combine(directory, "cmdline"));
                if (environment.Contains($"BACKSTAY_SERVICE={Service}\0", StringComparison.Ordinal)
                    || commandLine.Contains(StateDirectory, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return found;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var platform in _platforms)
        {
            try
            {
                await platform.DisposeAsync().Within(30);
            }
            catch (TimeoutException)
            {
            }
        }

        foreach (var directory in _stateDirectories)
        {
            await LocalPlatform.StopLeftoversAsync(directory).Within(30);
        }

        foreach (var process in _processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync().Within(10);
                }
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }

        foreach (var pid in FindOwnProcesses())
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill(entireProcessTree: true);
            }
            catch (ArgumentException)
            {
            }
            catch (InvalidOperationException)
            {
            }
        }

        Http.Dispose();
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A hello process started by a test, with its output.</summary>
internal sealed class HelloProcess(Process process)
{
    private readonly Task<string> _stdout = process.StandardOutput.ReadToEndAsync();
    private readonly Task<string> _stderr = process.StandardError.ReadToEndAsync();

    public Process Process { get; } = process;

    public async Task<(int ExitCode, string Output)> WaitForExitAsync(double seconds)
    {
        await Process.WaitForExitAsync().Within(seconds);
        return (Process.ExitCode, (await _stdout.Within(5)) + (await _stderr.Within(5)));
    }
}
