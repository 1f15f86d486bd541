using Backstay.Core.Analysis;
using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>
/// The analysis verdict is recorded beside the health figures while a deployment runs: a revision whose instances all
/// pass their health checks but that fails a fifth of its requests must not look healthy and nothing else.
/// </summary>
public sealed class AnalysisReadingTests
{
    private const string Web = EngineHarness.ServiceName;

    [Fact]
    public async Task Progress_P99AboveItsLimit_ShowsTheFailingVerdictWithItsFiguresAndHowCloseItIsToRollingBack()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 60 }));

        // A percentile limit is not a sequential test: it needs consecutiveFailures, so its failing looks can be watched.
        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(10), MinRequests = 20, ConsecutiveFailures = 100, MaxLatencyP99 = TimeSpan.FromMilliseconds(300) };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(50), Specs.Pause(TimeSpan.FromMinutes(10))), analysis: analysis);
        var deployment = await harness.StartAsync(spec,
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 60, LatencyP99Ms = 450 }));

        await harness.RunUntilAsync(() => Reading(harness, deployment.Id) is { Verdict: Verdict.Fail, Failures: >= 2 }, TimeSpan.FromMinutes(1), "a failing verdict in the progress");

        var progress = DeploymentProgress.Parse(harness.Store.Deployment(deployment.Id).ProgressJson).ShouldNotBeNull();
        progress.TargetHealthy.ShouldBe(progress.TargetDesired);
        var reading = progress.Analysis.ShouldNotBeNull();
        reading.Reason.ShouldContain("p99 latency 450 ms is above the limit of 300 ms");
        reading.FailuresToRollBack.ShouldBe(100);
        reading.At.ShouldBeLessThanOrEqualTo(harness.Time.GetUtcNow());
        var p99 = reading.Checks.Single(c => c.Metric == "latencyP99");
        p99.ShouldSatisfyAllConditions(c => c.Statistic.ShouldBe(450), c => c.Critical.ShouldBe(300), c => c.Target!.Requests!.Value.ShouldBeGreaterThanOrEqualTo(20));
        reading.Checks.Single(c => c.Metric == "errorRate").Verdict.ShouldBe(Verdict.Pass);
        harness.Store.Deployment(deployment.Id).IsActive.ShouldBeTrue("failing, but 100 failures in a row are needed to roll back");
        harness.Store.Deployment(deployment.Id).ProgressJson.ShouldNotBeNull().ShouldContain("\"verdict\":\"Fail\"");
    }

    [Fact]
    public async Task Progress_CanaryWithTooFewRequests_IsInconclusiveSayingHowManyItHas()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 60 }));

        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(5), MinRequests = 20 };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(10), Specs.Pause(TimeSpan.FromMinutes(10))), analysis: analysis);
        var deployment = await harness.StartAsync(spec,
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 1 }));

        await harness.RunUntilAsync(() => Reading(harness, deployment.Id) is not null, TimeSpan.FromMinutes(1), "an analysis reading in the progress");
        await harness.AdvanceAsync(TimeSpan.FromSeconds(3));

        var reading = Reading(harness, deployment.Id).ShouldNotBeNull();
        reading.Verdict.ShouldBe(Verdict.Inconclusive);
        reading.Reason.ShouldContain("of the 20 requests needed to pass");
        reading.Failures.ShouldBe(0);
    }

    [Fact]
    public async Task OnFailurePause_BadCanary_HoldsTrafficWithTheEvidenceUntilContinuedThenSucceeds()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 60 }));

        var analysis = new AnalysisSpec { OnFailure = AnalysisFailure.Pause, PauseTimeout = TimeSpan.FromMinutes(30) };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(TimeSpan.FromSeconds(20)), Specs.Weight(100)), analysis: analysis);
        var deployment = await harness.StartAsync(spec,
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 60, ErrorRate = r == 2 ? 0.3 : 0 }));

        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromMinutes(1), "the failed analysis holding");
        await harness.AdvanceAsync(TimeSpan.FromMinutes(1));

        harness.Store.Deployment(deployment.Id).State.ShouldBe(DeploymentState.Paused, "held for a person, not rolled back");
        harness.Platform.ProductionWeightChanges()[^1].WeightOf(2).ShouldBe(20, "traffic held where it was");
        var held = harness.Store.Events(deployment.Id).Single(e => e.Type == "AnalysisFailedPaused");
        held.Message.ShouldContain("held at 20% on revision 2");
        held.DataJson.ShouldNotBeNull().ShouldContain("\"metric\":\"errorRate\",\"verdict\":\"Fail\"");

        await harness.Store.EnqueueCommandAsync(new DeploymentCommand
        {
            DeploymentId = deployment.Id, Kind = CommandKind.Continue, RequestedBy = "alice", At = harness.Time.GetUtcNow(),
        }, CancellationToken.None);
        await harness.RunUntilAsync(() => !harness.Store.Deployment(deployment.Id).IsActive, TimeSpan.FromMinutes(2), "the deployment to end after it was accepted");

        harness.Store.Deployment(deployment.Id).State.ShouldBe(DeploymentState.Succeeded, harness.Store.Deployment(deployment.Id).Reason);
        harness.Store.Events(deployment.Id).Single(e => e.Type == "AnalysisAccepted").Message.ShouldContain("accepted by alice: errorRate measured and shown");
    }

    [Fact]
    public async Task OnFailurePause_NobodyAnswers_RollsBackAfterThePauseTimeout()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 60 }));

        var analysis = new AnalysisSpec { OnFailure = AnalysisFailure.Pause, PauseTimeout = TimeSpan.FromSeconds(40) };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(TimeSpan.FromSeconds(20)), Specs.Weight(100)), analysis: analysis);
        var deployment = await harness.DeployAsync(spec,
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 60, ErrorRate = r == 2 ? 0.3 : 0 }));

        deployment.State.ShouldBe(DeploymentState.RolledBack);
        deployment.Reason.ShouldStartWith("analysis failed and nobody answered within 40s (onPauseTimeout: rollback): error rate");
        var held = harness.Store.Events(deployment.Id).Single(e => e.Type == "AnalysisFailedPaused").At;
        var failed = harness.Store.Events(deployment.Id).Single(e => e.Type == "Failed").At;
        (failed - held).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(40));
    }

    private static AnalysisReading? Reading(EngineHarness harness, string id) =>
        DeploymentProgress.Parse(harness.Store.Deployment(id).ProgressJson)?.Analysis;
}

