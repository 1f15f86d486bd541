using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

public sealed class DeploymentEngineRollbackTests
{
    private const string Web = EngineHarness.ServiceName;

    private static readonly TrafficProfile Good = new() { RequestsPerSecond = 60 };

    [Fact]
    public async Task RunAsync_BadCanary_RolledBackBySeparateRollbackDeployment()
    {
        await using var harness = new EngineHarness();
        var (deployment, _) = await RunBadCanaryAsync(harness);

        deployment.State.ShouldBe(DeploymentState.RolledBack);
        deployment.Reason.ShouldNotBeNull().ShouldContain("analysis failed: error rate");
        var rollback = harness.RollbackOf(deployment.Id).ShouldNotBeNull();
        rollback.Id.ShouldNotBe(deployment.Id);
        rollback.Id.ShouldStartWith("d-");
        rollback.Kind.ShouldBe(DeploymentKind.Rollback);
        rollback.Trigger.ShouldBe(Trigger.AutomaticRollback);
        rollback.State.ShouldBe(DeploymentState.Succeeded, rollback.Reason);
        rollback.RollbackOf.ShouldBe(deployment.Id);
        rollback.TargetRevision.ShouldBe(1);
        rollback.StableRevision.ShouldBe(2);
        deployment.RolledBackBy.ShouldBe(rollback.Id);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(1);
        harness.Store.ShouldHaveCompletedEveryStep(rollback);
        harness.Store.Events(deployment.Id).Select(e => e.Type).ShouldContain("RollingBack");
        harness.Store.Events(deployment.Id).Select(e => e.Type).ShouldContain("RolledBack");
    }

    [Fact]
    public async Task RunAsync_BadCanary_TrafficBackInOneStepBeforeAnyScaling()
    {
        await using var harness = new EngineHarness();
        var (_, failedAtOperation) = await RunBadCanaryAsync(harness);

        var afterFailure = harness.Platform.Operations.Skip(failedAtOperation).ToList();
        var first = afterFailure[0].ShouldBeOfType<WeightOperation>();
        first.Listener.ShouldBe(Listener.Production);
        first.WeightOf(1).ShouldBe(100);
        first.WeightOf(2).ShouldBe(0);
        afterFailure.OfType<WeightOperation>().Count(o => o.Listener == Listener.Production).ShouldBe(1, "traffic goes back in one step");
    }

    [Fact]
    public async Task RunAsync_BadCanary_StableRestoredToItsPreDeploymentCountAndFailedScaledToZero()
    {
        await using var harness = new EngineHarness();
        await RunBadCanaryAsync(harness);

        // The stable ran 2 instances; the failed deployment wanted 4: the stable goes back to 2.
        harness.Platform.ShouldServeOnly(1, 2, others: 2);
        harness.Platform.Operations.OfType<ScaleOperation>().Where(o => o.Revision == 1).Select(o => o.Count).ShouldAllBe(c => c == 2);
    }

    [Fact]
    public async Task RunAsync_BadCanaryAt60Rps_SafeWithinOneSecondOfFirstTraffic()
    {
        await using var harness = new EngineHarness();
        var (deployment, _) = await RunBadCanaryAsync(harness);

        var firstTraffic = harness.Platform.FirstTrafficAt(Web, 2).ShouldNotBeNull();
        var safeAt = deployment.SafeAt.ShouldNotBeNull();
        (safeAt - firstTraffic).ShouldBeLessThan(TimeSpan.FromSeconds(1));
        harness.Platform.ProductionWeightChanges().Last(o => o.WeightOf(2) == 0).At.ShouldBe(safeAt);
    }

    [Fact]
    public async Task RunAsync_BadCanary_RollbackTimelineStartsAsARollbackNotAsAResume()
    {
        await using var harness = new EngineHarness();
        var (deployment, _) = await RunBadCanaryAsync(harness);

        // The rollback deployment is created InProgress, so the runner takes it for one resumed after a restart.
        var rollback = harness.RollbackOf(deployment.Id).ShouldNotBeNull();
        var types = harness.Store.Events(rollback.Id).Select(e => e.Type).ToList();
        types.ShouldNotContain("Resumed", "nothing restarted; the timeline must not say so");
        harness.Store.ShouldHaveTimelineInOrder(rollback, "RollbackStarted", "RollbackSucceeded");
    }

