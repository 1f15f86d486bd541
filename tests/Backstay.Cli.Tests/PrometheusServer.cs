using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Backstay.Cli.Tests;

/// <summary>
/// A real Prometheus (Debian's package; scripts/setup --test installs it) on a free loopback port, scraping every second
/// the targets the local runtime lists in its state directory (local/prometheus-targets.json, file-based discovery).
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private PrometheusServer(Process process, string directory, int port) => (_process, _directory, Port) = (process, directory, port);

    public int Port { get; }

    public string Address => $"http://127.0.0.1:{Port}";

    public static async Task<PrometheusServer> StartAsync(string stateDirectory)
    {
        var binary = new[] { "/usr/bin/prometheus", "/usr/local/bin/prometheus" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("prometheus is not installed; run scripts/setup --test (Debian package prometheus)");
        var directory = Path.Combine(Path.GetTempPath(), "backstay-prometheus-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(directory);
        var targets = Path.Combine(stateDirectory, "local", "prometheus-targets.json");
        var config = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(config, $$"""
            global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }
            scrape_configs:
              - job_name: backstay-local
                file_sd_configs: [ { files: [ "{{targets}}" ], refresh_interval: 1s } ]
            """);
        var port = CliRunner.FreePort();
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList =
            {
                $"--config.file={config}", $"--web.listen-address=127.0.0.1:{port}", $"--storage.tsdb.path={Path.Combine(directory, "data")}",
                "--log.level=warn",
            },
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("prometheus did not start");
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => output.AppendLine(e.Data);
        process.ErrorDataReceived += (_, e) => output.AppendLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new PrometheusServer(process, directory, port);
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"prometheus exited with {process.ExitCode}: {output}");
            }

            try
            {
                using var ready = await client.GetAsync(new Uri($"{server.Address}/-/ready"));
                if (ready.IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(200);
        }

        await server.DisposeAsync();
        throw new TimeoutException($"prometheus was not ready within 60 s: {output}");
    }

    /// <summary>Waits until Prometheus scrapes an instance of the revision (it found it through the targets file and it answered).</summary>
    public async Task WaitForTargetAsync(string service, int revision, TimeSpan limit)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var query = Uri.EscapeDataString($"up{{service=\"{service}\",revision=\"{revision}\"}} == 1");
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            var answer = await client.GetFromJsonAsync<JsonElement>(new Uri($"{Address}/api/v1/query?query={query}"));
            if (answer.GetProperty("data").GetProperty("result").GetArrayLength() > 0)
            {
                return;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"prometheus did not scrape revision {revision} of {service} within {limit.TotalSeconds:0} s");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
