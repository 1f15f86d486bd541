using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

public sealed class DeploymentEngineResumeTests
{
    private const string Web = EngineHarness.ServiceName;

    /// <summary>
    /// 0 scale target, 1 weight 20, 2 pause 500ms, 3 analysis, 4 weight 50, 5 pause 500ms, 6 weight 100,
    /// 7 scale stable to 0, 8 test traffic.
    /// </summary>
    private static readonly ServiceSpec Canary = Specs.Service(Specs.Canary(
        Specs.Weight(20),
        Specs.PauseMs(500),
        new AnalysisStep(new AnalysisSpec { Window = TimeSpan.FromMilliseconds(500), MinRequests = 10 }),
        Specs.Weight(50),
        Specs.PauseMs(500)));

    public static TheoryData<int> Steps => [.. Enumerable.Range(0, PlanBuilder.ForDeployment(Canary, hasStable: true).Actions.Count)];

    [Fact]
    public async Task RunAsync_ProcessDiesAfterJournalingTheMoveBackAtAFailureVerdict_NextOwnerFinishesTheRollbackWithoutRunningStepsAgain()
    {
        await using var harness = new EngineHarness();
        var first = await harness.StartEngineAsync("engine-a");
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        var deployment = await harness.StartAsync(Canary, r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { ErrorRate = 0.5 }));
        harness.Store.OnJournalAppended = e =>
        {
            if (e.DeploymentId == deployment.Id && e.Action.StartsWith("production traffic back", StringComparison.Ordinal))
            {
                harness.Store.OnJournalAppended = null;
                first.Kill();
            }
        };

        await harness.RunUntilAsync(() => first.Loop.IsCompleted, TimeSpan.FromSeconds(30), "engine A dying at the failure verdict");
        await first.Loop.WaitAsync(EngineHarness.RealTimeout);
        var died = harness.Store.Deployment(deployment.Id);
        died.IsActive.ShouldBeTrue();
        died.SafeAt.ShouldBeNull("engine A died before it moved traffic");
        var stepsStarted = harness.Store.Journal(deployment.Id).Count(e => e.Phase == StepPhase.Started);

