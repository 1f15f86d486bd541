using Backstay.Core.Engine;
using Backstay.Core.Hooks;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>Exec hooks run as real processes while the engine runs on the fake clock.</summary>
public sealed class HooksExecTests : IDisposable
{
    private const string Web = EngineHarness.ServiceName;

    private readonly HookDirectory _directory = new();

    [Fact]
    public async Task RunAsync_ExecHookExitsZero_HookRunSucceededWithItsOutputKept()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);

        var done = await harness.DeployAsync(Canary((Stages.AfterInstall, [HookSpecs.Exec("echo smoke test ok: 3 of 3")])), Healthy(harness));

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        var run = harness.Store.HookRuns(done.Id).ShouldHaveSingleItem();
        run.Stage.ShouldBe(Stages.AfterInstall);
        run.Kind.ShouldBe("exec");
        run.State.ShouldBe(HookState.Succeeded);
        run.Output.ShouldNotBeNull().ShouldContain("smoke test ok: 3 of 3");
        run.FinishedAt.ShouldNotBeNull();
        var events = harness.Store.Events(done.Id);
        events.ShouldContain(e => e.Type == "HookStarted" && e.Message.Contains(run.Id));
        events.ShouldContain(e => e.Type == "HookSucceeded" && e.Message.Contains(run.Id));
    }

    [Fact]
    public async Task RunAsync_ExecHookExitsThree_StageFailsAndDeploymentRolledBackNamingTheHook()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);

        var done = await harness.DeployAsync(Canary((Stages.AfterAllowTestTraffic, [HookSpecs.Exec("echo checkout flow broken; exit 3")])), Healthy(harness));

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        var run = harness.Store.HookRuns(done.Id).ShouldHaveSingleItem();
        run.State.ShouldBe(HookState.Failed);
        run.Output.ShouldNotBeNull().ShouldContain("checkout flow broken");
        var reason = done.Reason.ShouldNotBeNull();
        reason.ShouldContain(run.Id);
        reason.ShouldContain(Stages.AfterAllowTestTraffic);
        reason.ShouldContain("exit code 3");
        var rollback = harness.RollbackOf(done.Id).ShouldNotBeNull();
        rollback.Trigger.ShouldBe(Trigger.AutomaticRollback);
        rollback.State.ShouldBe(DeploymentState.Succeeded, rollback.Reason);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
        harness.Platform.ProductionWeightChanges().ShouldNotContain(o => o.WeightOf(2) > 0, "the hook failed before any production traffic moved");
    }

    [Fact]
    public async Task RunAsync_ExecHookSleepsBeyondItsTimeout_TimedOutAndRolledBack()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        var spec = Canary((Stages.AfterAllowTestTraffic, [HookSpecs.Exec("echo waiting for warm-up; sleep 30", TimeSpan.FromMilliseconds(500))]));

        var done = await harness.DeployAsync(spec, Healthy(harness));

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        var run = harness.Store.HookRuns(done.Id).ShouldHaveSingleItem();
        run.State.ShouldBe(HookState.TimedOut);
        run.Output.ShouldNotBeNull().ShouldContain("waiting for warm-up");
        done.Reason.ShouldNotBeNull().ShouldContain($"hook {run.Id} (exec) timed out");
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_ExecHook_EnvironmentCarriesTheDeploymentContext()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness, testListener: "127.0.0.1:8081");

        var done = await harness.DeployAsync(
            Canary((Stages.BeforeAllowTraffic, [HookSpecs.Exec("env > env.txt")])) with
            {
                Platform = new PlatformSpec { Local = new LocalPlatformSpec { Instances = 3, TestListener = "127.0.0.1:8081" } },
            },
            Healthy(harness));

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        var run = harness.Store.HookRuns(done.Id).ShouldHaveSingleItem();
        var env = _directory.Lines("env.txt");
        env.ShouldContain($"BACKSTAY_DEPLOYMENT_ID={done.Id}");
        env.ShouldContain($"BACKSTAY_HOOK_ID={run.Id}");
        env.ShouldContain("BACKSTAY_SERVICE=web");
        env.ShouldContain("BACKSTAY_STAGE=BeforeAllowTraffic");
        env.ShouldContain("BACKSTAY_STABLE_REVISION=1");
        env.ShouldContain("BACKSTAY_TARGET_REVISION=2");
        env.ShouldContain("BACKSTAY_ROLLBACK=false");
        env.ShouldContain("BACKSTAY_TEST_URL=http://127.0.0.1:8081/");
    }

    [Fact]
    public async Task RunAsync_AllowTrafficHookOnCanaryWithThreeWeights_RunsAfterEachWeight()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Weight(50)))
            .WithHooks(_directory.Path, (Stages.AllowTraffic, [HookSpecs.Exec("echo \"$BACKSTAY_HOOK_ID\" >> allow.txt")]));

        var done = await harness.DeployAsync(spec, Healthy(harness));

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        PlanActions(done).Count(a => a is HookAction { Stage: Stages.AllowTraffic }).ShouldBe(3);
        _directory.Lines("allow.txt").Count.ShouldBe(3, "AllowTraffic hooks run after each of the weights 20%, 50% and 100%");
        harness.Store.HookRuns(done.Id).Count(r => r.Stage == Stages.AllowTraffic).ShouldBe(3);
    }

    [Fact]
    public async Task RunAsync_DeploymentRolledBack_TrafficStageHooksRunAgainAsRollbackAndAFailingOneDoesNotStopIt()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        const string Record = "echo \"$BACKSTAY_ROLLBACK $BACKSTAY_DEPLOYMENT_ID $BACKSTAY_STABLE_REVISION $BACKSTAY_TARGET_REVISION\" >> traffic.txt";
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause())).WithHooks(_directory.Path,
            (Stages.AfterInstall, [HookSpecs.Exec("echo install >> install.txt")]),
            (Stages.AllowTraffic, [HookSpecs.Exec(Record)]),
            (Stages.AfterAllowTraffic, [HookSpecs.Exec("if [ \"$BACKSTAY_ROLLBACK\" = true ]; then echo verification failed; exit 5; fi")]));

        var deployment = await harness.StartAsync(spec, r => harness.Platform.SetTraffic(Web, r, new TrafficProfile { ErrorRate = 0.5 }));
        var done = await harness.RunToEndAsync(deployment.Id);

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        var rollback = harness.RollbackOf(done.Id).ShouldNotBeNull();
        rollback.State.ShouldBe(DeploymentState.Succeeded, rollback.Reason);
        _directory.Lines("traffic.txt").ShouldBe([$"false {done.Id} 1 2", $"true {rollback.Id} 2 1"]);
        _directory.Lines("install.txt").Count.ShouldBe(1, "only the traffic stages run again on the way back");
        var failed = harness.Store.HookRuns(rollback.Id).Where(r => r.Stage == Stages.AfterAllowTraffic).ShouldHaveSingleItem();
        failed.State.ShouldBe(HookState.Failed);
        harness.Store.Events(rollback.Id).ShouldContain(e => e.Type == "HookFailed" && e.Message.Contains(failed.Id) && e.Message.Contains("the rollback goes on"));
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_EngineDiesWhileExecHookRuns_NextOwnerRunsItAgainAndNoRunIsLeftInProgress()
    {
        await using var harness = new EngineHarness();
        var first = await harness.StartEngineAsync("engine-a");
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        var deployment = await harness.StartAsync(Canary((Stages.AfterInstall, [HookSpecs.Exec("echo run >> runs.txt")])), Healthy(harness));
        harness.Store.OnEventAppended = e =>
        {
            if (e.DeploymentId == deployment.Id && e.Type == "HookStarted")
            {
                harness.Store.OnEventAppended = null;
                first.Kill();
            }
        };

        await harness.RunUntilAsync(() => first.Loop.IsCompleted, TimeSpan.FromSeconds(30), "engine A dying as the hook starts");
        await first.Loop.WaitAsync(EngineHarness.RealTimeout);
        harness.Store.HookRuns(deployment.Id).ShouldHaveSingleItem().State.ShouldBe(HookState.InProgress);
        await harness.StartEngineAsync("engine-b");
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(30));

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        var runs = harness.Store.HookRuns(deployment.Id);
        runs.ShouldContain(r => r.State == HookState.Succeeded);
        runs.ShouldNotContain(r => r.State == HookState.InProgress || r.State == HookState.Pending,
            "a run cut off by the restart is closed in the history, not left InProgress on a finished deployment");
    }

    public void Dispose() => _directory.Dispose();

    private ServiceSpec Canary(params (string Stage, HookSpec[] Hooks)[] hooks) =>
        Specs.Service(Specs.Canary(Specs.Weight(50))).WithHooks(_directory.Path, hooks);

    private static Action<int> Healthy(EngineHarness harness) => r => harness.Platform.SetTraffic(Web, r, new TrafficProfile());

    private static async Task DeployFirstAsync(EngineHarness harness, string? testListener = null)
    {
        await harness.StartEngineAsync();
        var first = await harness.DeployAsync(Specs.Service(testListener: testListener), Healthy(harness));
        first.State.ShouldBe(DeploymentState.Succeeded, first.Reason);
    }

    private static IReadOnlyList<PlanAction> PlanActions(Deployment deployment) =>
        DeploymentPlan.FromJson(deployment.PlanJson).Actions;
}
