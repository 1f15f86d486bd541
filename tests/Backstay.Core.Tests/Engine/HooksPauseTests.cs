using Backstay.Core.Engine;
using Backstay.Core.Hooks;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>Pause hooks: AwaitingAction until continued, rolled back or expired, across engine restarts.</summary>
public sealed class HooksPauseTests : IDisposable
{
    private const string Web = EngineHarness.ServiceName;

    private static readonly TimeSpan Timeout = EngineHarness.RealTimeout;

    private static readonly TimeSpan Long = TimeSpan.FromMinutes(10);

    private readonly HookDirectory _directory = new();

    [Fact]
    public async Task RunAsync_PauseHook_DeploymentPausedAndHookAwaitingActionWithItsExpiry()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, PauseCanary(HookSpecs.Pause(Long)));

        var run = await harness.RunUntilAwaitingAsync(deployment.Id);
        await harness.AdvanceAsync(TimeSpan.FromSeconds(5));

        harness.Store.Deployment(deployment.Id).State.ShouldBe(DeploymentState.Paused);
        var waiting = harness.Store.Waiting(deployment.Id).ShouldNotBeNull();
        waiting.Id.ShouldBe(run.Id);
        waiting.Kind.ShouldBe("pause");
        waiting.Stage.ShouldBe(Stages.AfterAllowTestTraffic);
        waiting.ExpiresAt.ShouldBe(waiting.StartedAt + Long);
        harness.Store.Events(deployment.Id).ShouldContain(e => e.Type == "Paused" && e.Message.Contains(run.Id));
        harness.Platform.ProductionWeightChanges().ShouldNotContain(o => o.WeightOf(2) > 0);
    }

    [Fact]
    public async Task ContinueAsync_ByHookId_HookSucceedsAnsweredByTheCallerAndDeploymentSucceeds()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, PauseCanary(HookSpecs.Pause(Long)));
        var run = await harness.RunUntilAwaitingAsync(deployment.Id);

        await harness.Requests.ContinueAsync(deployment.Id, run.Id, full: false, "alice", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        var answered = harness.Store.HookRuns(deployment.Id).ShouldHaveSingleItem();
        answered.Id.ShouldBe(run.Id);
        answered.State.ShouldBe(HookState.Succeeded);
        answered.Answer.ShouldBe("continue");
        answered.AnsweredBy.ShouldBe("alice");
        answered.FinishedAt.ShouldNotBeNull();
        harness.Platform.ShouldServeOnly(2, 3, others: 1);
    }

    [Fact]
    public async Task ContinueAsync_WithoutHookIdWhileOneWaits_AnswersThatHook()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, PauseCanary(HookSpecs.Pause(Long)));
        await harness.RunUntilAwaitingAsync(deployment.Id);

        await harness.Requests.ContinueAsync(deployment.Id, hookId: null, full: false, "alice", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        harness.Store.HookRuns(deployment.Id).ShouldHaveSingleItem().AnsweredBy.ShouldBe("alice");
    }

    [Fact]
    public async Task ContinueAsync_WrongHookId_InvalidRequestListingTheWaitingHookAndNothingChanges()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, PauseCanary(HookSpecs.Pause(Long)));
        var run = await harness.RunUntilAwaitingAsync(deployment.Id);

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.ContinueAsync(deployment.Id, "h-WRONG1234", full: false, "alice", CancellationToken.None).WaitAsync(Timeout));
        await harness.AdvanceAsync(TimeSpan.FromSeconds(2));

        refused.Message.ShouldContain("'h-WRONG1234'");
        refused.Message.ShouldContain(run.Id);
        refused.Message.ShouldContain(Stages.AfterAllowTestTraffic);
        harness.Store.Deployment(deployment.Id).State.ShouldBe(DeploymentState.Paused);
        harness.Store.Waiting(deployment.Id).ShouldNotBeNull().Id.ShouldBe(run.Id);
    }

    [Fact]
    public async Task RollbackAsync_WhilePauseHookWaits_RolledBackWithManualTriggerAndHookAnsweredRollback()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, PauseCanary(HookSpecs.Pause(Long)));
        var run = await harness.RunUntilAwaitingAsync(deployment.Id);

        await harness.Requests.RollbackAsync(Web, toRevision: null, "bob", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id);

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        done.Reason.ShouldNotBeNull().ShouldContain(run.Id);
        done.Reason.ShouldContain("bob");
        var rollback = harness.RollbackOf(deployment.Id).ShouldNotBeNull();
        rollback.Trigger.ShouldBe(Trigger.ManualRollback);
        rollback.RequestedBy.ShouldBe("bob");
        rollback.State.ShouldBe(DeploymentState.Succeeded, rollback.Reason);
        var answered = harness.Store.HookRuns(deployment.Id).ShouldHaveSingleItem();
        answered.Answer.ShouldBe("rollback");
        answered.AnsweredBy.ShouldBe("bob");
        answered.State.ShouldNotBe(HookState.AwaitingAction);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_PauseHookExpiresWithOnTimeoutRollback_TimedOutAndRolledBack()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, PauseCanary(HookSpecs.Pause(TimeSpan.FromSeconds(2), "rollback")));
        var run = await harness.RunUntilAwaitingAsync(deployment.Id);

        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(30));

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        var expired = harness.Store.HookRuns(deployment.Id).ShouldHaveSingleItem();
        expired.Id.ShouldBe(run.Id);
        expired.State.ShouldBe(HookState.TimedOut);
        expired.Answer.ShouldBe("rollback (default on timeout)");
        expired.FinishedAt.ShouldNotBeNull().ShouldBeGreaterThanOrEqualTo(run.ExpiresAt!.Value);
        done.Reason.ShouldNotBeNull().ShouldContain($"hook {run.Id} (pause) timed out");
        harness.RollbackOf(deployment.Id).ShouldNotBeNull().Trigger.ShouldBe(Trigger.AutomaticRollback);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_PauseHookExpiresWithOnTimeoutContinue_Succeeded()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, PauseCanary(HookSpecs.Pause(TimeSpan.FromSeconds(2), "continue")));
        await harness.RunUntilAwaitingAsync(deployment.Id);

        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(30));

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        var expired = harness.Store.HookRuns(deployment.Id).ShouldHaveSingleItem();
        expired.State.ShouldBe(HookState.Succeeded);
        expired.Answer.ShouldBe("continue (default on timeout)");
        harness.Platform.ShouldServeOnly(2, 3, others: 1);
    }

    [Fact]
    public async Task ContinueAsync_DeploymentInProgressNotPaused_InvalidRequestNamingTheState()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, Specs.Service(Specs.Canary(Specs.Weight(20), LongAnalysis())));
        await harness.RunUntilAsync(() => harness.Store.Events(deployment.Id).Any(e => e.Type == "StepStarted" && e.Message.Contains("analysis")),
            TimeSpan.FromSeconds(10), "analysis running");

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.ContinueAsync(deployment.Id, hookId: null, full: false, "alice", CancellationToken.None).WaitAsync(Timeout));

        refused.Message.ShouldBe($"Deployment {deployment.Id} is InProgress, not Paused; there is nothing to continue.");
    }

    [Fact]
    public async Task ContinueAsync_FullAtAPauseHook_SkipsRemainingPausesAnalysesAndIntermediateWeights()
    {
        await using var harness = new EngineHarness();
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), LongAnalysis(), Specs.Weight(50), Specs.Pause())).WithHooks(_directory.Path,
            (Stages.AfterAllowTestTraffic, [HookSpecs.Pause(Long)]),
            (Stages.AfterAllowTraffic, [HookSpecs.Pause(Long)]),
            (Stages.Cleanup, [HookSpecs.Exec("echo cleaned >> cleanup.txt")]));
        var deployment = await StartAsync(harness, spec);
        var run = await harness.RunUntilAwaitingAsync(deployment.Id);

        await harness.Requests.ContinueAsync(deployment.Id, run.Id, full: true, "alice", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(10));

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        harness.Platform.ProductionWeightChanges().Skip(1).Select(o => o.WeightOf(2)).ShouldBe([100], "20% and 50% are skipped, 100% is not");
        var runs = harness.Store.HookRuns(deployment.Id);
        runs.Single(r => r.Stage == Stages.AfterAllowTraffic).Answer.ShouldBe("skipped by continue --full");
        runs.ShouldAllBe(r => r.State == HookState.Succeeded);
        _directory.Lines("cleanup.txt").Count.ShouldBe(1, "hooks that are not pauses still run");
        var events = harness.Store.Events(deployment.Id);
        events.ShouldNotContain(e => e.Type == "AnalysisPassed");
        events.Count(e => e.Type == "StepSkipped").ShouldBeGreaterThanOrEqualTo(3);
    }

    [Fact]
    public async Task ContinueAsync_FullWhileAnAnalysisRuns_CutsTheAnalysisShortAndSucceeds()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartAsync(harness, Specs.Service(Specs.Canary(Specs.Weight(20), LongAnalysis(), Specs.Weight(50))));
        await harness.RunUntilAsync(() => harness.Store.Events(deployment.Id).Any(e => e.Type == "StepStarted" && e.Message.Contains("analysis")),
            TimeSpan.FromSeconds(10), "analysis running");

        await harness.Requests.ContinueAsync(deployment.Id, hookId: null, full: true, "alice", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(10));

        // `continue --full` fast-forwards: an analysis of ten minutes in progress is a remaining step like any other.
        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        harness.Platform.ProductionWeightChanges()[^1].WeightOf(2).ShouldBe(100);
    }

    [Fact]
    public async Task RunAsync_EngineDiesWhilePauseHookWaits_NextOwnerWaitsOnTheSameHookAndContinuingItByIdWorks()
    {
        await using var harness = new EngineHarness();
        var first = await harness.StartEngineAsync("engine-a");
        await harness.DeployAsync(Specs.Service(), Healthy(harness));
        var spec = Specs.Service(Specs.Canary(Specs.Weight(50))).WithHooks(_directory.Path,
            (Stages.AfterInstall, [HookSpecs.Exec("echo install >> install.txt")]),
            (Stages.AfterAllowTestTraffic, [HookSpecs.Exec("echo smoke >> smoke.txt"), HookSpecs.Pause(Long)]));
        var deployment = await harness.StartAsync(spec, Healthy(harness));
        var run = await harness.RunUntilAwaitingAsync(deployment.Id);

        first.Kill();
        await first.Loop.WaitAsync(Timeout);
        await harness.StartEngineAsync("engine-b");
        await harness.RunUntilAsync(() => ResumedAndWaiting(harness, deployment.Id), TimeSpan.FromSeconds(30), "engine B waiting on the hook");

        var waiting = harness.Store.Waiting(deployment.Id).ShouldNotBeNull();
        waiting.Id.ShouldBe(run.Id);
        waiting.ExpiresAt.ShouldBe(run.ExpiresAt);
        harness.Store.Deployment(deployment.Id).Owner.ShouldBe("engine-b");
        await harness.Requests.ContinueAsync(deployment.Id, run.Id, full: false, "alice", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        _directory.Lines("install.txt").Count.ShouldBe(1);
        _directory.Lines("smoke.txt").Count.ShouldBe(1, "a hook that succeeded before the restart is not run again");
        var runs = harness.Store.HookRuns(deployment.Id);
        runs.Count.ShouldBe(3);
        runs.Single(r => r.Kind == "pause").ShouldSatisfyAllConditions(
            r => r.Id.ShouldBe(run.Id),
            r => r.State.ShouldBe(HookState.Succeeded),
            r => r.AnsweredBy.ShouldBe("alice"));
    }

    [Fact]
    public async Task RollbackAsync_PauseHookAtBeforeAllowTraffic_RollbackPutsTrafficBackWithoutWaitingForApprovalAgain()
    {
        // The spec of DESIGN.md: a pause before production traffic, one hour, rollback on timeout.
        await using var harness = new EngineHarness();
        var spec = Specs.Service(Specs.Canary(Specs.Weight(50)))
            .WithHooks(null, (Stages.BeforeAllowTraffic, [HookSpecs.Pause(TimeSpan.FromHours(1), "rollback")]));
        var deployment = await StartAsync(harness, spec);
        await harness.RunUntilAwaitingAsync(deployment.Id);

        await harness.Requests.RollbackAsync(Web, toRevision: null, "bob", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(10));

        // Bob already answered ROLLBACK; the rollback must not wait in Paused for a second answer (rule 1: traffic back first).
        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_AnalysisFailsWhilePauseHookWaits_RolledBackAndHookNoLongerAwaitingAction()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        (await harness.DeployAsync(Specs.Service(), Healthy(harness))).State.ShouldBe(DeploymentState.Succeeded);
        // Bake is not a traffic stage, so the rollback does not run the pause again.
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20))).WithHooks(null, (Stages.Bake, [HookSpecs.Pause(Long)]));
        var deployment = await harness.StartAsync(spec, r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { ErrorRate = 0.5 }));

        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(30));

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        done.Reason.ShouldNotBeNull().ShouldContain("analysis failed");
        harness.Store.HookRuns(deployment.Id).ShouldHaveSingleItem().State
            .ShouldNotBe(HookState.AwaitingAction, "a rolled-back deployment has no hook that still awaits an answer");
    }

    [Fact]
    public async Task RunAsync_ContinueForAPauseHookArrivesAfterItExpired_DoesNotContinueALaterPauseStep()
    {
        await using var harness = new EngineHarness();
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause()))
            .WithHooks(null, (Stages.AfterAllowTestTraffic, [HookSpecs.Pause(TimeSpan.FromSeconds(2), "continue")]));
        var deployment = await StartAsync(harness, spec);
        var run = await harness.RunUntilAwaitingAsync(deployment.Id);
        await harness.RunUntilAsync(
            () => harness.Store.HookRuns(deployment.Id).Single().State == HookState.Succeeded && harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused,
            TimeSpan.FromSeconds(10), "hook expired and the pause step waiting");

        // `continue --hook` checked the hook while it waited; its command reaches the engine just after the hook expired.
        await harness.Store.EnqueueCommandAsync(new DeploymentCommand
        {
            DeploymentId = deployment.Id,
            Kind = CommandKind.Continue,
            HookId = run.Id,
            RequestedBy = "alice",
            At = harness.Time.GetUtcNow(),
        }, CancellationToken.None).WaitAsync(Timeout);
        await harness.AdvanceAsync(TimeSpan.FromSeconds(2));

        harness.Store.Deployment(deployment.Id).State.ShouldBe(DeploymentState.Paused, "an answer to hook " + run.Id + " is not an answer to the pause step");
        harness.Platform.ProductionWeightChanges()[^1].WeightOf(2).ShouldBe(20);
    }

    public void Dispose() => _directory.Dispose();

    private ServiceSpec PauseCanary(HookSpec pause) =>
        Specs.Service(Specs.Canary(Specs.Weight(50))).WithHooks(_directory.Path, (Stages.AfterAllowTestTraffic, [pause]));

    private static AnalysisStep LongAnalysis() =>
        new(new AnalysisSpec { Window = TimeSpan.FromMinutes(10), MinRequests = 1_000_000, Interval = TimeSpan.FromMilliseconds(500) });

    private static Action<int> Healthy(EngineHarness harness) => r => harness.Platform.SetTraffic(Web, r, new TrafficProfile());

    private static async Task<Deployment> StartAsync(EngineHarness harness, ServiceSpec spec)
    {
        await harness.StartEngineAsync();
        (await harness.DeployAsync(Specs.Service(), Healthy(harness))).State.ShouldBe(DeploymentState.Succeeded);
        return await harness.StartAsync(spec, Healthy(harness));
    }

    private static bool ResumedAndWaiting(EngineHarness harness, string deploymentId)
    {
        var events = harness.Store.Events(deploymentId).ToList();
        var resumed = events.FindIndex(e => e.Type == "Resumed");
        return resumed >= 0 && events.Skip(resumed).Any(e => e.Type == "Paused")
            && harness.Store.Deployment(deploymentId).State == DeploymentState.Paused;
    }
}
