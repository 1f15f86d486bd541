using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>
/// A rollback moves production traffic to the restored revision's healthy instances before it restores any capacity;
/// only when none is healthy does it bring the revision up first, and it says so.
/// </summary>
public sealed class RollbackTrafficFirstTests
{
    private const string Web = EngineHarness.ServiceName;

    private static readonly TrafficProfile Good = new() { RequestsPerSecond = 60 };

    public static TheoryData<string> Strategies => ["rolling", "blueGreen", "canary", "linear", "phased"];

    [Theory]
    [InlineData(false, new[] { 3, 4 }, new[] { 1, 0 })]
    [InlineData(true, new[] { 4 }, new[] { 0 })]
    public async Task RunAsync_PhasedFailsInSecondPhase_TrafficBackBeforeAnyScaleUpThenCapacityPhaseByPhase(
        bool allPhasesAtOnce, int[] stableCounts, int[] failedCounts)
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 4), r => harness.Platform.SetTraffic(Web, r, Good));
        var spec = Specs.Service(Specs.Phased(TimeSpan.FromSeconds(2), 25, 50, 100), instances: 4,
            rollback: new RollbackSpec { AllPhasesAtOnce = allPhasesAtOnce });
        var failedAt = FailedAtOperation(harness);

        // Revision 2 turns bad once it has half the traffic: revision 1 then runs 2 of its 4 instances.
        harness.Platform.OnOperation = o =>
        {
            if (o is WeightOperation w && w.WeightOf(2) == 50)
            {
                harness.Platform.SetTraffic(Web, 2, Good with { ErrorRate = 0.5 });
            }
        };
        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, Good));

        deployment.State.ShouldBe(DeploymentState.RolledBack, deployment.Reason);
        var afterFailure = harness.Platform.Operations.Skip(failedAt()).ToList();
        var first = afterFailure[0].ShouldBeOfType<WeightOperation>($"the first act of the rollback moves traffic; it was {afterFailure[0]}");
        first.Listener.ShouldBe(Listener.Production);
        first.WeightOf(1).ShouldBe(100);
        first.WeightOf(2).ShouldBe(0);
        afterFailure.OfType<WeightOperation>().Count(o => o.Listener == Listener.Production).ShouldBe(1, "traffic goes back in one step");
        afterFailure.OfType<ScaleOperation>().Where(o => o.Revision == 1).Select(o => o.Count).ShouldBe(stableCounts);
        afterFailure.OfType<ScaleOperation>().Where(o => o.Revision == 2).Select(o => o.Count).ShouldBe(failedCounts);
        harness.Platform.ShouldServeOnly(1, 4, others: 2);
        var rollback = harness.RollbackOf(deployment.Id).ShouldNotBeNull();
        harness.Store.ShouldHaveCompletedEveryStep(rollback);
        harness.Store.Events(rollback.Id).Single(e => e.Type == "TrafficShifted").Message
            .ShouldContain("2 healthy instance(s) of revision 1");
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task RunAsync_EveryStrategyFailing_TrafficBackBeforeAnyScaleUp(string strategy)
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3, testListener: "127.0.0.1:8081"), r => harness.Platform.SetTraffic(Web, r, Good));
        var failedAt = FailedAtOperation(harness);

        var deployment = await harness.DeployAsync(Specs.Service(StrategyOf(strategy), instances: 3, testListener: "127.0.0.1:8081"),
            r =>
            {
                // Slow to start, so that a rolling update is still replacing instances when analysis judges it.
                harness.Platform.SetBehavior(Web, r, InstanceBehavior.After(TimeSpan.FromSeconds(2)));
                harness.Platform.SetTraffic(Web, r, Good with { ErrorRate = 0.5 });
            });

        deployment.State.ShouldBe(DeploymentState.RolledBack, deployment.Reason);
        deployment.TargetWeight.ShouldBeGreaterThan(0, "the failed revision had production traffic");
        var afterFailure = harness.Platform.Operations.Skip(failedAt()).ToList();
        var first = afterFailure[0].ShouldBeOfType<WeightOperation>($"{strategy}: the first act of the rollback moves traffic; it was {afterFailure[0]}");
        first.Listener.ShouldBe(Listener.Production);
        first.WeightOf(1).ShouldBe(100);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
        harness.Store.Events(harness.RollbackOf(deployment.Id)!.Id).ShouldNotContain(e => e.Type == "NoHealthyInstance");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_FailureVerdictWithHealthyStable_TrafficMovesBackBeforeTheFailureIsRecordedOrTheRollbackCreated(bool analysisFails)
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3), r => harness.Platform.SetTraffic(Web, r, Good));
        int? operationsAtFailed = null;
        int? deploymentsAtFailed = null;
        harness.Store.OnEventAppended = e =>
        {
            if (e.Type == "Failed" && operationsAtFailed is null)
            {
                operationsAtFailed = harness.Platform.Operations.Count;
                deploymentsAtFailed = harness.Store.AllDeployments.Count;
            }
        };

        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause()), instances: 3);
        var deployment = await harness.StartAsync(spec, r => harness.Platform.SetTraffic(Web, r, analysisFails ? Good with { ErrorRate = 0.5 } : Good));
        if (!analysisFails)
        {
            await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(10), "paused");
            await harness.Requests.RollbackAsync(Web, null, "carol", CancellationToken.None).WaitAsync(EngineHarness.RealTimeout);
        }

        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(20));

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        operationsAtFailed.ShouldNotBeNull("the deployment recorded its failure");
        var beforeFailed = harness.Platform.Operations.Take(operationsAtFailed.Value).Last()
            .ShouldBeOfType<WeightOperation>("the first act after the verdict moves production traffic, before anything is recorded");
        beforeFailed.Listener.ShouldBe(Listener.Production);
        beforeFailed.WeightOf(1).ShouldBe(100);
        beforeFailed.WeightOf(2).ShouldBe(0);
        deploymentsAtFailed.ShouldBe(2, "the rollback deployment is recorded after traffic is safe");
        var rollback = harness.RollbackOf(deployment.Id).ShouldNotBeNull();
        done.SafeAt.ShouldNotBeNull().ShouldBeLessThanOrEqualTo(rollback.CreatedAt);
        done.TargetWeight.ShouldBe(20, "the failed deployment keeps how far it got");
        harness.Store.Journal(deployment.Id).ShouldContain(e => e.Action.StartsWith("production traffic back to revision 1", StringComparison.Ordinal));
        harness.Store.Events(deployment.Id).Single(e => e.Type == "Safe").Message.ShouldContain("moved back at the failure verdict");
        harness.Store.Events(rollback.Id).ShouldNotContain(e => e.Type == "Safe");
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_Rollback_StepsNameTheRevisionsTheyActOnNotRoles()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3, testListener: "127.0.0.1:8081"), r => harness.Platform.SetTraffic(Web, r, Good));
        var deployment = await harness.DeployAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause()), instances: 3, testListener: "127.0.0.1:8081"),
            r => harness.Platform.SetTraffic(Web, r, Good with { ErrorRate = 0.5 }));

        deployment.State.ShouldBe(DeploymentState.RolledBack, deployment.Reason);
        var rollback = harness.RollbackOf(deployment.Id).ShouldNotBeNull();
        var steps = harness.Store.Events(rollback.Id).Where(e => e.Type == "StepStarted").Select(e => e.Message).ToList();
        steps.ShouldNotBeEmpty();
        steps.ShouldAllBe(m => !m.Contains("stable") && !m.Contains("target") && !m.Contains("new revision"), string.Join("\n", steps));
        steps.ShouldContain(m => m.EndsWith("production traffic: revision 1 100%, revision 2 0%", StringComparison.Ordinal), string.Join("\n", steps));
        steps.ShouldContain(m => m.EndsWith("scale revision 2 to 0", StringComparison.Ordinal), string.Join("\n", steps));
        steps.ShouldContain(m => m.EndsWith("test traffic to revision 1", StringComparison.Ordinal), string.Join("\n", steps));
    }

    [Fact]
    public async Task RunAsync_StableHasNoHealthyInstanceWhenRolledBack_SaysSoAndBringsItUpBeforeMovingTraffic()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3), r => harness.Platform.SetTraffic(Web, r, Good));
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause()), instances: 3),
            r => harness.Platform.SetTraffic(Web, r, Good));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(10), "paused");

        // Every instance of revision 1 crashed at once; the platform restarts them, healthy again 2 s later.
        harness.Platform.SetBehavior(Web, 1, InstanceBehavior.After(TimeSpan.FromSeconds(2)));
        harness.Platform.RestartInstances(Web, 1);
        var restartedAt = harness.Time.GetUtcNow();
        await harness.Requests.RollbackAsync(Web, null, "carol", CancellationToken.None).WaitAsync(EngineHarness.RealTimeout);
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(20));

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        var rollback = harness.RollbackOf(deployment.Id).ShouldNotBeNull();
        rollback.State.ShouldBe(DeploymentState.Succeeded, rollback.Reason);
        var events = harness.Store.Events(rollback.Id).ToList();
        var none = events.FindIndex(e => e.Type == "NoHealthyInstance");
        none.ShouldBeGreaterThanOrEqualTo(0, string.Join("\n", events.Select(e => $"{e.Type}: {e.Message}")));
        events[none].Message.ShouldBe("revision 1 has no healthy instance left: bringing it up to 3 before production traffic moves to it (revision 2 keeps its 20% until then)");
        events.FindIndex(e => e.Type == "TrafficShifted").ShouldBeGreaterThan(none);
        var back = harness.Platform.ProductionWeightChanges().Single(o => o.At >= rollback.CreatedAt);
        back.WeightOf(1).ShouldBe(100);
        (back.At - restartedAt).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(2), "traffic waited for healthy instances");
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_ManualRollbackToARevisionScaledToZero_SaysSoAndBringsItUpBeforeMovingTraffic()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3), r => harness.Platform.SetTraffic(Web, r, Good));
        await harness.DeployAsync(Specs.Service(Specs.Canary(Specs.Weight(50)), instances: 3), r => harness.Platform.SetTraffic(Web, r, Good));

        var rollback = await harness.Requests.RollbackAsync(Web, 1, "carol", CancellationToken.None).WaitAsync(EngineHarness.RealTimeout);
        var done = await harness.RunToEndAsync(rollback.Id, TimeSpan.FromSeconds(20));

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        var events = harness.Store.Events(rollback.Id).ToList();
        var none = events.FindIndex(e => e.Type == "NoHealthyInstance");
        none.ShouldBeGreaterThanOrEqualTo(0, string.Join("\n", events.Select(e => $"{e.Type}: {e.Message}")));
        events[none].Message.ShouldStartWith("revision 1 has no healthy instance left: bringing it up to 3 before production traffic moves to it");
        events.FindIndex(e => e.Type == "TrafficShifted").ShouldBeGreaterThan(none);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    /// <summary>How many platform operations there were when the deployment failed, read once it has.</summary>
    private static Func<int> FailedAtOperation(EngineHarness harness)
    {
        var failedAt = -1;
        harness.Store.OnEventAppended = e =>
        {
            if (e.Type == "Failed" && failedAt < 0)
            {
                failedAt = harness.Platform.Operations.Count;
            }
        };
        return () =>
        {
            failedAt.ShouldBeGreaterThan(0, "the deployment failed");
            return failedAt;
        };
    }

    private static StrategySpec StrategyOf(string strategy) => strategy switch
    {
        "blueGreen" => Specs.BlueGreen(bake: TimeSpan.FromSeconds(30), keepPreviousFor: TimeSpan.FromSeconds(5)),
        "canary" => Specs.Canary(Specs.Weight(25), Specs.Pause(TimeSpan.FromSeconds(30)), Specs.Weight(50)),
        "linear" => Specs.Linear(25, TimeSpan.FromSeconds(30)),
        "phased" => Specs.Phased(TimeSpan.FromSeconds(30), 34, 67, 100),
        _ => Specs.Rolling(batch: 1),
    };
}
