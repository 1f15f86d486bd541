using System.Text.Json;

namespace Backstay.Cli.Tests;

/// <summary>
/// Analysis against the stable revision on the local platform, with real processes behind a real HAProxy and load from
/// this process: the latency comparison reads both revisions' per-request latencies from HAProxy's log.
/// </summary>
[Collection("serve")]
public sealed class AnalysisEndToEndTests : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly int _prod = CliRunner.FreePort();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task LatencyIncrease_RevisionMuchSlowerThanTheStableRolledBackWithItsNumbers_OneSlightlySlowerSucceeds()
    {
        _cli.WriteFile("backstay.yaml", $$"""
            service: lat
            platform:
              local:
                instances: 2
                listeners: { production: 127.0.0.1:{{_prod}} }
            task:
              image: builtin:hello
              startTimeout: 30s
              healthCheck: { path: /healthz, interval: 200ms, timeout: 150ms, healthyThreshold: 1, unhealthyThreshold: 2 }
            strategy:
              canary: { steps: [ { setWeight: 50 }, { analysis: {} }, { setWeight: 100 } ] }
            analysis: { window: 10s, latency: { maxIncrease: 20ms } }
            """);
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        using var load = new CancellationTokenSource();
        var loading = Enumerable.Range(0, 3).Select(_ => Task.Run(() => CliRunner.LoadAsync(_prod, load.Token))).ToList();
        try
        {
            // 60 ms slower than the stable revision, 20 ms allowed.
            var slow = await _cli.DeployAsync("--env", "LATENCY_MS=60");

            slow.Outcome.ShouldBe("RolledBack", slow.Raw);
            var failed = CliRunner.AnalysisCheck(slow.Raw, "latency.maxIncrease");
            failed.GetProperty("verdict").GetString().ShouldBe("Fail", slow.Raw);
            failed.GetProperty("test").GetString().ShouldBe("always-valid Mann–Whitney U test");
            failed.GetProperty("target").GetProperty("requests").GetInt64().ShouldBeGreaterThan(0);
            failed.GetProperty("baseline").GetProperty("revision").GetInt32().ShouldBe(1);
            failed.GetProperty("reason").GetString().ShouldNotBeNull().ShouldContain("slower than allowed");

            // 3 ms slower: within the allowance, passed with the comparison's numbers.
            var close = await _cli.DeployAsync("--env", "LATENCY_MS=3");

            close.Outcome.ShouldBe("Succeeded", close.Raw);
            var passed = CliRunner.AnalysisCheck(close.Raw, "latency.maxIncrease");
            passed.GetProperty("verdict").GetString().ShouldBe("Pass", close.Raw);
            passed.GetProperty("baseline").GetProperty("requests").GetInt64().ShouldBeGreaterThan(0);
        }
        finally
        {
            await load.CancelAsync();
            await Task.WhenAll(loading);
        }
    }

    [Fact]
    public async Task OnFailurePause_FailedAnalysisHoldsTrafficForAPerson_RollbackRestoresTheStable_ContinueAcceptsTheFailure()
    {
        _cli.WriteFile("backstay.yaml", $$"""
            service: hold
            platform:
              local:
                instances: 1
                listeners: { production: 127.0.0.1:{{_prod}} }
            task:
              image: builtin:hello
              startTimeout: 30s
              healthCheck: { path: /healthz, interval: 200ms, timeout: 150ms, healthyThreshold: 1, unhealthyThreshold: 2 }
            strategy:
              canary: { steps: [ { setWeight: 30 }, { pause: { duration: 10s } }, { setWeight: 100 } ] }
            analysis: { window: 5s, errorRate: { max: 5% }, onFailure: pause, pauseTimeout: 10m }
            """);
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        using var load = new CancellationTokenSource();
        var loading = Enumerable.Range(0, 2).Select(_ => Task.Run(() => CliRunner.LoadAsync(_prod, load.Token))).ToList();
        try
        {
            // Half its requests fail: held where it is, with the failure's numbers, not rolled back.
            var held = await _cli.DeployAsync("--env", "ERROR_RATE=0.5");

            held.ExitCode.ShouldBe(5, held.Raw);
            held.Outcome.ShouldBe("Paused", held.Raw);
            var analysis = JsonDocument.Parse(held.Raw).RootElement.GetProperty("analysis");
            analysis.GetProperty("source").GetString().ShouldBe("AnalysisFailedPaused");
            CliRunner.AnalysisCheck(held.Raw, "errorRate").GetProperty("verdict").GetString().ShouldBe("Fail");
            (await CliRunner.ServedRevisionsAsync(_prod, 40)).ShouldContain(2, "the traffic is held where it was, the canary still serves");

            // A person rolls it back: the stable revision serves everything again.
            var rollback = await _cli.RunAsync(TimeSpan.FromSeconds(90), "rollback", "hold", "--output", "json");
            rollback.ExitCode.ShouldBe(0, rollback.Stdout + rollback.Stderr);
            (await _cli.WaitForOutcomeAsync("hold", held.Id, "RolledBack")).GetProperty("outcome").GetString().ShouldBe("RolledBack");
            (await CliRunner.ServedRevisionsAsync(_prod, 20)).ShouldAllBe(r => r == 1);

            // Another bad one, and this time a person accepts the failure: the error-rate check becomes a dry run and the
            // deployment goes on to the end.
            var accepted = await _cli.DeployAsync("--env", "ERROR_RATE=0.5");
            accepted.Outcome.ShouldBe("Paused", accepted.Raw);
            var answer = await _cli.RunAsync(TimeSpan.FromSeconds(90), "continue", accepted.Id, "--output", "json");
            answer.ExitCode.ShouldBe(0, answer.Stdout + answer.Stderr);
            var done = await _cli.WaitForOutcomeAsync("hold", accepted.Id, "Succeeded");
            var events = JsonDocument.Parse((await _cli.RunAsync("history", "hold", "--events", "--output", "json")).Stdout).RootElement
                .EnumerateArray().Single(d => d.GetProperty("id").GetString() == accepted.Id).GetProperty("events").EnumerateArray()
                .Select(e => e.GetProperty("type").GetString()).ToList();
            events.ShouldContain("AnalysisFailedPaused");
            events.ShouldContain("AnalysisAccepted");
            done.GetProperty("outcome").GetString().ShouldBe("Succeeded");
        }
        finally
        {
            await load.CancelAsync();
            await Task.WhenAll(loading);
        }
    }
}
