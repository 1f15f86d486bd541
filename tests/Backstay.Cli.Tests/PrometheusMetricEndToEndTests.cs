namespace Backstay.Cli.Tests;

/// <summary>
/// A custom metric read from a real Prometheus on the local runtime: Prometheus finds each revision's hello instances
/// through the state directory's prometheus-targets.json and scrapes their /metrics; the analysis asks it for the
/// revision's error ratio. Load comes from this process through the real HAProxy.
/// </summary>
[Collection("serve")]
public sealed class PrometheusMetricEndToEndTests : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly int _prod = CliRunner.FreePort();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task PrometheusErrorRatio_CanaryFailingHalfItsRequestsRolledBackWithTheReading_AGoodOnePassesOnIt()
    {
        await using var prometheus = await PrometheusServer.StartAsync(_cli.StateDirectory);
        // The built-in error-rate check is off: only the Prometheus metric can catch the bad canary.
        _cli.WriteFile("backstay.yaml", $$$"""
            service: prom
            platform:
              local:
                instances: 1
                listeners: { production: 127.0.0.1:{{{_prod}}} }
            task:
              image: builtin:hello
              startTimeout: 30s
              healthCheck: { path: /healthz, interval: 200ms, timeout: 150ms, healthyThreshold: 1, unhealthyThreshold: 2 }
            strategy:
              canary: { steps: [ { setWeight: 50 }, { analysis: { window: 10s } }, { setWeight: 100 } ] }
            analysis:
              window: 10s
              errorRate: null
              metrics:
                - name: error-ratio
                  max: 0.1
                  interval: 1s
                  prometheus:
                    address: {{{prometheus.Address}}}
                    query: >-
                      sum(rate(hello_requests_total{service="{{service}}",revision="{{revision}}",code="500"}[{{window}}]))
                      / sum(rate(hello_requests_total{service="{{service}}",revision="{{revision}}"}[{{window}}]))
            """);
        (await _cli.RunAsync("validate")).ExitCode.ShouldBe(0);
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        await prometheus.WaitForTargetAsync("prom", 1, TimeSpan.FromSeconds(60));
        using var load = new CancellationTokenSource();
        var loading = Enumerable.Range(0, 2).Select(_ => Task.Run(() => CliRunner.LoadAsync(_prod, load.Token))).ToList();
        try
        {
            var bad = await _cli.DeployAsync("--env", "ERROR_RATE=0.5");

            bad.Outcome.ShouldBe("RolledBack", bad.Raw);
            var failed = CliRunner.AnalysisCheck(bad.Raw, "error-ratio");
            failed.GetProperty("verdict").GetString().ShouldBe("Fail", bad.Raw);
            failed.GetProperty("statistic").GetDouble().ShouldBeInRange(0.2, 0.8, "about half of revision 2's requests failed");
            failed.GetProperty("readings").GetInt32().ShouldBe(2);
            failed.GetProperty("reason").GetString().ShouldNotBeNull().ShouldContain("revision=\"2\"");
            (await CliRunner.ServedRevisionsAsync(_prod, 20)).ShouldAllBe(r => r == 1);

            var good = await _cli.DeployAsync();

            good.Outcome.ShouldBe("Succeeded", good.Raw);
            var passed = CliRunner.AnalysisCheck(good.Raw, "error-ratio");
            passed.GetProperty("verdict").GetString().ShouldBe("Pass", good.Raw);
            passed.GetProperty("statistic").GetDouble().ShouldBeLessThan(0.1);
        }
        finally
        {
            await load.CancelAsync();
            await Task.WhenAll(loading);
        }
    }
}
