using System.Diagnostics;
using Backstay.Core.Control;
using Backstay.Core.Engine;
using Backstay.Platform.Local;
using Backstay.State.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.Playwright;

namespace Backstay.Server.Tests;

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>;

/// <summary>
/// One real controller for the whole run: SQLite in a temporary state directory, the local platform (HAProxy and
/// hello processes), the engine, and Kestrel on 127.0.0.1 port 0. Chromium is started on first use. Disposing
/// stops everything that was started: the browser, the host, every instance and HAProxy.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private static readonly string[] ChromiumArgs =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

    private readonly SemaphoreSlim _browserGate = new(1, 1);
    private SqliteStateStore? _store;
    private LocalPlatform? _platform;
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public string StateDirectory { get; } = Path.Combine(Path.GetTempPath(), "bsrv-" + Guid.NewGuid().ToString("N")[..8]);

    public WebApplication App { get; private set; } = null!;

    public InProcessControlPlane Plane { get; private set; } = null!;

    public LocalPlatform Platform => _platform!;

    public Uri BaseUrl { get; private set; } = null!;

    public string AdminToken { get; private set; } = "";

    public string ViewerToken { get; private set; } = "";

    public ControllerHostOptions Options { get; private set; } = null!;

    internal CapturingLoggerProvider Logs { get; } = new();

    public static string ArtifactsDirectory
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "artifacts");
            Directory.CreateDirectory(path);
            return path;
        }
    }

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(StateDirectory);
        var time = TimeProvider.System;
        _store = new SqliteStateStore(StateDirectory, time);
        await _store.InitializeAsync(CancellationToken.None).Within(30);
        _platform = await LocalPlatform.StartAsync(new LocalPlatformOptions
        {
            StateDirectory = StateDirectory,
            BuiltinImages = new Dictionary<string, string> { ["hello"] = TestImageResolver.HelloDll },
            StopGracePeriod = TimeSpan.FromSeconds(2),
        }, time, CancellationToken.None).Within(30);
        var engine = new DeploymentEngine(_store, _platform, time,
            new EngineOptions { Owner = "server-tests", ObservationInterval = TimeSpan.FromSeconds(1) },
            Logs.CreateLogger("Backstay.Engine"));
        Plane = new InProcessControlPlane(_store, time, new TestImageResolver(), () => true, ownsStore: false);
        Options = new ControllerHostOptions { Listen = "127.0.0.1:0", StateDirectory = StateDirectory, TimeProvider = time };
        App = ControllerHost.Build(Options, Plane, engine, Logs);
        await App.StartAsync().Within(30);
        BaseUrl = ControllerHost.LocalUrl(App) ?? throw new InvalidOperationException("The host did not report its URL.");
        AdminToken = (await File.ReadAllTextAsync(Path.Combine(StateDirectory, "token"))).Trim();
        ViewerToken = (await File.ReadAllTextAsync(Path.Combine(StateDirectory, "token.read"))).Trim();
    }

    internal ApiClient Admin(string? user = null) => new(BaseUrl, AdminToken, user);

    internal ApiClient Viewer() => new(BaseUrl, ViewerToken);

    internal ApiClient Anonymous() => new(BaseUrl, null);

    /// <summary>The shared headless Chromium (Debian's, installed here when missing), started on first use.</summary>
    public async Task<IBrowser> BrowserAsync()
    {
        await _browserGate.WaitAsync(TimeSpan.FromMinutes(10));
        try
        {
            if (_browser is not null)
            {
                return _browser;
            }

            await EnsureChromiumAsync();
            _playwright = await Playwright.CreateAsync().Within(60);
            _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                Args = ChromiumArgs,
                Timeout = 60_000,
            }).Within(90);
            return _browser;
        }
        finally
        {
            _browserGate.Release();
        }
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync().Within(30);
        }

        _playwright?.Dispose();
        if (App is not null)
        {
            await App.StopAsync().Within(45);
            await App.DisposeAsync().Within(15);
        }

        if (_platform is not null)
        {
            await _platform.DisposeAsync().Within(30);
        }

        if (_store is not null)
        {
            await _store.DisposeAsync().Within(10);
        }

        await LocalPlatform.StopLeftoversAsync(StateDirectory).Within(30);
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Installs Debian's chromium when it is missing (the tests run as root); fails with the reason when it cannot.</summary>
    private static async Task EnsureChromiumAsync()
    {
        if (File.Exists(ChromiumPath))
        {
            return;
        }

        var install = await RunAsync("apt-get", "install -y -qq chromium", TimeSpan.FromMinutes(8));
        if (!File.Exists(ChromiumPath))
        {
            var update = await RunAsync("apt-get", "update -qq", TimeSpan.FromMinutes(4));
            install = await RunAsync("apt-get", "install -y -qq chromium", TimeSpan.FromMinutes(8));
            if (!File.Exists(ChromiumPath))
            {
                throw new InvalidOperationException(
                    $"The dashboard tests need Debian's chromium at {ChromiumPath} and could not install it " +
                    $"(`apt-get install -y chromium` as root). apt-get update said:\n{update}\napt-get install said:\n{install}");
            }
        }
    }

    private static async Task<string> RunAsync(string file, string arguments, TimeSpan timeout)
    {
        try
        {
            var info = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            info.Environment["DEBIAN_FRONTEND"] = "noninteractive";
            using var process = Process.Start(info)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            using var cancel = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                return $"{file} {arguments} did not finish within {timeout.TotalMinutes} min";
            }

            var text = await output + await error;
            return $"exit {process.ExitCode}: {(text.Length > 2000 ? text[^2000..] : text)}";
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return $"{file} could not be started: {ex.Message}";
        }
    }
}
