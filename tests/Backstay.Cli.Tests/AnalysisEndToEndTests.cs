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
            var failed = Check(slow.Raw, "latency.maxIncrease");
            failed.GetProperty("verdict").GetString().ShouldBe("Fail", slow.Raw);
            failed.GetProperty("test").GetString().ShouldBe("always-valid Mann–Whitney U test");
            failed.GetProperty("target").GetProperty("requests").GetInt64().ShouldBeGreaterThan(0);
            failed.GetProperty("baseline").GetProperty("revision").GetInt32().ShouldBe(1);
            failed.GetProperty("reason").GetString().ShouldNotBeNull().ShouldContain("slower than allowed");

            // 3 ms slower: within the allowance, passed with the comparison's numbers.
            var close = await _cli.DeployAsync("--env", "LATENCY_MS=3");

            close.Outcome.ShouldBe("Succeeded", close.Raw);
            var passed = Check(close.Raw, "latency.maxIncrease");
            passed.GetProperty("verdict").GetString().ShouldBe("Pass", close.Raw);
            passed.GetProperty("baseline").GetProperty("requests").GetInt64().ShouldBeGreaterThan(0);
        }
        finally
        {
            await load.CancelAsync();
            await Task.WhenAll(loading);
        }
    }

    /// <summary>The named check of the verdict that decided the deployment (the report's `analysis`).</summary>
    private static JsonElement Check(string report, string metric)
    {
        var analysis = JsonDocument.Parse(report).RootElement.GetProperty("analysis");
        return analysis.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("metric").GetString() == metric);
    }
}
