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
    public async Task Progress_CanaryFailingAFifthOfItsRequests_ShowsTheFailingVerdictWithItsFiguresAndHowCloseItIsToRollingBack()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 60 }));

        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(10), MinRequests = 20, ConsecutiveFailures = 100 };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(50), Specs.Pause(TimeSpan.FromMinutes(10))), analysis: analysis);
        var deployment = await harness.StartAsync(spec,
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 60, ErrorRate = 0.2, Seed = 7 }));

        await harness.RunUntilAsync(() => Reading(harness, deployment.Id) is { Verdict: Verdict.Fail, Failures: >= 2 }, TimeSpan.FromMinutes(1), "a failing verdict in the progress");

        var progress = DeploymentProgress.Parse(harness.Store.Deployment(deployment.Id).ProgressJson).ShouldNotBeNull();
        progress.TargetHealthy.ShouldBe(progress.TargetDesired);
        var reading = progress.Analysis.ShouldNotBeNull();
        reading.Reason.ShouldContain("is above the limit of 5%");
        reading.FailuresToRollBack.ShouldBe(100);
        reading.At.ShouldBeLessThanOrEqualTo(harness.Time.GetUtcNow());
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
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { RequestsPerSecond = 1, ErrorRate = 1 }));

        await harness.RunUntilAsync(() => Reading(harness, deployment.Id) is not null, TimeSpan.FromMinutes(1), "an analysis reading in the progress");
        await harness.AdvanceAsync(TimeSpan.FromSeconds(3));

        var reading = Reading(harness, deployment.Id).ShouldNotBeNull();
        reading.Verdict.ShouldBe(Verdict.Inconclusive);
        reading.Reason.ShouldContain("of the 20 requests needed to judge");
        reading.Failures.ShouldBe(0);
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
