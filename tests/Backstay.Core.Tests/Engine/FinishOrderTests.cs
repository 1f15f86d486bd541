using Backstay.Core.Model;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>
/// Whoever sees a deployment's record end (a CLI waiting on it, the dashboard, another replica) reads its whole timeline:
/// every event of the ending, retention's included, is written before the record's state says it ended.
/// </summary>
public sealed class FinishOrderTests
{
    private const string Web = EngineHarness.ServiceName;

    private static readonly TrafficProfile Good = new() { RequestsPerSecond = 60 };

    [Fact]
    public async Task RunAsync_SucceededWithRetention_NoEventIsWrittenAfterTheRecordEnded()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var late = WatchForLateEvents(harness);

        for (var i = 0; i < 3; i++)
        {
            (await harness.DeployAsync(Specs.Service(Specs.Rolling(), keepPrevious: 1))).State.ShouldBe(DeploymentState.Succeeded);
        }

        harness.Store.Events(harness.Store.AllDeployments[^1].Id).ShouldContain(e => e.Type == "RevisionsRemoved", "retention ran in the last deployment");
        late.ShouldBeEmpty();
    }

    [Fact]
    public async Task RunAsync_BadCanaryRolledBack_NoEventOfEitherDeploymentIsWrittenAfterItsRecordEnded()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 2), r => harness.Platform.SetTraffic(Web, r, Good));
        var late = WatchForLateEvents(harness);
        var spec = Specs.Service(Specs.Canary(Specs.Weight(10), Specs.Pause(TimeSpan.FromSeconds(30)), Specs.Weight(50)), instances: 2);

        var failed = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, Good with { ErrorRate = 0.3 }));
        var rollback = await harness.RunToEndAsync(harness.Store.Deployment(failed.Id).RolledBackBy ?? failed.Id);

        rollback.State.ShouldBe(DeploymentState.Succeeded);
        harness.Store.Deployment(failed.Id).State.ShouldBe(DeploymentState.RolledBack);
        harness.Store.Events(failed.Id).ShouldContain(e => e.Type == "RolledBack");
        late.ShouldBeEmpty();
    }

    /// <summary>Every event stored for a deployment whose record had already ended, as "type (state)".</summary>
    private static List<string> WatchForLateEvents(EngineHarness harness)
    {
        var late = new List<string>();
        harness.Store.OnEventAppended = e =>
        {
            var deployment = harness.Store.Deployment(e.DeploymentId);
            if (!deployment.IsActive)
            {
                lock (late)
                {
                    late.Add($"{e.Type} of {deployment.Id} ({deployment.State})");
                }
            }
        };
        return late;
    }
}
