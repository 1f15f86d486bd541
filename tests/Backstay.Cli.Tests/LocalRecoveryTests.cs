using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Backstay.Cli.Tests;

/// <summary>Recovery on the local platform with real processes and a real HAProxy: rollback order, HAProxy dying, a listener in use.</summary>
[Collection("serve")]
public sealed class LocalRecoveryTests : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly int _prod = CliRunner.FreePort();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Deploy_ProductionListenerTakenByAnotherSocket_Exits2NamingTheListenerAndRecordsNothing()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        WriteSpec("hello", port, instances: 2, strategy: "  rolling: {}");
        await _cli.StartServeAsync();

        var deploy = await _cli.RunAsync(TimeSpan.FromSeconds(90), "deploy");

        deploy.ExitCode.ShouldBe(2, deploy.Stdout + deploy.Stderr);
        deploy.Stderr.ShouldContain($"platform.local.listeners.production) 127.0.0.1:{port} is already in use");
        var status = JsonDocument.Parse((await _cli.RunAsync("status", "--output", "json")).Stdout).RootElement;
        status.GetProperty("services").GetArrayLength().ShouldBe(0, "no revision, no deployment, no service recorded");
        var platform = JsonDocument.Parse(File.ReadAllText(Path.Combine(_cli.StateDirectory, "local", "platform.json"))).RootElement;
        platform.GetProperty("Services").EnumerateArray().SelectMany(s => s.GetProperty("Revisions").EnumerateArray()).ShouldBeEmpty("no instance was started");
    }

    [Fact]
    public async Task HaproxyKilled_PlatformRestartsItAndTheGapIsRecordedInHistoryAndShownInStatus()
    {
        WriteSpec("hello", _prod, instances: 2, strategy: "  rolling: {}");
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        var killed = HaproxyPid();

        Process.Start("kill", ["-9", killed.ToString(CultureInfo.InvariantCulture)])!.WaitForExit(5000).ShouldBeTrue();

        // The restart is recorded once the new HAProxy serves again; 30 s leaves a loaded machine room for its start and retries.
        var restart = await WaitForAsync(async () =>
        {
            var history = JsonDocument.Parse((await _cli.RunAsync("history", "hello", "--events", "--output", "json")).Stdout).RootElement;
            return history.EnumerateArray().SelectMany(d => d.GetProperty("events").EnumerateArray())
                .Where(e => e.GetProperty("type").GetString() == "HaproxyRestarted").Select(e => (JsonElement?)e.Clone()).FirstOrDefault();
        }, TimeSpan.FromSeconds(30), "a HaproxyRestarted event in the history");
        var data = restart.GetProperty("data");
        data.GetProperty("diedPid").GetInt32().ShouldBe(killed);
        data.GetProperty("startedPid").GetInt32().ShouldNotBe(killed);
        data.GetProperty("startedPid").GetInt32().ShouldBe(HaproxyPid());
        data.GetProperty("gapMs").GetInt64().ShouldBeGreaterThan(0);
        restart.GetProperty("message").GetString()!.ShouldContain($"HAProxy (pid {killed}) died and was restarted");
        restart.GetProperty("message").GetString()!.ShouldContain($"127.0.0.1:{_prod}");
        (await CliRunner.ServedRevisionsAsync(_prod, 5)).ShouldAllBe(r => r == 1);

        var status = await _cli.RunAsync("status", "hello");
        status.Stdout.ShouldContain($"HAProxy (pid {killed}) died and was restarted");
        var statusJson = JsonDocument.Parse((await _cli.RunAsync("status", "hello", "--output", "json")).Stdout).RootElement;
        statusJson.GetProperty("services")[0].GetProperty("haproxyRestart").GetProperty("data").GetProperty("gapMs").GetInt64()
            .ShouldBe(data.GetProperty("gapMs").GetInt64());
        var human = await _cli.RunAsync("history", "hello", "--events");
        human.Stdout.ShouldContain("HaproxyRestarted");
    }

    [Fact]
    public async Task History_WithEvents_PrintsEachDeploymentsTimelineUnderIt()
    {
        WriteSpec("hello", _prod, instances: 1, strategy: "  rolling: {}");
        await _cli.StartServeAsync();
        var deployed = await _cli.DeployAsync();
        deployed.Outcome.ShouldBe("Succeeded", deployed.Raw);
        var events = JsonDocument.Parse((await _cli.RunAsync("history", "hello", "--events", "-o", "json")).Stdout).RootElement[0]
            .GetProperty("events").EnumerateArray().ToList();
        events.ShouldNotBeEmpty();

        var plain = await _cli.RunAsync("history", "hello");
        var human = await _cli.RunAsync("history", "hello", "--events");

        human.ExitCode.ShouldBe(0, human.Stderr);
        human.Stdout.Length.ShouldBeGreaterThan(plain.Stdout.Length, human.Stdout);
        var timeline = human.Stdout[human.Stdout.LastIndexOf(deployed.Id, StringComparison.Ordinal)..];
        foreach (var e in events)
        {
            timeline.ShouldContain($"{e.GetProperty("at").GetDateTimeOffset().ToLocalTime().ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {e.GetProperty("type").GetString()}: ");
        }
    }

    [Fact]
    public async Task Rollback_PhasedUnderLoad_ProductionTrafficLeavesTheFailedRevisionBeforeTheStableIsScaledUp()
    {
        // Phase 1 runs 2 of 4 instances of revision 2 with half the traffic, and revision 1 on the other 2, for a minute.
        WriteSpec("phased", _prod, instances: 4, strategy: "  phased: { phases: [50, 100], pauseBetween: 60s }");
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        using var load = new CancellationTokenSource();
        var responses = new List<(DateTimeOffset Sent, int Revision)>();
        var loading = Task.Run(() => RecordLoadAsync(_prod, responses, load.Token));

        var bad = await _cli.DeployAsync("--env", "ERROR_RATE=0.5");

        await load.CancelAsync();
        await loading;
        bad.ExitCode.ShouldBe(3, bad.Raw);
        var rollbackId = JsonDocument.Parse(bad.Raw).RootElement.GetProperty("rolledBackBy").GetString()!;
        var events = JsonDocument.Parse(bad.Raw).RootElement.GetProperty("events").EnumerateArray()
            .Where(e => e.GetProperty("deploymentId").GetString() == rollbackId)
            .Select(e => (At: e.GetProperty("at").GetDateTimeOffset(), Type: e.GetProperty("type").GetString()!, Message: e.GetProperty("message").GetString()!))
            .ToList();
        var shifted = events.First(e => e.Type == "TrafficShifted");
        var scaledUp = events.First(e => e.Type == "Scaled" && e.Message.StartsWith("revision 1 scaled to", StringComparison.Ordinal));
        shifted.At.ShouldBeLessThan(scaledUp.At, string.Join("\n", events));
        shifted.Message.ShouldContain("2 healthy instance(s) of revision 1");

        // What the clients saw: no request sent after the stable revision began to scale up was answered by revision 2.
        List<(DateTimeOffset Sent, int Revision)> seen;
        lock (responses)
        {
            seen = [.. responses];
        }

        seen.ShouldContain(r => r.Revision == 2, "revision 2 had traffic before it failed");
        var lastOnFailed = seen.Where(r => r.Revision == 2).Max(r => r.Sent);
        lastOnFailed.ShouldBeLessThan(scaledUp.At, $"the last request answered by revision 2 was sent at {lastOnFailed:O}; revision 1 began to scale up at {scaledUp.At:O}");
        seen.Where(r => r.Sent > scaledUp.At).ShouldNotBeEmpty("the load ran past the scale-up");
        (await CliRunner.ServedRevisionsAsync(_prod, 10)).ShouldAllBe(r => r == 1);

        // Why it rolled back, with numbers: the failure's checks are printed under its event.
        var history = (await _cli.RunAsync("history", "phased", "--events")).Stdout;
        history.ShouldContain("      errorRate fail (always-valid sequential binomial test; max 5%): error rate ", Case.Sensitive, history);
    }

    private void WriteSpec(string service, int port, int instances, string strategy) =>
        _cli.WriteFile("backstay.yaml", $$"""
            service: {{service}}
            platform:
              local:
                instances: {{instances}}
                listeners: { production: 127.0.0.1:{{port}} }
            task:
              image: builtin:hello
              startTimeout: 30s
              healthCheck: { path: /healthz, interval: 200ms, timeout: 150ms, healthyThreshold: 1, unhealthyThreshold: 2 }
            strategy:
            {{strategy}}
            analysis: { window: 5s, minRequests: 20, errorRate: { max: 5% }, consecutiveFailures: 2 }
            """);

    private int HaproxyPid()
    {
        var platform = JsonDocument.Parse(File.ReadAllText(Path.Combine(_cli.StateDirectory, "local", "platform.json"))).RootElement;
        return platform.GetProperty("Haproxy").GetProperty("Pid").GetInt32();
    }

    private static async Task<JsonElement> WaitForAsync(Func<Task<JsonElement?>> read, TimeSpan limit, string what)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            if (await read() is { } found)
            {
                return found;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"no {what} within {limit}");
    }

    /// <summary>Steady requests, each noting when it was sent and which revision answered (errors included: they carry X-Revision too).</summary>
    private static async Task RecordLoadAsync(int port, List<(DateTimeOffset Sent, int Revision)> responses, CancellationToken cancellationToken)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        while (!cancellationToken.IsCancellationRequested)
        {
            var sent = DateTimeOffset.UtcNow;
            try
            {
                using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/"), cancellationToken);
                if (response.Headers.TryGetValues("X-Revision", out var values))
                {
                    lock (responses)
                    {
                        responses.Add((sent, int.Parse(values.First(), CultureInfo.InvariantCulture)));
                    }
                }

                await Task.Delay(10, cancellationToken);
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
}
