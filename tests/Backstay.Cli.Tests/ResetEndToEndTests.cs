using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Backstay.Cli.Tests;

/// <summary>
/// `backstay reset` after a change by hand in HAProxy, through the real CLI and a real serve: what counts is what the
/// production listener answers to real HTTP requests, and which instance processes still run.
/// </summary>
[Collection("serve")]
public sealed class ResetEndToEndTests : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly int _prod = CliRunner.FreePort();

    public void Dispose() => _cli.Dispose();

    private void WriteSpec(string healthCheck = "interval: 500ms, timeout: 400ms, healthyThreshold: 1, unhealthyThreshold: 3", string startTimeout = "20s") =>
        _cli.WriteFile("backstay.yaml", $$"""
            service: web
            platform:
              local:
                instances: 2
                listeners: { production: 127.0.0.1:{{_prod}} }
            task:
              image: builtin:hello
              startTimeout: {{startTimeout}}
              healthCheck: { path: /healthz, {{healthCheck}} }
            strategy:
              canary: { steps: [ { setWeight: 100 } ] }
            """);

    [Fact]
    public async Task ResetAdopt_AfterAllWeightsSetToZeroInHaproxy_RefusesKeepingInstancesAndStableThenRecreateAndRollbackServe()
    {
        WriteSpec();
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        (await _cli.DeployAsync("--env", "GREETING=v2")).Outcome.ShouldBe("Succeeded");
        var running = _cli.InstancePids(2);
        running.Count.ShouldBe(2);
        await SetAllWeightsToZeroByHandAsync();

        var adopt = await _cli.RunAsync("reset", "web", "--adopt", "-o", "json");

        adopt.ExitCode.ShouldNotBe(0, adopt.Stdout + adopt.Stderr);
        var report = JsonDocument.Parse(adopt.Stdout).RootElement;
        report.GetProperty("kind").GetString().ShouldBe("Reset");
        var reason = report.GetProperty("reason").GetString()!;
        reason.ShouldContain("nothing serves production traffic");
        reason.ShouldContain("backstay reset web --recreate");
        running.ShouldAllBe(pid => CliRunner.Alive(pid), "adopt stops no healthy instance of the stable revision");
        _cli.InstancePids(2).ShouldBe(running, ignoreOrder: true);
        (await StableRevisionAsync()).ShouldBe(2, "adopt keeps the last good revision on record");
        (await ServerWeightsAsync()).ShouldAllBe(w => w == 0, "a refused adopt changes nothing in HAProxy");

        var recreate = await _cli.RunAsync("reset", "web", "--recreate", "-o", "json");

        recreate.ExitCode.ShouldBe(0, recreate.Stdout + recreate.Stderr);
        await ShouldServeOnlyAsync(2);
        _cli.InstancePids(2).Count.ShouldBe(2);
        var rollback = await _cli.RunAsync(TimeSpan.FromSeconds(90), "rollback", "web", "--to", "1", "-o", "json");
        rollback.ExitCode.ShouldBe(0, rollback.Stdout + rollback.Stderr);
        await ShouldServeOnlyAsync(1);
    }

    [Fact]
    public async Task ResetRecreate_AfterAllWeightsSetToZeroInHaproxy_ProductionAnswers200FromStableAtItsCount()
    {
        WriteSpec();
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        await SetAllWeightsToZeroByHandAsync();

        var reset = await _cli.RunAsync("reset", "web", "--recreate", "-o", "json");

        reset.ExitCode.ShouldBe(0, reset.Stdout + reset.Stderr);
        CliRunner.Outcome(reset.Stdout).ShouldBe("Succeeded");
        await ShouldServeOnlyAsync(1);
        (await ServerWeightsAsync()).Count(w => w > 0).ShouldBe(2, "revision 1 serves with its recorded count of 2");
        (await StableRevisionAsync()).ShouldBe(1);
    }

    [Fact]
    public async Task ResetRecreate_ServeKilledWhileTheResetWaitsForInstances_NewServeResumesItToServing()
    {
        // Slow to become healthy (10 checks a second apart), so the reset is still waiting when serve is killed.
        WriteSpec("interval: 1s, timeout: 800ms, healthyThreshold: 10, unhealthyThreshold: 3", startTimeout: "60s");
        var serve = await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        await SetAllWeightsToZeroByHandAsync();
        var killed = _cli.InstancePids(1);
        foreach (var pid in killed)
        {
            using var kill = Process.Start("kill", ["-9", pid.ToString(CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        // Once the platform has restarted both, they take 10 checks a second apart to become healthy: the reset waits for that.
        var clock = Stopwatch.StartNew();
        while (_cli.InstancePids(1) is var now && (now.Count < 2 || now.Intersect(killed).Any()))
        {
            clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(60), "the platform did not restart the killed instances");
            await Task.Delay(100);
        }

        var waiting = _cli.RunAsync(TimeSpan.FromSeconds(120), "reset", "web", "--recreate", "-o", "json");
        var reset = await WaitForResetInProgressAsync();
        serve.Kill();
        await serve.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var cut = await waiting;
        cut.ExitCode.ShouldNotBe(0, "the reset was cut short with serve: " + cut.Stdout + cut.Stderr);
        var left = await HistoryAsync(reset);
        left.GetProperty("outcome").GetString().ShouldBe("InProgress", "the reset was in progress when serve was killed");

        await _cli.StartServeAsync();
        var finished = await WaitForFinishedAsync(reset);

        finished.GetProperty("outcome").GetString().ShouldBe("Succeeded", finished.GetRawText());
        finished.GetProperty("kind").GetString().ShouldBe("Reset");
        var types = finished.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        types.ShouldContain("Resumed");
        await ShouldServeOnlyAsync(1);
        (await ServerWeightsAsync()).Count(w => w > 0).ShouldBe(2);
    }

    /// <summary>Every production request answers 200 from the revision; a 503 or another revision fails.</summary>
    private async Task ShouldServeOnlyAsync(int revision, int requests = 20)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var answers = new List<string>();
        for (var i = 0; i < requests; i++)
        {
            using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{_prod}/"));
            var served = response.Headers.TryGetValues("X-Revision", out var values) ? values.First() : "none";
            answers.Add($"{(int)response.StatusCode} from revision {served}");
        }

        answers.ShouldAllBe(a => a == $"200 from revision {revision}", string.Join(", ", answers.Distinct()));
    }

    /// <summary>Someone sets the weight of every server of the production backend to 0 through HAProxy's runtime socket.</summary>
    private async Task SetAllWeightsToZeroByHandAsync()
    {
        foreach (var name in (await ServersAsync()).Select(s => s.Name))
        {
            await HaproxyAsync($"set weight web_prod/{name} 0");
        }

        // HAProxy answers 503 from then on: no server has a weight.
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{_prod}/"));
        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
    }

    private async Task<List<int>> ServerWeightsAsync() => (await ServersAsync()).Where(s => s.Port > 1).Select(s => s.Weight).ToList();

    /// <summary>The production backend's servers out of maintenance (name, port, weight), from `show servers state`.</summary>
    private async Task<List<(string Name, int Port, int Weight)>> ServersAsync()
    {
        var lines = (await HaproxyAsync("show servers state web_prod")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var columns = lines.First(l => l.StartsWith('#')).TrimStart('#').Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        var servers = new List<(string Name, int Port, int Weight)>();
        foreach (var fields in lines.Where(l => !l.StartsWith('#')).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length == columns.Count))
        {
            int Number(string column) => int.Parse(fields[columns.IndexOf(column)], CultureInfo.InvariantCulture);

            // Forced, inherited, resolver or health-check maintenance (0x01, 0x02, 0x20, 0x40): an empty slot.
            if ((Number("srv_admin_state") & 0x63) == 0)
            {
                servers.Add((fields[columns.IndexOf("srv_name")], Number("srv_port"), Number("srv_uweight")));
            }
        }

        return servers;
    }

    private async Task<string> HaproxyAsync(string command)
    {
        var socketPath = JsonDocument.Parse(File.ReadAllText(Path.Combine(_cli.StateDirectory, "local", "platform.json"))).RootElement.GetProperty("SocketPath").GetString()!;
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath)).WaitAsync(TimeSpan.FromSeconds(10));
        await socket.SendAsync(Encoding.ASCII.GetBytes(command + "\n")).WaitAsync(TimeSpan.FromSeconds(10));
        var buffer = new byte[65536];
        var text = new StringBuilder();
        int read;
        while ((read = await socket.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10))) > 0)
        {
            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return text.ToString();
    }

    private async Task<int?> StableRevisionAsync()
    {
        var status = JsonDocument.Parse((await _cli.RunAsync("status", "-o", "json")).Stdout).RootElement;
        var web = status.GetProperty("services").EnumerateArray().Single(s => s.GetProperty("service").GetString() == "web");
        return web.GetProperty("stableRevision").ValueKind == JsonValueKind.Number ? web.GetProperty("stableRevision").GetInt32() : null;
    }

    private async Task<JsonElement> HistoryAsync(string id)
    {
        var history = JsonDocument.Parse((await _cli.RunAsync("history", "web", "--events", "-o", "json")).Stdout).RootElement;
        return history.EnumerateArray().Single(d => d.GetProperty("id").GetString() == id);
    }

    /// <summary>
    /// Waits until the reset is recorded and its first step (bringing revision 1 back to its count) has started, reading
    /// serve's SQLite store directly: a `backstay history` per look takes seconds on a busy machine, longer than the window.
    /// </summary>
    private async Task<string> WaitForResetInProgressAsync()
    {
        var database = Path.Combine(_cli.StateDirectory, "backstay.db");
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            await using var connection = new SqliteConnection($"Data Source={database};Mode=ReadOnly");
            await connection.OpenAsync();
            await using var query = connection.CreateCommand();
            query.CommandText = """
                SELECT d.id, d.state, (SELECT COUNT(*) FROM journal j WHERE j.deployment_id = d.id AND j.phase = 'Started')
                FROM deployments d WHERE d.kind = 'Reset'
                """;
            await using var row = await query.ExecuteReaderAsync();
            if (await row.ReadAsync())
            {
                var (id, state, started) = (row.GetString(0), row.GetString(1), row.GetInt64(2));
                state.ShouldBeOneOf(["Pending", "InProgress"], $"the reset {id} ended ({state}) before serve could be killed");
                if (started > 0)
                {
                    return id;
                }
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("the reset never started its first step");
    }

    /// <summary>Waits until the deployment finished; the limit covers the spec's startTimeout (60 s) with a margin.</summary>
    private async Task<JsonElement> WaitForFinishedAsync(string id)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(120))
        {
            var deployment = await HistoryAsync(id);
            if (deployment.GetProperty("outcome").GetString() != "InProgress")
            {
                return deployment;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"deployment {id} did not finish within 120 s");
    }
}
