using Backstay.Core.Engine;
using Backstay.Core.Hooks;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

public sealed class StopTests
{
    private const string Web = EngineHarness.ServiceName;

    private static readonly TimeSpan Timeout = EngineHarness.RealTimeout;

    [Fact]
    public async Task StopAsync_DuringPauseStep_StoppedWithTrafficLeftAsRecordedAndTheSplitNamed()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(), Specs.Weight(60))));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(10), "paused");
        var operations = harness.Platform.Operations.Count;

        await harness.Requests.StopAsync(deployment.Id, rollback: false, "carol", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(10));

        done.State.ShouldBe(DeploymentState.Stopped, done.Reason);
        done.Reason.ShouldBe("stopped by carol");
        done.TargetWeight.ShouldBe(20);
        done.FinishedAt.ShouldNotBeNull();
        harness.Platform.Operations.Skip(operations).ShouldBeEmpty("a stop leaves the platform as it is");
        harness.Platform.WeightsNow(Web).ShouldBe(new Dictionary<int, int> { [1] = 80, [2] = 20 }, ignoreOrder: true);
        var stopped = harness.Store.Events(deployment.Id).Single(e => e.Type == "Stopped");
        stopped.Message.ShouldContain("revision 2 20%, revision 1 80%");
        stopped.Message.ShouldContain("backstay reset web");
        harness.RollbackOf(deployment.Id).ShouldBeNull();
        harness.Store.AllDeployments.ShouldNotContain(d => d.IsActive);
    }

    [Fact]
    public async Task StopAsync_DuringLongAnalysis_Stopped()
    {
        await using var harness = new EngineHarness();
        var analysis = new AnalysisStep(new AnalysisSpec { Window = TimeSpan.FromMinutes(10), MinRequests = 20 });
        var deployment = await StartAsync(harness, Specs.Service(Specs.Canary(Specs.Weight(30), analysis)));
        await harness.RunUntilAsync(() => harness.Store.Events(deployment.Id).Any(e => e.Type == "StepStarted" && e.Message.Contains("analysis")),
            TimeSpan.FromSeconds(10), "analysis running");

        await harness.Requests.StopAsync(deployment.Id, rollback: false, "carol", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(10));

        done.State.ShouldBe(DeploymentState.Stopped, done.Reason);
        harness.Platform.WeightsNow(Web).ShouldBe(new Dictionary<int, int> { [1] = 70, [2] = 30 }, ignoreOrder: true);
        harness.Store.Events(deployment.Id).ShouldNotContain(e => e.Type == "AnalysisPassed");
    }

    [Fact]
    public async Task StopAsync_WithRollback_RolledBackByManualRollback()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause())));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(10), "paused");

        await harness.Requests.StopAsync(deployment.Id, rollback: true, "carol", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(10));

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        var rollback = harness.RollbackOf(deployment.Id).ShouldNotBeNull();
        rollback.Trigger.ShouldBe(Trigger.ManualRollback);
        rollback.RequestedBy.ShouldBe("carol");
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task StopAsync_WhilePauseHookWaits_StoppedAndHookNoLongerAwaitingAction()
    {
        await using var harness = new EngineHarness();
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Weight(60)))
            .WithHooks(null, (Stages.AllowTraffic, [HookSpecs.Pause(TimeSpan.FromMinutes(10))]));
        var deployment = await StartAsync(harness, spec);
        var run = await harness.RunUntilAwaitingAsync(deployment.Id);

        await harness.Requests.StopAsync(deployment.Id, rollback: false, "carol", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(10));

        done.State.ShouldBe(DeploymentState.Stopped, done.Reason);
        harness.Platform.WeightsNow(Web).ShouldBe(new Dictionary<int, int> { [1] = 80, [2] = 20 }, ignoreOrder: true);
        harness.Store.HookRuns(deployment.Id).Single(r => r.Id == run.Id).State
            .ShouldNotBe(HookState.AwaitingAction, "a stopped deployment has no hook that still awaits an answer");
    }

    [Fact]
    public async Task StopAsync_BeforeTheEngineStartsIt_StoppedBeforeAnyPlatformChange()
    {
        await using var harness = new EngineHarness();
        var first = await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), Healthy(harness));
        await first.StopAsync();
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause())), Healthy(harness));
        var operations = harness.Platform.Operations.Count;

        await harness.Requests.StopAsync(deployment.Id, rollback: false, "carol", CancellationToken.None).WaitAsync(Timeout);
        await harness.StartEngineAsync("engine-b");
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(10));

        // The next safe point of a deployment that has not begun is before its first step.
        done.State.ShouldBe(DeploymentState.Stopped, done.Reason);
        harness.Platform.Operations.Skip(operations).ShouldBeEmpty();
    }

    [Fact]
    public async Task StopAsync_FinishedDeployment_InvalidRequestNamingTheState()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var done = await harness.DeployAsync(Specs.Service(), Healthy(harness));

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.StopAsync(done.Id, rollback: false, "carol", CancellationToken.None).WaitAsync(Timeout));

        refused.Message.ShouldBe($"Deployment {done.Id} is Succeeded; only a deployment in progress can be stopped.");
    }

    [Fact]
    public async Task StopAsync_UnknownDeployment_InvalidRequestNamingIt()
    {
        await using var harness = new EngineHarness();

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.StopAsync("d-NOPE12345", rollback: false, "carol", CancellationToken.None).WaitAsync(Timeout));

        refused.Message.ShouldContain("'d-NOPE12345'");
    }

    [Fact]
    public async Task StopAsync_RollbackDeploymentAndTheDeploymentItUndoes_Refused()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause())));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(10), "paused");
        harness.Platform.SetBehavior(Web, 1, InstanceBehavior.After(TimeSpan.FromMinutes(10)));
        await harness.Platform.ScaleAsync(Specs.Service(), harness.Store.Revisions(Web)[0], 0, CancellationToken.None).WaitAsync(Timeout);

        // With the stable revision's instances gone, the rollback must bring it up first: it stays active for a while.
        await harness.Requests.RollbackAsync(Web, toRevision: null, "bob", CancellationToken.None).WaitAsync(Timeout);
        await harness.RunUntilAsync(() => harness.RollbackOf(deployment.Id) is { State: DeploymentState.InProgress }, TimeSpan.FromSeconds(10), "rollback running");
        var rollback = harness.RollbackOf(deployment.Id)!;

        var refusedRollback = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.StopAsync(rollback.Id, rollback: false, "carol", CancellationToken.None).WaitAsync(Timeout));
        var refusedUndone = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.StopAsync(deployment.Id, rollback: false, "carol", CancellationToken.None).WaitAsync(Timeout));

        refusedRollback.Message.ShouldContain("rollback");
        refusedRollback.Message.ShouldContain("cannot be stopped");
        refusedUndone.Message.ShouldContain("being rolled back");
        harness.Store.Deployment(rollback.Id).State.ShouldBe(DeploymentState.InProgress);
    }

    [Fact]
    public async Task RollbackAsync_ToStableAfterCanaryStoppedWithTrafficSplit_RollbackRestoresTheStableRevision()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause())));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(10), "paused");
        await harness.Requests.StopAsync(deployment.Id, rollback: false, "carol", CancellationToken.None).WaitAsync(Timeout);
        (await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(10))).State.ShouldBe(DeploymentState.Stopped);
        harness.Store.Events(deployment.Id).Single(e => e.Type == "Stopped").Message.ShouldContain("or a rollback");

        // What `backstay rollback DEPLOYMENT` asks for a finished deployment: back to the revision it replaced.
        var rollback = await harness.Requests.RollbackAsync(Web, toRevision: 1, "carol", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(rollback.Id, TimeSpan.FromSeconds(10));

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    private static Action<int> Healthy(EngineHarness harness) => r => harness.Platform.SetTraffic(Web, r, new TrafficProfile());

    private static async Task<Deployment> StartAsync(EngineHarness harness, ServiceSpec spec)
    {
        await harness.StartEngineAsync();
        (await harness.DeployAsync(Specs.Service(), Healthy(harness))).State.ShouldBe(DeploymentState.Succeeded);
        return await harness.StartAsync(spec, Healthy(harness));
    }
}