    [Fact]
    public async Task RunAsync_GoodCanaryWithHalfPercentErrors_NeverRolledBackOverTwentySeeds()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, Good));
        var spec = Specs.Service(Specs.Canary(Specs.Weight(50), Specs.PauseMs(1500)));

        for (var seed = 1; seed <= 20; seed++)
        {
            var profile = new TrafficProfile { RequestsPerSecond = 60, ErrorRate = 0.005, Seed = seed };
            var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, profile));

            deployment.State.ShouldBe(DeploymentState.Succeeded, $"seed {seed}: {deployment.Reason}");
        }

        harness.Store.AllDeployments.ShouldNotContain(d => d.Kind == DeploymentKind.Rollback);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(21);
    }

    [Fact]
    public async Task RunAsync_LatencyIncreaseAloneAgainstTheStable_ComparesAndRollsBackARevision60msSlower()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, Good));

        // Only latency.maxIncrease compares with the stable revision (no errorRate.maxIncrease): the stable's figures must
        // still be read (bench/analysis-power saw a revision 50 ms slower pass 3 of 3).
        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(5), MaxLatencyIncrease = TimeSpan.FromMilliseconds(20) };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(TimeSpan.FromSeconds(20))), analysis: analysis);
        var deployment = await harness.DeployAsync(spec,
            r => harness.Platform.SetTraffic(Web, r, r == 2 ? new TrafficProfile { LatencyP50Ms = 80 } : Good));

        deployment.State.ShouldBe(DeploymentState.RolledBack, deployment.Reason);
        deployment.Reason.ShouldNotBeNull().ShouldContain("60 ms slower, more than the allowed 20 ms");
    }

    [Fact]
    public async Task RunAsync_AllErrorsAtTwoRequestsASecond_FailedFromAFewRequestsWithoutWaitingForMinRequests()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, Good));

        // At most 10 requests in a 5 s window, never the 20 of minRequests; on today's main it succeeded. Every request
        // failing is evidence enough after two or three: minRequests is what a pass needs, not a failure.
        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(5), MinRequests = 20 };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(10), Specs.Pause(TimeSpan.FromSeconds(8))), analysis: analysis);
        var deployment = await harness.DeployAsync(spec,
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 2, ErrorRate = 1 }));

        deployment.State.ShouldBe(DeploymentState.RolledBack, deployment.Reason);
        deployment.Reason.ShouldStartWith("analysis failed: error rate 100% (");
        var failed = harness.Store.Events(deployment.Id).Single(e => e.Type == "Failed");
        (failed.At - harness.Platform.FirstTrafficAt(Web, 2)!.Value).ShouldBeLessThan(TimeSpan.FromSeconds(3), "two or three failed requests are proof enough");
        failed.DataJson.ShouldNotBeNull().ShouldContain("\"checks\":[{\"metric\":\"errorRate\"");
    }

    [Fact]
    public async Task RunAsync_PlatformReportsArrivals_JudgesWhenRequestsArriveNotOnlyEveryInterval()
    {
        await using var harness = new EngineHarness();
        harness.Platform.ReportsArrivals = true;
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, Good));

        // Evaluations every 4 s: judged only on the timer, the canary failing every request would be rolled back 4 s in.
        // Judged as its requests arrive (at most every quarter interval), a few failed requests are enough within about 1 s.
        var analysis = new AnalysisSpec { Interval = TimeSpan.FromSeconds(4), Window = TimeSpan.FromSeconds(20) };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(10), Specs.Pause(TimeSpan.FromSeconds(30))), analysis: analysis);
        var deployment = await harness.DeployAsync(spec,
            r => harness.Platform.SetTraffic(Web, r, r == 2 ? new TrafficProfile { RequestsPerSecond = 10, ErrorRate = 1 } : Good));

        deployment.State.ShouldBe(DeploymentState.RolledBack, deployment.Reason);
        var failed = harness.Store.Events(deployment.Id).Single(e => e.Type == "Failed");
        (failed.At - harness.Platform.FirstTrafficAt(Web, 2)!.Value).ShouldBeLessThan(analysis.Interval / 2, "judged on arrival, not at the next 4 s tick");
    }

    [Fact]
    public async Task RunAsync_WaitEndsBeforeTheAnalysisCouldJudge_TheTimelineSaysSo()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, Good));

        // One clean request a second: five in the 5 s wait, short of the 20 a pass needs.
        var spec = Specs.Service(Specs.Canary(Specs.Weight(10), Specs.Pause(TimeSpan.FromSeconds(5))));
        var deployment = await harness.DeployAsync(spec,
            r => harness.Platform.SetTraffic(Web, r, r == 2 ? new TrafficProfile { RequestsPerSecond = 1 } : Good));

        var continued = harness.Store.Events(deployment.Id).First(e => e.Type == "Continued");
        continued.Message.ShouldStartWith("wait ended; analysis could not judge revision 2 yet: error rate 0% (");
        continued.Message.ShouldContain("of the 20 requests needed to pass");
    }

    [Fact]
    public async Task RunAsync_InstanceNeverHealthy_FailsAfterStartTimeoutAndRollsBack()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3));

        var deployment = await harness.DeployAsync(Specs.Service(Specs.Rolling()),
            r => harness.Platform.SetBehavior(Web, r, InstanceBehavior.Never()));

        deployment.State.ShouldBe(DeploymentState.RolledBack);
        deployment.Reason.ShouldBe(
            "only 0 of 1 instances of revision 2 became healthy within 5s (last error: GET /healthz returned 503); see `backstay logs web`");
        var scaled = harness.Platform.Operations.OfType<ScaleOperation>().First(o => o.Revision == 2);
        var failed = harness.Store.Events(deployment.Id).Single(e => e.Type == "Failed");
        (failed.At - scaled.At).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(5));
        harness.RollbackOf(deployment.Id).ShouldNotBeNull().State.ShouldBe(DeploymentState.Succeeded);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_InstanceCrashLooping_FailsAtThreeRestartsAndRollsBack()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3));

        var deployment = await harness.DeployAsync(Specs.Service(Specs.Rolling()),
            r => harness.Platform.SetBehavior(Web, r, InstanceBehavior.CrashLoop(TimeSpan.FromMilliseconds(500))));

        deployment.State.ShouldBe(DeploymentState.RolledBack);
        deployment.Reason.ShouldNotBeNull().ShouldContain("crash-looping (3 restarts)");
        deployment.Reason.ShouldContain("exited with code 1");
        var scaled = harness.Platform.Operations.OfType<ScaleOperation>().First(o => o.Revision == 2);
        var failed = harness.Store.Events(deployment.Id).Single(e => e.Type == "Failed");
        (failed.At - scaled.At).ShouldBeLessThan(TimeSpan.FromSeconds(2), "a crash loop is caught before the start timeout");
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_CrashLoopWhileCanaryServes_CaughtByTheWatch()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3));
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause())),
            r => harness.Platform.SetTraffic(Web, r, Good));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(5), "paused");

        harness.Platform.SetBehavior(Web, 2, InstanceBehavior.CrashLoop(TimeSpan.FromMilliseconds(200)));
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(10));

        done.State.ShouldBe(DeploymentState.RolledBack);
        done.Reason.ShouldNotBeNull().ShouldContain("crash-looping");
    }

    [Fact]
    public async Task RunAsync_AnalysisStepLatencyAboveLimit_FailsAndRollsBack()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, Good));
        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(1), MinRequests = 10, MaxLatencyP99 = TimeSpan.FromMilliseconds(200) };

        var deployment = await harness.DeployAsync(
            Specs.Service(Specs.Canary(Specs.Weight(20), new AnalysisStep(analysis), Specs.Weight(50))),
            r => harness.Platform.SetTraffic(Web, r, Good with { LatencyP99Ms = 450 }));

        deployment.State.ShouldBe(DeploymentState.RolledBack);
        deployment.Reason.ShouldBe("analysis failed: p99 latency 450 ms is above the limit of 200 ms");
        harness.Platform.ProductionWeightChanges().Max(o => o.WeightOf(2)).ShouldBe(20, "the canary never went past the failed analysis");
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_RollingFailsMidway_StableBackToFullCountAfterTraffic()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3), r => harness.Platform.SetTraffic(Web, r, Good));

        var deployment = await harness.DeployAsync(Specs.Service(Specs.Rolling(), instances: 3), r =>
        {
            harness.Platform.SetBehavior(Web, r, InstanceBehavior.After(TimeSpan.FromSeconds(1)));
            harness.Platform.SetTraffic(Web, r, Good with { ErrorRate = 0.5 });
        });

        deployment.State.ShouldBe(DeploymentState.RolledBack);
        deployment.StableCountBefore.ShouldBe(3);
        var rollback = harness.RollbackOf(deployment.Id).ShouldNotBeNull();
        var rollbackOperations = harness.Platform.Operations.Where(o => o.At >= rollback.CreatedAt).ToList();
        rollbackOperations[0].ShouldBeOfType<WeightOperation>().WeightOf(1).ShouldBe(100);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_AutomaticRollbackOff_FailsWithoutRollingBack()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, Good));

        var deployment = await harness.DeployAsync(
            Specs.Service(Specs.Canary(Specs.Weight(10), Specs.Pause()), rollback: new RollbackSpec { Automatic = false }),
            r => harness.Platform.SetTraffic(Web, r, Good with { ErrorRate = 0.3 }));

        deployment.State.ShouldBe(DeploymentState.Failed);
        harness.RollbackOf(deployment.Id).ShouldBeNull();
        harness.Platform.WeightsNow(Web).ShouldBe(new Dictionary<int, int> { [2] = 10, [1] = 90 }, ignoreOrder: true);
    }

    [Fact]
    public async Task RunAsync_FirstDeploymentNeverHealthy_FailsAndScalesItToZero()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();

        var deployment = await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetBehavior(Web, r, InstanceBehavior.Never()));

        deployment.State.ShouldBe(DeploymentState.Failed);
        harness.RollbackOf(deployment.Id).ShouldBeNull();
        harness.Platform.DesiredCount(Web, 1).ShouldBe(0);
        harness.Store.Service(Web)!.StableRevision.ShouldBeNull();
    }

    [Theory]
    [InlineData(false, new[] { 100 })]
    [InlineData(true, new[] { 100 })]
    public async Task RunAsync_PhasedFailsInSecondPhase_RollsBackPhaseByPhaseOrAllAtOnce(bool allPhasesAtOnce, int[] stableWeights)
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 4), r => harness.Platform.SetTraffic(Web, r, Good));
        var spec = Specs.Service(Specs.Phased(TimeSpan.FromSeconds(2), 25, 50, 100), instances: 4,
            rollback: new RollbackSpec { AllPhasesAtOnce = allPhasesAtOnce });
        var failedAt = -1;
        harness.Store.OnEventAppended = e => failedAt = e.Type == "Failed" && failedAt < 0 ? harness.Platform.Operations.Count : failedAt;

        // Revision 2 turns bad once it has half the traffic.
        harness.Platform.OnOperation = o =>
        {
            if (o is WeightOperation w && w.WeightOf(2) == 50)
            {
                harness.Platform.SetTraffic(Web, 2, Good with { ErrorRate = 0.5 });
            }
        };
        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, Good));

        deployment.State.ShouldBe(DeploymentState.RolledBack);
        var afterFailure = harness.Platform.Operations.Skip(failedAt).ToList();
        afterFailure.OfType<WeightOperation>().Select(o => o.WeightOf(1)).ShouldBe(stableWeights);
        afterFailure[0].ShouldBeOfType<WeightOperation>().WeightOf(1).ShouldBe(100, "traffic first, phase by phase or all at once");

        harness.Platform.ShouldServeOnly(1, 4, others: 2);
        harness.Store.ShouldHaveCompletedEveryStep(harness.RollbackOf(deployment.Id)!);
    }

    [Fact]
    public async Task RunAsync_BlueGreenFailsDuringBake_ProductionAndTestTrafficBackOnTheWarmSet()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(testListener: "127.0.0.1:8081"), r => harness.Platform.SetTraffic(Web, r, Good));
        var spec = Specs.Service(Specs.BlueGreen(bake: TimeSpan.FromSeconds(5), keepPreviousFor: TimeSpan.FromSeconds(5)), testListener: "127.0.0.1:8081");

        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, Good with { ErrorRate = 0.5 }));

        deployment.State.ShouldBe(DeploymentState.RolledBack);
        var rollback = harness.RollbackOf(deployment.Id).ShouldNotBeNull();
        var rollbackOperations = harness.Platform.Operations.Where(o => o.At >= rollback.CreatedAt).ToList();
        rollbackOperations[0].ShouldBeOfType<WeightOperation>().WeightOf(1).ShouldBe(100);
        harness.Platform.Operations.OfType<ScaleOperation>().ShouldNotContain(o => o.Revision == 1 && o.Count != 3, "the warm set was never touched");
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
        harness.Platform.WeightsNow(Web, Listener.Test).ShouldBe(new Dictionary<int, int> { [1] = 100 });
    }

    /// <summary>Revision 1 stable on 2 instances; revision 2 a canary on 4 with 30% errors at 60 rps, default analysis.</summary>
    private static async Task<(Deployment Deployment, int FailedAtOperation)> RunBadCanaryAsync(EngineHarness harness)
    {
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 2), r => harness.Platform.SetTraffic(Web, r, Good));
        var failedAt = -1;
        harness.Store.OnEventAppended = e =>
        {
            if (e.Type == "Failed" && failedAt < 0)
            {
                failedAt = harness.Platform.Operations.Count;
            }
        };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(10), Specs.Pause(TimeSpan.FromSeconds(30)), Specs.Weight(50)), instances: 4);

        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, Good with { ErrorRate = 0.3 }));

        failedAt.ShouldBeGreaterThan(0, "the deployment failed");
        return (deployment, failedAt);
    }
}
