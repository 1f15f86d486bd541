using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>Rolling updates the platform runs itself (ECS's deployment controller), driven and judged by the engine on the fake clock.</summary>
public sealed class NativeRolloutTests
{
    private const string Web = EngineHarness.ServiceName;
    private const string CircuitBreaker = "ECS deployment circuit breaker: tasks failed to start.";

    private static readonly ServiceSpec Native = new()
    {
        Service = Web,
        Platform = new PlatformSpec
        {
            Ecs = new EcsPlatformSpec { Cluster = "prod", DesiredCount = 3, DeploymentController = EcsDeploymentControllers.Ecs, Alarms = ["web-5xx"] },
        },
        Task = new TaskSpec { Image = "hello:1", StartTimeout = TimeSpan.FromSeconds(5) },
        Strategy = new StrategySpec { Rolling = new RollingSpec { Batch = 1 } },
    };

    [Fact]
    public void ForDeployment_EcsControllerRolling_IsOneNativeRolloutAlsoForAFirstDeployment()
    {
        PlanBuilder.ForDeployment(Native, hasStable: false).Actions.ShouldBe([new NativeRolloutAction()]);
        PlanBuilder.ForDeployment(Native, hasStable: true).Actions.ShouldBe([new NativeRolloutAction()]);
        PlanBuilder.ForDeployment(Native with { Platform = new PlatformSpec { Ecs = Native.Platform.Ecs! with { DeploymentController = EcsDeploymentControllers.External } } },
            hasStable: true).Actions.ShouldNotContain(a => a is NativeRolloutAction);
    }

    [Fact]
    public void ForRollback_OfANativeRollout_IsANativeRolloutBack()
    {
        var undone = PlanBuilder.ForDeployment(Native, hasStable: true);

        PlanBuilder.ForRollback(undone, stableCountBefore: 3, reachedPhase: 0).Actions.ShouldBe([new NativeRolloutAction()]);
        PlanBuilder.ForManualRollback(Native, count: 3).Actions.ShouldBe([new NativeRolloutAction()]);
    }

    [Fact]
    public void Plan_WithNativeRollout_SurvivesTheJsonRoundTrip()
    {
        var plan = PlanBuilder.ForDeployment(Native, hasStable: true);

        var read = DeploymentPlan.FromJson(plan.ToJson());

        read.Actions.ShouldBe([new NativeRolloutAction()]);
        read.Spec.Platform.Ecs!.NativeRolling.ShouldBeTrue();
    }

    [Fact]
    public void ForDeployment_NativeRolloutWithHooks_RunsInstallAndTrafficStagesAroundIt()
    {
        var hook = new HookSpec { Exec = new ExecHookSpec { Command = ["true"] } };
        var spec = Native with
        {
            Hooks = new Dictionary<string, IReadOnlyList<HookSpec>> { ["BeforeInstall"] = [hook], ["AfterAllowTraffic"] = [hook] },
        };

        PlanBuilder.ForDeployment(spec, hasStable: true).Actions.ShouldBe(
        [
            new HookAction("BeforeInstall"),
            new NativeRolloutAction(),
            new HookAction("AfterAllowTraffic"),
        ]);
    }

    [Fact]
    public async Task RunAsync_RolloutCompletes_Succeeds()
    {
        await using var harness = new EngineHarness();
        var rollout = Attach(harness);
        await harness.StartEngineAsync();
        var first = await harness.DeployAsync(Native);

        var second = await harness.DeployAsync(Native with { Task = Native.Task with { Image = "hello:2" } });

        first.State.ShouldBe(DeploymentState.Succeeded, first.Reason);
        second.State.ShouldBe(DeploymentState.Succeeded, second.Reason);
        second.TargetWeight.ShouldBe(100);
        rollout.Starts.ShouldBe([("rollout-1", 1), ("rollout-2", 2)]);
        harness.Store.ShouldHaveCompletedEveryStep(second);
        var events = harness.Store.Events(second.Id);
        events.ShouldContain(e => e.Type == "RolloutStarted" && e.Message.Contains("rollout-2"));
        events.ShouldContain(e => e.Type == "RolloutProgress" && e.Message.Contains("3/3 instance(s) of revision 2 running"));
        events.ShouldContain(e => e.Type == "RolloutCompleted");
        harness.Platform.WeightsNow(Web).ShouldBe(new Dictionary<int, int> { [2] = 100 });
        (await harness.Store.GetServiceAsync(Web, CancellationToken.None))!.StableRevision.ShouldBe(2);
        harness.RollbackOf(second.Id).ShouldBeNull();
    }

    [Fact]
    public async Task RunAsync_CircuitBreakerFailsTheRollout_RollsBackThroughANativeRolloutToTheStableRevision()
    {
        await using var harness = new EngineHarness();
        var rollout = Attach(harness);
        await harness.StartEngineAsync();
        await harness.DeployAsync(Native);

        var failed = await harness.DeployAsync(Native with { Task = Native.Task with { Image = "hello:2" } },
            r => rollout.Script(r, NativeRolloutScript.Fails(CircuitBreaker)));

        failed.State.ShouldBe(DeploymentState.RolledBack, failed.Reason);
        failed.Reason.ShouldBe($"the platform's rollout rollout-2 of revision 2 failed: {CircuitBreaker}");
        var rollback = harness.RollbackOf(failed.Id).ShouldNotBeNull();
        rollback.State.ShouldBe(DeploymentState.Succeeded, rollback.Reason);
        rollback.TargetRevision.ShouldBe(1);
        DeploymentPlan.FromJson(rollback.PlanJson).Actions.ShouldBe([new NativeRolloutAction()]);
        rollout.Starts.ShouldBe([("rollout-1", 1), ("rollout-2", 2), ("rollout-3", 1)], "the rollback is a native rollout back to revision 1");
        harness.Store.Deployment(failed.Id).SafeAt.ShouldNotBeNull();
        harness.Platform.WeightsNow(Web).ShouldBe(new Dictionary<int, int> { [1] = 100 });
        (await harness.Store.GetServiceAsync(Web, CancellationToken.None))!.StableRevision.ShouldBe(1);
    }

    [Fact]
    public async Task RunAsync_RolloutWhoseTasksNeverStart_RollsBackAfterStartTimeoutPlusTheDrainMarginWithoutProgress()
    {
        await using var harness = new EngineHarness { Step = TimeSpan.FromMilliseconds(500) };
        var rollout = Attach(harness);
        await harness.StartEngineAsync();
        await harness.DeployAsync(Native);

        // No instance ever runs (ECS cannot place the tasks); the circuit breaker would never trip.
        var stuck = await harness.StartAsync(Native with { Task = Native.Task with { Image = "hello:2" } },
            r => rollout.Script(r, new NativeRolloutScript(Backstay.Core.Ports.NativeRolloutState.Completed, TimeSpan.FromDays(1))));
        var done = await harness.RunToEndAsync(stuck.Id, TimeSpan.FromMinutes(20));

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        done.Reason!.ShouldStartWith("the platform's rollout rollout-2 of revision 2 made no progress for 10.1m (task.startTimeout + 10m): 0/3 instance(s) running");
        var failedAt = harness.Store.Events(stuck.Id).Single(e => e.Type == "Failed").At;
        var startedAt = harness.Store.Events(stuck.Id).Single(e => e.Type == "RolloutStarted").At;
        (failedAt - startedAt).ShouldBeInRange(TimeSpan.FromSeconds(605), TimeSpan.FromSeconds(607));
        harness.Platform.WeightsNow(Web).ShouldBe(new Dictionary<int, int> { [1] = 100 });
    }

    [Fact]
    public async Task RunAsync_FirstRolloutFails_FailsWithTheReasonAndNothingToRollBackTo()
    {
        await using var harness = new EngineHarness();
        var rollout = Attach(harness);
        await harness.StartEngineAsync();

        var failed = await harness.DeployAsync(Native, r => rollout.Script(r, NativeRolloutScript.Fails(CircuitBreaker)));

        failed.State.ShouldBe(DeploymentState.Failed);
        failed.Reason!.ShouldEndWith(CircuitBreaker);
        harness.RollbackOf(failed.Id).ShouldBeNull();
    }

    [Fact]
    public async Task RunAsync_AlarmFiresDuringTheRollout_RollsBack()
    {
        await using var harness = new EngineHarness();
        var rollout = Attach(harness);
        await harness.StartEngineAsync();
        await harness.DeployAsync(Native);
        var deployment = await harness.StartAsync(Native with { Task = Native.Task with { Image = "hello:2" } },
            r => rollout.Script(r, NativeRolloutScript.Completes with { After = TimeSpan.FromMinutes(5) }));
        await harness.RunUntilAsync(() => harness.Store.Events(deployment.Id).Any(e => e.Type == "RolloutStarted"), TimeSpan.FromSeconds(10), "rollout started");

        harness.Platform.SetAlarm("web-5xx", "ALARM", "5xx above 10");
        var done = await harness.RunToEndAsync(deployment.Id);

        done.State.ShouldBe(DeploymentState.RolledBack);
        done.Reason!.ShouldStartWith("alarm web-5xx went to ALARM");
        rollout.Starts.Last().ShouldBe(("rollout-3", 1));
    }

    [Fact]
    public async Task RunAsync_AlarmAlreadyFiring_StopsBeforeTheRolloutStarts()
    {
        await using var harness = new EngineHarness();
        var rollout = Attach(harness);
        await harness.StartEngineAsync();
        await harness.DeployAsync(Native);
        harness.Platform.SetAlarm("web-5xx", "ALARM", "5xx above 10");

        var stopped = await harness.DeployAsync(Native with { Task = Native.Task with { Image = "hello:2" } });

        stopped.State.ShouldBe(DeploymentState.Stopped);
        stopped.Reason!.ShouldContain("already in ALARM");
        rollout.Starts.Count.ShouldBe(1, "the second rollout never started");
    }

    [Fact]
    public async Task RunAsync_EngineRestartsDuringTheRollout_ReattachesToTheSameRollout()
    {
        await using var harness = new EngineHarness();
        var rollout = Attach(harness);
        var first = await harness.StartEngineAsync("engine-a");
        await harness.DeployAsync(Native);
        var deployment = await harness.StartAsync(Native with { Task = Native.Task with { Image = "hello:2" } },
            r => rollout.Script(r, NativeRolloutScript.Completes with { After = TimeSpan.FromSeconds(30) }));
        harness.Store.OnJournalAppended = e =>
        {
            if (e.DeploymentId == deployment.Id && e.DetailJson is not null)
            {
                harness.Store.OnJournalAppended = null;
                first.Kill();
            }
        };

        await harness.RunUntilAsync(() => first.Loop.IsCompleted, TimeSpan.FromSeconds(30), "engine A dying after the rollout started");
        await first.Loop.WaitAsync(EngineHarness.RealTimeout);
        harness.Store.Deployment(deployment.Id).IsActive.ShouldBeTrue();
        var callsBefore = rollout.StartCalls;

        await harness.StartEngineAsync("engine-b");
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromMinutes(2));

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        rollout.StartCalls.ShouldBe(callsBefore, "the resumed runner follows the journaled rollout instead of starting one");
        rollout.Starts.ShouldBe([("rollout-1", 1), ("rollout-2", 2)]);
        harness.Store.Events(deployment.Id).ShouldContain(e => e.Type == "RolloutResumed" && e.Message.Contains("rollout-2"));
    }

    [Fact]
    public async Task Paused_AfterTheRolloutCompleted_IsNotDriftThoughTheStableRevisionRunsNoInstance()
    {
        await using var harness = new EngineHarness();
        Attach(harness);
        await harness.StartEngineAsync();
        await harness.DeployAsync(Native);
        var waits = Native with
        {
            Task = Native.Task with { Image = "hello:2" },
            Hooks = new Dictionary<string, IReadOnlyList<HookSpec>>
            {
                ["AfterAllowTraffic"] = [new HookSpec { Pause = new PauseHookSpec { Timeout = TimeSpan.FromHours(1) } }],
            },
        };
        var deployment = await harness.StartAsync(waits);
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(30), "paused");

        // The platform's rollout replaced the stable revision's instances: that is what it was asked to do, not drift.
        await harness.AdvanceAsync(TimeSpan.FromSeconds(30));

        harness.Store.Deployment(deployment.Id).State.ShouldBe(DeploymentState.Paused, harness.Store.Deployment(deployment.Id).Reason);
        harness.Store.Events(deployment.Id).ShouldNotContain(e => e.Type == "Drift");
    }

    [Fact]
    public async Task RunAsync_PlatformWithoutNativeRollouts_FailsWithAMessage()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();

        var failed = await harness.DeployAsync(Native);

        failed.State.ShouldBe(DeploymentState.Failed);
        failed.Reason!.ShouldContain("cannot run a rolling update itself");
    }

    private static FakeNativeRollout Attach(EngineHarness harness)
    {
        var rollout = new FakeNativeRollout(harness.Platform, harness.Time);
        harness.Platform.NativeRollout = rollout;
        return rollout;
    }
}
