using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>
/// Custom metrics (analysis.metrics) judged by the engine on the fake clock, through a provider that answers from the
/// test (a port's fake; the providers themselves are tested against real servers): a metric out of range rolls back
/// with its reading as evidence, each reading counts once however often the analysis looks, a source that cannot be
/// read never passes, and a dry-run metric is shown and never acted on.
/// </summary>
public sealed class CustomMetricTests
{
    private const string Web = EngineHarness.ServiceName;

    private static readonly TrafficProfile Good = new() { RequestsPerSecond = 50 };

    private static MetricSpec Ratio(double max, bool dryRun = false) => new()
    {
        Name = "error-ratio",
        Max = max,
        DryRun = dryRun,
        Interval = TimeSpan.FromSeconds(2),
        Prometheus = new PrometheusMetricSpec { Address = "http://prometheus.test:9090", Query = "ratio{revision=\"{{revision}}\"}" },
    };

    private static async Task<EngineHarness> StartAsync(Func<MetricSpec, MetricQuery, double?> value)
    {
        var harness = new EngineHarness();
        var provider = new AnsweringProvider(value);
        harness.Platform.MetricProviders = [provider];
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, Good));
        return harness;
    }

    [Fact]
    public async Task RunAsync_MetricAboveItsMax_RolledBackWithTheReadingAsEvidence()
    {
        await using var harness = await StartAsync((_, q) => q.Revision == 2 ? 0.2 : 0.01);

        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(10), Metrics = [Ratio(0.05)] };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(TimeSpan.FromSeconds(30))), analysis: analysis);
        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, Good));

        deployment.State.ShouldBe(DeploymentState.RolledBack, deployment.Reason);
        deployment.Reason.ShouldNotBeNull().ShouldContain("error-ratio 0.2 outside max 0.05, 2 reading(s) in a row");
        deployment.Reason.ShouldContain("ratio{revision=\"2\"}");
        var failed = harness.Store.Events(deployment.Id).Single(e => e.Type == "Failed").DataJson.ShouldNotBeNull();
        failed.ShouldContain("\"metric\":\"error-ratio\"");
        failed.ShouldContain("\"readings\":2");
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_OneReadingOutOfRangeLookedAtManyTimes_CountsOnceAndDoesNotRollBack()
    {
        // The first reading is out of range, every later one within it. Read every 5 s, looked at every 100 ms: were
        // each look counted, two looks at the first reading would roll back a revision whose metric recovered.
        var reads = 0;
        await using var harness = await StartAsync((_, q) => q.Revision == 2 && Interlocked.Increment(ref reads) == 1 ? 0.2 : 0.01);

        var metric = Ratio(0.05) with { Interval = TimeSpan.FromSeconds(5) };
        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(10), Metrics = [metric] };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(TimeSpan.FromSeconds(12))), analysis: analysis);
        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, Good));

        deployment.State.ShouldBe(DeploymentState.Succeeded, deployment.Reason);
        reads.ShouldBeGreaterThanOrEqualTo(2);
    }

    [Fact]
    public async Task RunAsync_MetricWithinRangeInAnAnalysisStep_PassesWithTheReadingInTheEvidence()
    {
        await using var harness = await StartAsync((_, _) => 0.01);

        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(5), Metrics = [Ratio(0.05)] };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), new AnalysisStep(analysis)), analysis: analysis);
        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, Good));

        deployment.State.ShouldBe(DeploymentState.Succeeded, deployment.Reason);
        var passed = harness.Store.Events(deployment.Id).Single(e => e.Type == "AnalysisPassed");
        passed.Message.ShouldContain("error-ratio 0.01 within max 0.05");
        passed.DataJson.ShouldNotBeNull().ShouldContain("\"metric\":\"error-ratio\",\"verdict\":\"Pass\"");
    }

    [Fact]
    public async Task RunAsync_MetricSourceCannotBeRead_NeverPassesAndTheAnalysisStepGivesUpSayingWhy()
    {
        await using var harness = await StartAsync((_, _) => throw new MetricReadException("Prometheus at http://prometheus.test:9090 could not be reached: refused"));

        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(5), Metrics = [Ratio(0.05)] };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), new AnalysisStep(analysis)), analysis: analysis);
        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, Good));

        deployment.State.ShouldBe(DeploymentState.RolledBack, deployment.Reason);
        deployment.Reason.ShouldNotBeNull().ShouldContain("analysis inconclusive");
        deployment.Reason.ShouldContain("error-ratio: prometheus could not be read");
        deployment.Reason.ShouldContain("could not be reached: refused");
    }

    [Fact]
    public async Task RunAsync_DryRunMetricOutOfRange_IsShownAndNeverActedOn()
    {
        await using var harness = await StartAsync((_, q) => q.Revision == 2 ? 0.2 : 0.01);

        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(5), Metrics = [Ratio(0.05, dryRun: true)] };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), new AnalysisStep(analysis)), analysis: analysis);
        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, Good));

        deployment.State.ShouldBe(DeploymentState.Succeeded, deployment.Reason);
        var passed = harness.Store.Events(deployment.Id).Single(e => e.Type == "AnalysisPassed");
        passed.Message.ShouldContain("dry run error-ratio cannot judge yet: error-ratio 0.2 outside max 0.05 (1 of 2 readings in a row needed to fail");
    }

    /// <summary>A provider answering from the test at once, as a "prometheus" source.</summary>
    private sealed class AnsweringProvider(Func<MetricSpec, MetricQuery, double?> value) : IMetricProvider
    {
        public string Kind => MetricProviders.Prometheus;

        public Task<MetricReading> ReadAsync(MetricSpec metric, MetricQuery query, CancellationToken cancellationToken) =>
            Task.FromResult(new MetricReading(value(metric, query), MetricTemplate.Render(metric.Prometheus!.Query, query)));
    }
}