/// <summary>Analysis against the stable revision (errorRate.maxIncrease), on the engine with a fake clock and platform.</summary>
public sealed class BaselineAnalysisEngineTests
{
    private const string Web = EngineHarness.ServiceName;

    [Fact]
    public async Task Deploy_ReleaseAsBadAsItsStable_SucceedsWhereTheAbsoluteLimitAloneWouldJudgeItOnItsOwn()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var stableProfile = new TrafficProfile { RequestsPerSecond = 300, ErrorRate = 0.04, Seed = 3 };
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, stableProfile));

        var analysis = new AnalysisSpec { MaxErrorRate = null, MaxErrorRateIncrease = new ErrorRateIncrease(0.01, Relative: false) };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(10), Specs.Pause(TimeSpan.FromSeconds(20)), Specs.Weight(50), Specs.Pause(TimeSpan.FromSeconds(20))), analysis: analysis);
        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, stableProfile with { Seed = 4 }));

        deployment.State.ShouldBe(DeploymentState.Succeeded, deployment.Reason);
        var reading = DeploymentProgress.Parse(deployment.ProgressJson)?.Analysis.ShouldNotBeNull();
        reading!.Reason.ShouldContain("against the stable revision's", customMessage: "the comparison was made, and passed");
        reading.Verdict.ShouldBe(Verdict.Pass);
    }

    [Fact]
    public async Task Deploy_ReleaseThreeTimesAsBadAsItsStable_IsRolledBackWithBothRatesInTheReason()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 300, ErrorRate = 0.02, Seed = 5 }));

        // 6% is under the absolute 10% limit: only the comparison with the stable revision's 2% can catch it.
        var analysis = new AnalysisSpec { MaxErrorRate = 0.10, MaxErrorRateIncrease = new ErrorRateIncrease(2, Relative: true) };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(50), Specs.Pause(TimeSpan.FromSeconds(60))), analysis: analysis);
        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 300, ErrorRate = 0.06, Seed = 6 }));

        deployment.State.ShouldBe(DeploymentState.RolledBack);
        deployment.Reason.ShouldNotBeNull().ShouldContain("worse than the stable revision: error rate");
        deployment.Reason.ShouldContain("against the stable revision's");
        deployment.Reason.ShouldContain("allowed 2x");
    }
}