        await harness.StartEngineAsync("engine-b");
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(30));

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        done.Reason.ShouldNotBeNull().ShouldStartWith("analysis failed");
        done.SafeAt.ShouldNotBeNull();
        var journal = harness.Store.Journal(deployment.Id);
        journal.Count(e => e.Phase == StepPhase.Started).ShouldBe(stepsStarted + 1, "only the move back is journaled again; no step runs again");
        harness.Store.Events(deployment.Id).Select(e => e.Type).ShouldContain("Resumed");
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Theory]
    [MemberData(nameof(Steps))]
    public async Task RunAsync_ProcessDiesWhenStepIsJournaled_NextOwnerResumesThatStepAndSucceeds(int step)
    {
        await using var harness = new EngineHarness();
        var first = await harness.StartEngineAsync("engine-a");
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        var deployment = await harness.StartAsync(Canary, r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        harness.Store.OnJournalAppended = e =>
        {
            if (e.DeploymentId == deployment.Id && e.Step == step && e.Phase == StepPhase.Started)
            {
                harness.Store.OnJournalAppended = null;
                first.Kill();
            }
        };

        await harness.RunUntilAsync(() => first.Loop.IsCompleted, TimeSpan.FromSeconds(30), $"engine A dying at step {step}");
        await first.Loop.WaitAsync(EngineHarness.RealTimeout);
        var died = harness.Store.Deployment(deployment.Id);
        died.IsActive.ShouldBeTrue();
        harness.Store.LeaseOwner(DeploymentEngine.LeaseKey(Web)).ShouldBe("engine-a", "a dead process leaves its lease to expire");

        var second = await harness.StartEngineAsync("engine-b");
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(30));

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        done.Owner.ShouldBe(second.Owner);
        harness.Store.ShouldHaveCompletedEveryStep(done);
        var journal = harness.Store.Journal(deployment.Id);
        journal.Count(e => e.Step == step && e.Phase == StepPhase.Started).ShouldBe(2, "the step in flight is run again, not skipped");
        journal.Where(e => e.Phase == StepPhase.Completed).Select(e => e.Step).ShouldBe(Enumerable.Range(0, done.TotalSteps));
        harness.Store.Events(deployment.Id).ShouldContain(e => e.Type == "Resumed");
        harness.Platform.ShouldServeOnly(2, 3, others: 1);
        harness.RollbackOf(deployment.Id).ShouldBeNull();
    }

    [Fact]
    public async Task RunAsync_ProcessDiesAfterWeightChangeBeforeRecordingIt_NextOwnerResumesWithoutCryingDrift()
    {
        await using var harness = new EngineHarness();
        var first = await harness.StartEngineAsync("engine-a");
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        var deployment = await harness.StartAsync(Canary, r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        harness.Platform.OnOperation = operation =>
        {
            if (operation is WeightOperation { Listener: Listener.Production } w && w.WeightOf(2) == 50)
            {
                harness.Platform.OnOperation = null;
                first.Kill();
            }
        };

        await harness.RunUntilAsync(() => first.Loop.IsCompleted, TimeSpan.FromSeconds(30), "engine A dying right after setting 50%");
        await first.Loop.WaitAsync(EngineHarness.RealTimeout);
        harness.Store.Deployment(deployment.Id).TargetWeight.ShouldBe(20, "the record still says 20%, the load balancer 50%");

        await harness.StartEngineAsync("engine-b");
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(30));

        // The step's own intent was journaled before acting; finding it done is not drift.
        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        harness.Platform.ShouldServeOnly(2, 3, others: 1);
    }

    [Fact]
    public async Task RunAsync_ProcessDiesDuringRollback_NextOwnerFinishesTheRollback()
    {
        await using var harness = new EngineHarness();
        var first = await harness.StartEngineAsync("engine-a");
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause())),
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { ErrorRate = 0.5 }));
        harness.Store.OnJournalAppended = e =>
        {
            if (e.DeploymentId != deployment.Id && e.Step == 1 && e.Phase == StepPhase.Started)
            {
                harness.Store.OnJournalAppended = null;
                first.Kill();
            }
        };

        await harness.RunUntilAsync(() => first.Loop.IsCompleted, TimeSpan.FromSeconds(30), "engine A dying inside the rollback");
        await first.Loop.WaitAsync(EngineHarness.RealTimeout);
        harness.Store.Deployment(deployment.Id).State.ShouldBe(DeploymentState.RollingBack);

        await harness.StartEngineAsync("engine-b");
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(30));

        done.State.ShouldBe(DeploymentState.RolledBack);
        var rollback = harness.RollbackOf(deployment.Id).ShouldNotBeNull();
        rollback.State.ShouldBe(DeploymentState.Succeeded);
        harness.Store.ShouldHaveCompletedEveryStep(rollback);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_PausedWhenProcessDies_NextOwnerStaysPausedUntilContinued()
    {
        await using var harness = new EngineHarness();
        var first = await harness.StartEngineAsync("engine-a");
        await harness.DeployAsync(Specs.Service());
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause())),
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(5), "paused");

        first.Kill();
        await first.Loop.WaitAsync(EngineHarness.RealTimeout);
        await harness.StartEngineAsync("engine-b");
        await harness.AdvanceAsync(harness.LeaseTtl * 2);

        var resumed = harness.Store.Deployment(deployment.Id);
        resumed.State.ShouldBe(DeploymentState.Paused);
        resumed.Owner.ShouldBe("engine-b");
        await harness.Requests.ContinueAsync(deployment.Id, full: false, "alice", CancellationToken.None).WaitAsync(EngineHarness.RealTimeout);
        var done = await harness.RunToEndAsync(deployment.Id);
        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
    }

    [Fact]
    public async Task PassAsync_LeaseHeldByLiveOwner_SecondEngineDoesNotRunTheDeployment()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync("engine-a");
        await harness.DeployAsync(Specs.Service());
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause())));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(5), "paused");

        var second = await harness.StartEngineAsync("engine-b");
        await harness.AdvanceAsync(harness.LeaseTtl * 3);

        second.Engine.RunningServices.ShouldBeEmpty();
        harness.Store.Deployment(deployment.Id).Owner.ShouldBe("engine-a");
        harness.Store.LeaseOwner(DeploymentEngine.LeaseKey(Web)).ShouldBe("engine-a");
    }

    [Fact]
    public async Task RunAsync_LeaseTakenByAnotherOwner_EngineStopsRunningTheDeployment()
    {
        await using var harness = new EngineHarness();
        var first = await harness.StartEngineAsync("engine-a");
        await harness.DeployAsync(Specs.Service());
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause())));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(5), "paused");

        // Engine A stalled past its lease; another controller took the service over.
        harness.Store.ForceLease(DeploymentEngine.LeaseKey(Web), "engine-b", TimeSpan.FromMinutes(10));
        await harness.AdvanceAsync(harness.LeaseTtl);

        first.Engine.RunningServices.ShouldBeEmpty("an engine that lost its lease must stop driving the service");
    }

    [Fact]
    public async Task RunAsync_StalledPastItsLeaseAndWokenBeforeItRenews_MakesNoWriteToThePlatformOrTheStore()
    {
        // Renewed every 20 s: the timed pause ends long before engine A would learn at renewal that the lease moved.
        await using var harness = new EngineHarness { LeaseTtl = TimeSpan.FromMinutes(1) };
        var first = await harness.StartEngineAsync("engine-a");
        await harness.DeployAsync(Specs.Service());
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(TimeSpan.FromSeconds(5)), Specs.Weight(60))),
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        await harness.RunUntilAsync(() => harness.Store.Journal(deployment.Id).Any(e => e.Action.StartsWith("pause", StringComparison.Ordinal)), TimeSpan.FromSeconds(5), "in the timed pause");
        var operationsBefore = harness.Platform.Operations.Count;
        var eventsBefore = harness.Store.Events(deployment.Id).Count;
        var journalBefore = harness.Store.Journal(deployment.Id).Count;

        // Engine A stalled past its lease (SIGSTOP); another replica took the service over, at the next generation.
        harness.Store.ForceLease(DeploymentEngine.LeaseKey(Web), "engine-b", TimeSpan.FromMinutes(10));
        await harness.AdvanceAsync(TimeSpan.FromSeconds(10));

        harness.Platform.Operations.Skip(operationsBefore).ShouldBeEmpty("the 60% step is fenced off: engine B holds the lease");
        harness.Platform.WeightsNow(Web).ShouldBe(new Dictionary<int, int> { [1] = 80, [2] = 20 }, ignoreOrder: true);
        harness.Store.Events(deployment.Id).Count.ShouldBe(eventsBefore);
        harness.Store.Journal(deployment.Id).Count.ShouldBe(journalBefore);
        first.Engine.RunningServices.ShouldBeEmpty();
        harness.Store.LeaseOwner(DeploymentEngine.LeaseKey(Web)).ShouldBe("engine-b", "a fenced engine does not release a lease it no longer holds");
    }
}
