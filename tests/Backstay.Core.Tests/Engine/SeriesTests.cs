using Backstay.Core.Model;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>The chart series the engine records with a deployment: both revisions, bounded, kept as long as the revision.</summary>
public sealed class SeriesTests
{
    private const string Web = EngineHarness.ServiceName;

    private static readonly TrafficProfile Good = new() { RequestsPerSecond = 60 };

    [Fact]
    public async Task RunAsync_BadCanary_RecordsBothRevisionsAtEachEvaluationUpToTheFailureVerdict()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 2), r => harness.Platform.SetTraffic(Web, r, Good));
        var spec = Specs.Service(Specs.Canary(Specs.Weight(10), Specs.Pause(TimeSpan.FromSeconds(30)), Specs.Weight(50)), instances: 2);

        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, Good with { ErrorRate = 0.3 }));

        deployment.State.ShouldBe(DeploymentState.RolledBack);
        var points = await harness.Store.ListSeriesAsync(deployment.Id, null, CancellationToken.None);
        var stable = points.Where(p => p.Revision == 1).ToList();
        var target = points.Where(p => p.Revision == 2).ToList();
        stable.Count.ShouldBeGreaterThanOrEqualTo(2);
        target.Count.ShouldBe(stable.Count, "one point per revision per evaluation");
        stable.ShouldContain(p => p.Weight == 90 && p.Requests > 0 && p.ErrorRate == 0);
        target.ShouldContain(p => p.Weight == 10 && p.ErrorRate > 0.2 && p.P99Ms == 80);
        stable.Zip(target).ShouldAllBe(pair => pair.First.At == pair.Second.At && pair.First.Weight + pair.Second.Weight == 100);

        // Spaced by at least a second, but the evaluation that failed the revision is always there.
        var failedAt = harness.Store.Events(deployment.Id).First(e => e.Type == "Failed").At;
        target[^1].At.ShouldBeLessThanOrEqualTo(failedAt);
        (failedAt - target[^1].At).ShouldBeLessThan(SeriesPoint.MinimumSpacing);
        target.Zip(target.Skip(1)).Take(target.Count - 2).ShouldAllBe(pair => pair.Second.At - pair.First.At >= SeriesPoint.MinimumSpacing);
    }

    [Fact]
    public async Task RunAsync_RetentionRemovesARevision_DeletesTheSeriesOfTheDeploymentThatBroughtIt()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var canary = Specs.Canary(Specs.Weight(50), Specs.Pause(TimeSpan.FromSeconds(3)), Specs.Weight(100));
        await harness.DeployAsync(Specs.Service(keepPrevious: 1), r => harness.Platform.SetTraffic(Web, r, Good));
        var deployments = new List<Deployment>();
        for (var i = 0; i < 3; i++)
        {
            deployments.Add(await harness.DeployAsync(Specs.Service(canary, keepPrevious: 1), r => harness.Platform.SetTraffic(Web, r, Good)));
        }

        deployments.ShouldAllBe(d => d.State == DeploymentState.Succeeded);
        harness.Store.Revisions(Web).Where(r => r.Removed).Select(r => r.Number).ShouldBe([1, 2]);
        (await harness.Store.ListSeriesAsync(deployments[0].Id, null, CancellationToken.None)).ShouldBeEmpty("revision 2 was removed");
        (await harness.Store.ListSeriesAsync(deployments[1].Id, null, CancellationToken.None)).ShouldNotBeEmpty();
        (await harness.Store.ListSeriesAsync(deployments[2].Id, null, CancellationToken.None)).ShouldNotBeEmpty();
    }

    [Theory]
    [InlineData(100, 0, 1000)]
    [InlineData(2000, 0, 2000)]
    [InlineData(100, 3600, 2000)]
    [InlineData(100, 86400, 48000)]
    public void Spacing_GrowsWithTheDeploymentsAge(int intervalMs, int ageSeconds, int expectedMs) =>
        SeriesPoint.Spacing(TimeSpan.FromMilliseconds(intervalMs), TimeSpan.FromSeconds(ageSeconds)).ShouldBe(TimeSpan.FromMilliseconds(expectedMs));
}
