using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Backstay.Cli.Tests;

/// <summary>The real CLI against a real `backstay serve`: processes, HAProxy and SQLite.</summary>
[Collection("serve")]
public sealed class ServeEndToEndTests : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly int _prod = CliRunner.FreePort();

    public ServeEndToEndTests()
    {
        _cli.WriteFile("backstay.yaml", $$"""
            service: web
            platform:
              local:
                instances: 2
                listeners: { production: 127.0.0.1:{{_prod}} }
            task:
              image: builtin:hello
              startTimeout: 6s
              healthCheck: { path: /healthz, interval: 200ms, timeout: 150ms, healthyThreshold: 1, unhealthyThreshold: 2 }
            strategy:
              canary:
                steps:
                  - setWeight: 50
                  - pause: {}
                  - setWeight: 100
            analysis: { window: 5s, minRequests: 20, errorRate: { max: 5% }, consecutiveFailures: 2, interval: 100ms }
            """);
    }

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Deploy_PausedCanary_ConflictThenContinueFromAnotherProcess_Succeeds()
    {
        await StartServeAsync();

        var first = await DeployAsync();
        first.Outcome.ShouldBe("Succeeded");
        first.ExitCode.ShouldBe(0);

        var second = await DeployAsync("--env", "GREETING=v2");
        second.ExitCode.ShouldBe(5, second.Raw);
        second.Outcome.ShouldBe("Paused");

        var conflict = await _cli.RunAsync("deploy", "--env", "GREETING=v3");
        conflict.ExitCode.ShouldBe(7);
        conflict.Stderr.ShouldContain(second.Id);
        var revisions = await _cli.RunAsync("revisions", "web", "--output", "json");
        JsonDocument.Parse(revisions.Stdout).RootElement.GetArrayLength().ShouldBe(2);

        var continued = await _cli.RunAsync("continue", second.Id, "--output", "json");
        continued.ExitCode.ShouldBe(0, continued.Stdout + continued.Stderr);
        Outcome(continued.Stdout).ShouldBe("Succeeded");
        (await ServedRevisionsAsync(20)).ShouldAllBe(r => r == 2);

        var history = await _cli.RunAsync("history", "web", "--output", "json");
        var list = JsonDocument.Parse(history.Stdout).RootElement;
        list.GetArrayLength().ShouldBe(2);
        list[0].GetProperty("id").GetString().ShouldBe(second.Id);
    }

    [Fact]
    public async Task Deploy_BadReleaseUnderLoad_IsRolledBackByItsOwnDeployment()
    {
        await StartServeAsync();
        (await DeployAsync()).Outcome.ShouldBe("Succeeded");
        using var load = new CancellationTokenSource();
        var loadTask = LoadAsync(load.Token);

        // The canary pauses at 50%; the background analysis watches it there and rolls it back.
        var bad = await DeployAsync("--env", "ERROR_RATE=0.5");
        var report = await WaitForOutcomeAsync(bad.Id, "RolledBack");
        await load.CancelAsync();
        await loadTask;

        var rollbackId = report.GetProperty("rolledBackBy").GetString();
        rollbackId.ShouldNotBeNull();
        report.GetProperty("reason").GetString()!.ShouldContain("error rate");
        var history = JsonDocument.Parse((await _cli.RunAsync("history", "web", "--output", "json")).Stdout).RootElement;
        var rollback = history.EnumerateArray().Single(d => d.GetProperty("id").GetString() == rollbackId);
        rollback.GetProperty("kind").GetString().ShouldBe("Rollback");
        rollback.GetProperty("rollbackOf").GetString().ShouldBe(bad.Id);
        rollback.GetProperty("outcome").GetString().ShouldBe("Succeeded");
        (await ServedRevisionsAsync(20)).ShouldAllBe(r => r == 1);
    }

    [Fact]
    public async Task Deploy_InstanceNeverHealthy_FailsAndStableKeepsServing()
    {
        await StartServeAsync();
        (await DeployAsync()).Outcome.ShouldBe("Succeeded");

        var bad = await DeployAsync("--env", "FAIL_HEALTH=true");

        bad.ExitCode.ShouldBe(3, bad.Raw);
        JsonDocument.Parse(bad.Raw).RootElement.GetProperty("reason").GetString()!.ShouldContain("healthy");
        (await ServedRevisionsAsync(10)).ShouldAllBe(r => r == 1);
    }

    [Fact]
    public async Task Rollback_AfterSuccess_ToEarlierRevision_ServesIt()
    {
        await StartServeAsync();
        (await DeployAsync()).Outcome.ShouldBe("Succeeded");
        var second = await DeployAsync("--env", "GREETING=v2");
        (await _cli.RunAsync("continue", second.Id, "--output", "json")).ExitCode.ShouldBe(0);

        var rollback = await _cli.RunAsync("rollback", "web", "--to", "1", "--output", "json");

        rollback.ExitCode.ShouldBe(0, rollback.Stdout + rollback.Stderr);
        var report = JsonDocument.Parse(rollback.Stdout).RootElement;
        report.GetProperty("kind").GetString().ShouldBe("Rollback");
        report.GetProperty("revision").GetInt32().ShouldBe(1);
        (await ServedRevisionsAsync(10)).ShouldAllBe(r => r == 1);
    }

    [Fact]
    public async Task Serve_KilledWhilePaused_KeepsServingAndResumesOnRestart()
    {
        var serve = await StartServeAsync();
        (await DeployAsync()).Outcome.ShouldBe("Succeeded");
        var paused = await DeployAsync("--env", "GREETING=v2");
        paused.Outcome.ShouldBe("Paused");

        serve.Kill();
        await serve.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        (await ServedRevisionsAsync(10)).ShouldNotBeEmpty();

        await StartServeAsync();
        var continued = await _cli.RunAsync("continue", paused.Id, "--output", "json");

        continued.ExitCode.ShouldBe(0, continued.Stdout + continued.Stderr);
        (await ServedRevisionsAsync(10)).ShouldAllBe(r => r == 2);
        var events = JsonDocument.Parse(continued.Stdout).RootElement.GetProperty("events").EnumerateArray()
            .Select(e => e.GetProperty("type").GetString()).ToList();
        events.ShouldContain("Resumed");
    }

    [Fact]
    public async Task Serve_Stopped_LeavesNoProcessBehind()
    {
        var serve = await StartServeAsync();
        (await DeployAsync()).Outcome.ShouldBe("Succeeded");
        ProcessesUsing(_cli.StateDirectory).ShouldNotBeEmpty();
        var pids = RecordedPids();
        pids.Count.ShouldBeGreaterThanOrEqualTo(3);

        using (var kill = Process.Start("kill", ["-INT", serve.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        await serve.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        serve.ExitCode.ShouldBe(0);
        ProcessesUsing(_cli.StateDirectory).ShouldBeEmpty();
        pids.Where(pid => Directory.Exists($"/proc/{pid}")).ShouldBeEmpty();
    }

    private async Task<Process> StartServeAsync()
    {
        var serve = _cli.StartBackground("serve");
        var lockFile = Path.Combine(_cli.StateDirectory, "serve.lock");
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (serve.HasExited)
            {
                throw new InvalidOperationException($"serve exited with {serve.ExitCode}: {await serve.StandardError.ReadToEndAsync()}");
            }

            var status = await _cli.RunAsync("status", "--output", "json");
            if (status.Stdout.Contains("\"controllerRunning\": true", StringComparison.Ordinal))
            {
                return serve;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"serve did not start; lock file exists: {File.Exists(lockFile)}");
    }

    private async Task<DeployResult> DeployAsync(params string[] extra)
    {
        var result = await _cli.RunAsync(TimeSpan.FromSeconds(90), ["deploy", "--output", "json", .. extra]);
        if (result.Stdout.Length == 0)
        {
            throw new InvalidOperationException($"deploy printed nothing (exit {result.ExitCode}): {result.Stderr}");
        }

        var root = JsonDocument.Parse(result.Stdout).RootElement;
        return new DeployResult(result.ExitCode, root.GetProperty("id").GetString()!, root.GetProperty("outcome").GetString()!, result.Stdout);
    }

    private async Task<JsonElement> WaitForOutcomeAsync(string id, string outcome)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            var history = JsonDocument.Parse((await _cli.RunAsync("history", "web", "--output", "json")).Stdout).RootElement;
            var deployment = history.EnumerateArray().Single(d => d.GetProperty("id").GetString() == id);
            if (deployment.GetProperty("outcome").GetString() == outcome)
            {
                return deployment;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"deployment {id} did not reach {outcome} within 30 s");
    }

    private static string Outcome(string json) => JsonDocument.Parse(json).RootElement.GetProperty("outcome").GetString()!;

    private async Task<List<int>> ServedRevisionsAsync(int requests)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var revisions = new List<int>();
        for (var i = 0; i < requests; i++)
        {
            using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{_prod}/"));
            if (response.Headers.TryGetValues("X-Revision", out var values))
            {
                revisions.Add(int.Parse(values.First(), CultureInfo.InvariantCulture));
            }
        }

        return revisions;
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{_prod}/"), cancellationToken);
                await Task.Delay(5, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(50, CancellationToken.None);
            }
        }
    }

    private static List<string> ProcessesUsing(string text) =>
        Directory.GetDirectories("/proc").Select(d => Path.Combine(d, "cmdline"))
            .Select(TryRead).Where(c => c is not null && c.Contains(text, StringComparison.Ordinal)).Select(c => c!).ToList();

    /// <summary>Every pid the local platform recorded for HAProxy and the instances.</summary>
    private List<int> RecordedPids()
    {
        var json = File.ReadAllText(Path.Combine(_cli.StateDirectory, "local", "platform.json"));
        var pids = new List<int>();
        Collect(JsonDocument.Parse(json).RootElement);
        return pids;

        void Collect(JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        if (property.Name.Equals("pid", StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.Number)
                        {
                            pids.Add(property.Value.GetInt32());
                        }
                        else
                        {
                            Collect(property.Value);
                        }
                    }

                    break;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                    {
                        Collect(item);
                    }

                    break;
            }
        }
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path).Replace('\0', ' ');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private sealed record DeployResult(int ExitCode, string Id, string Outcome, string Raw);
}
