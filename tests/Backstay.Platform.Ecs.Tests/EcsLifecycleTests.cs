using Backstay.Core.Engine;
using Backstay.Core.Hooks;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// Hooks, pause-and-approve, stop and reset on ECS: the real engine, SQLite store and ECS platform against moto, with
/// real exec hooks (sh) and http hooks (a loopback server). The same behaviours as the local platform's end-to-end tests.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class EcsLifecycleTests : IDisposable
{
    private const string V1 = "public.ecr.aws/nginx/nginx:1.26";
    private const string V2 = "public.ecr.aws/nginx/nginx:1.27";
    private const string V3 = "public.ecr.aws/nginx/nginx:1.28";

    private static readonly CanarySpec WaitingCanary = new()
    {
        Steps = [new SetWeightStep(20), new PauseStep(TimeSpan.FromMinutes(5)), new SetWeightStep(100)],
    };

    private readonly string _directory = Directory.CreateTempSubdirectory("backstay-ecs-lifecycle-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task ExecHooks_AfterInstallPassesAndBeforeAllowTrafficExitsThree_RollsBackToStableTargetGroupAndKeepsOutput()
    {
        await using var flow = await EcsFlow.StartAsync("hookexec");
        var plain = flow.World.Spec();
        (await flow.DeployAsync(plain, V1)).State.ShouldBe(DeploymentState.Succeeded);
        var spec = WithHooks(plain,
            (Stages.AfterInstall, Exec("echo \"$BACKSTAY_STAGE $BACKSTAY_DEPLOYMENT_ID $BACKSTAY_STABLE_REVISION->$BACKSTAY_TARGET_REVISION\" > stage-$BACKSTAY_TARGET_REVISION.txt")),
            (Stages.BeforeAllowTraffic, Exec("echo \"smoke test of $BACKSTAY_SERVICE revision $BACKSTAY_TARGET_REVISION rollback=$BACKSTAY_ROLLBACK: 3 checks failed\"; exit 3")));

        var done = await flow.DeployAsync(spec, V2);

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        done.Reason!.ShouldContain("BeforeAllowTraffic hook");
        done.Reason!.ShouldContain("[exit code 3]");
        File.ReadAllText(Path.Combine(_directory, "stage-2.txt")).Trim().ShouldBe($"AfterInstall {done.Id} 1->2");
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
        (await flow.World.ListenerWeightsAsync(flow.World.TestListener))[flow.World.Blue].ShouldBe(100);
        var set = (await flow.World.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem();
        set.ExternalId.ShouldBe("backstay:revision:1");
        set.Status.ShouldBe("PRIMARY");

        var runs = await HookRunsAsync(flow, done.Id);
        var installed = runs.Single(r => r.Stage == Stages.AfterInstall);
        installed.State.ShouldBe(HookState.Succeeded);
        installed.Kind.ShouldBe("exec");
        var failed = runs.Single(r => r.Stage == Stages.BeforeAllowTraffic);
        failed.State.ShouldBe(HookState.Failed);
        failed.Id.ShouldStartWith("h-");
        failed.FinishedAt.ShouldNotBeNull();
        failed.Output!.ShouldContain($"smoke test of {flow.World.Service} revision 2 rollback=false: 3 checks failed");
        failed.Output!.ShouldContain("[exit code 3]");
        done.Reason!.ShouldContain(failed.Id);

        // The traffic stages' hooks run again on the way back; their failure is recorded and the rollback goes on.
        var rollback = (await flow.Store.GetDeploymentAsync(done.RolledBackBy!, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout))!;
        rollback.State.ShouldBe(DeploymentState.Succeeded);
        var again = (await HookRunsAsync(flow, rollback.Id)).ShouldHaveSingleItem();
        again.Stage.ShouldBe(Stages.BeforeAllowTraffic);
        again.State.ShouldBe(HookState.Failed);
        again.Output!.ShouldContain("revision 1 rollback=true");
        (await flow.EventsAsync(rollback.Id)).ShouldContain(e => e.Type == "HookFailed" && e.Message.Contains("the rollback goes on"));
    }

    [Fact]
    public async Task ExecHook_AfterAllowTestTraffic_IsToldTheTestListenerUrl()
    {
        await using var flow = await EcsFlow.StartAsync("hookurl");
        var spec = WithHooks(flow.World.Spec(), (Stages.AfterAllowTestTraffic, Exec("printf '%s' \"$BACKSTAY_TEST_URL\" > test-url.txt")));

        var done = await flow.DeployAsync(spec, V1);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        var dns = await flow.World.LoadBalancerDnsNameAsync();
        File.ReadAllText(Path.Combine(_directory, "test-url.txt")).ShouldBe($"http://{dns}:8080/",
            "an AfterAllowTestTraffic hook on ECS needs the test listener's address (the load balancer's DNS name and the test listener's port) in BACKSTAY_TEST_URL, as on the local platform");
    }

    [Fact]
    public async Task HttpHooks_Answering200ThenAnswering500_PassesSignedThenRollsBackToStableTargetGroupAndKeepsEveryAttempt()
    {
        using var server = new LoopbackHookServer();
        var secretName = "BACKSTAY_ECS_TEST_HOOK_SECRET_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        Environment.SetEnvironmentVariable(secretName, "s3cr3t");
        await using var flow = await EcsFlow.StartAsync("hookhttp");
        var spec = WithHooks(flow.World.Spec(),
            (Stages.AfterInstall, new HookSpec { Http = new HttpHookSpec { Url = server.Url, Timeout = TimeSpan.FromSeconds(5), Retries = 1, SecretEnv = secretName } }));

        var first = await flow.DeployAsync(spec, V1);

        first.State.ShouldBe(DeploymentState.Succeeded, first.Reason);
        var request = server.Requests.ShouldHaveSingleItem();
        request.Body.ShouldContain($"\"deploymentId\":\"{first.Id}\"");
        request.Body.ShouldContain($"\"service\":\"{flow.World.Service}\"");
        request.Body.ShouldContain("\"stage\":\"AfterInstall\"");
        request.Body.ShouldContain("\"targetRevision\":1");
        request.Headers["x-backstay-signature"].ShouldBe(HttpHookRunner.Sign("s3cr3t", request.Body));
        (await HookRunsAsync(flow, first.Id)).ShouldHaveSingleItem().State.ShouldBe(HookState.Succeeded);
        server.Status = 500;

        var second = await flow.DeployAsync(spec, V2);

        second.State.ShouldBe(DeploymentState.RolledBack, second.Reason);
        second.Reason!.ShouldContain("AfterInstall hook");
        server.Requests.Count.ShouldBe(3, "one passing call, then a failing one and its one retry");
        server.Requests[^1].Body.ShouldContain("\"targetRevision\":2");
        server.Requests[^1].Body.ShouldContain("\"stableRevision\":1");
        var failed = (await HookRunsAsync(flow, second.Id)).ShouldHaveSingleItem();
        failed.Kind.ShouldBe("http");
        failed.State.ShouldBe(HookState.Failed);
        failed.Output!.ShouldContain("attempt 1: 500 smoke check failed");
        failed.Output!.ShouldContain("attempt 2: 500 smoke check failed");
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
        (await flow.World.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem().ExternalId.ShouldBe("backstay:revision:1");
    }

    [Fact]
    public async Task HttpHook_NotAnsweringWithinItsTimeout_TimesOutAndRollsBackToStableTargetGroup()
    {
        using var server = new LoopbackHookServer();
        await using var flow = await EcsFlow.StartAsync("hookslow");
        var plain = flow.World.Spec();
        (await flow.DeployAsync(plain, V1)).State.ShouldBe(DeploymentState.Succeeded);
        server.DelayMilliseconds = 10_000;
        var spec = WithHooks(plain,
            (Stages.AfterAllowTestTraffic, new HookSpec { Http = new HttpHookSpec { Url = server.Url, Timeout = TimeSpan.FromSeconds(1), Retries = 0 } }));

        var done = await flow.DeployAsync(spec, V2);

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        done.Reason!.ShouldContain("AfterAllowTestTraffic hook");
        done.Reason!.ShouldContain("timed out");
        var run = (await HookRunsAsync(flow, done.Id)).ShouldHaveSingleItem();
        run.State.ShouldBe(HookState.TimedOut);
        run.Output!.ShouldContain("no answer within");
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
        (await flow.World.ListenerWeightsAsync(flow.World.TestListener))[flow.World.Blue].ShouldBe(100);
    }

    [Fact]
    public async Task PauseHook_NotAnsweredWithinItsTimeout_AppliesOnTimeoutRollback()
    {
        await using var flow = await EcsFlow.StartAsync("pausetime");
        var plain = flow.World.Spec();
        (await flow.DeployAsync(plain, V1)).State.ShouldBe(DeploymentState.Succeeded);
        var spec = WithHooks(plain, (Stages.BeforeAllowTraffic, new HookSpec { Pause = new PauseHookSpec { Timeout = TimeSpan.FromSeconds(3), OnTimeout = "rollback" } }));

        var deployment = await flow.StartDeploymentAsync(spec, V2);
        await flow.WaitForAsync(deployment.Id, d => d.State == DeploymentState.Paused, "paused at BeforeAllowTraffic");
        var waiting = (await HookRunsAsync(flow, deployment.Id)).ShouldHaveSingleItem();
        var weightsWhilePaused = await flow.World.ListenerWeightsAsync();
        var done = await flow.WaitSettledAsync(deployment.Id);

        waiting.State.ShouldBe(HookState.AwaitingAction);
        waiting.Kind.ShouldBe("pause");
        (waiting.ExpiresAt!.Value - waiting.StartedAt).ShouldBeInRange(TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(4));
        weightsWhilePaused.ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        done.Reason!.ShouldContain("timed out");
        var timedOut = (await HookRunsAsync(flow, deployment.Id)).ShouldHaveSingleItem();
        timedOut.Id.ShouldBe(waiting.Id);
        timedOut.State.ShouldBe(HookState.TimedOut);
        timedOut.Answer.ShouldBe("rollback (default on timeout)");
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
        (await flow.World.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem().ExternalId.ShouldBe("backstay:revision:1");
    }

    [Fact]
    public async Task StopAsync_CanaryWaitingAt20Percent_StopsLeavingWeightsAsRecordedAndARollbackRestoresStable()
    {
        await using var flow = await EcsFlow.StartAsync("stop");
        var spec = flow.World.Spec(new StrategySpec { Canary = WaitingCanary });
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);
        var deployment = await flow.StartDeploymentAsync(spec, V2);
        await flow.WaitForAsync(deployment.Id, d => d.State == DeploymentState.InProgress && d.TargetWeight == 20 && d.CurrentStep >= 2, "canary at 20% and waiting");

        await flow.Requests.StopAsync(deployment.Id, rollback: false, "tester", CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var stopped = await flow.WaitSettledAsync(deployment.Id);

        stopped.State.ShouldBe(DeploymentState.Stopped, stopped.Reason);
        stopped.Reason.ShouldBe("stopped by tester");
        stopped.TargetWeight.ShouldBe(20);
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 80, [flow.World.Green] = 20 });
        var said = (await flow.EventsAsync(deployment.Id)).Single(e => e.Type == "Stopped").Message;
        said.ShouldContain("traffic stays split (revision 2 20%, revision 1 80%)");
        said.ShouldContain($"backstay reset {flow.World.Service}");
        var sets = (await flow.World.DescribeServiceAsync())!.TaskSets!;
        sets.Select(s => s.ExternalId).Order().ShouldBe(["backstay:revision:1", "backstay:revision:2"]);
        (await flow.Store.GetServiceAsync(flow.World.Service, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout))!.StableRevision.ShouldBe(1);
        (await flow.Requests.StopAsync(deployment.Id, rollback: false, "tester", CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)
            .ShouldThrowAsync<InvalidRequestException>()).Message.ShouldContain("only a deployment in progress can be stopped");

        var undo = await flow.Requests.RollbackAsync(flow.World.Service, null, "tester", CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var undone = await flow.WaitSettledAsync(undo.Id);

        undone.State.ShouldBe(DeploymentState.Succeeded, undone.Reason);
        undone.RollbackOf.ShouldBe(deployment.Id);
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
        (await flow.World.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem().ExternalId.ShouldBe("backstay:revision:1");
    }

    [Fact]
    public async Task Deploy_AfterADeploymentStoppedAtAPauseHookBeforeAnyProductionTraffic_StartsTheNewRevisionAndSucceeds()
    {
        await using var flow = await EcsFlow.StartAsync("stoppause");
        var plain = flow.World.Spec();
        (await flow.DeployAsync(plain, V1)).State.ShouldBe(DeploymentState.Succeeded);
        var paused = WithHooks(plain, (Stages.BeforeAllowTraffic, new HookSpec { Pause = new PauseHookSpec { Timeout = TimeSpan.FromMinutes(10) } }));
        var deployment = await flow.StartDeploymentAsync(paused, V2);
        await flow.WaitForAsync(deployment.Id, d => d.State == DeploymentState.Paused, "paused at BeforeAllowTraffic");
        await flow.Requests.StopAsync(deployment.Id, rollback: false, "tester", CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var stopped = await flow.WaitSettledAsync(deployment.Id);
        stopped.State.ShouldBe(DeploymentState.Stopped, stopped.Reason);
        stopped.TargetWeight.ShouldBe(0);
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
        (await HookRunsAsync(flow, deployment.Id)).ShouldHaveSingleItem().State.ShouldNotBe(HookState.AwaitingAction);

        // The engine lets the next deployment go ahead: the stopped one's target never had production traffic and is
        // scaled to 0 once a revision is stable. On ECS it still holds the second target group the new revision needs.
        var next = await flow.DeployAsync(plain, V3);

        next.State.ShouldBe(DeploymentState.Succeeded, next.Reason);
        var set = (await flow.World.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem();
        set.ExternalId.ShouldBe($"backstay:revision:{next.TargetRevision}");
        (await flow.World.ListenerWeightsAsync())[set.LoadBalancers!.Single().TargetGroupArn!].ShouldBe(100);
    }

    [Fact]
    public async Task ResetRecreate_AfterServiceDeletedOutOfBand_RecreatesLastGoodRevisionWithAllWeightThenDeploymentSucceeds()
    {
        await using var flow = await EcsFlow.StartAsync("recreate");
        var spec = flow.World.Spec();
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);
        await flow.World.DeleteServiceOutOfBandAsync();
        var refused = await flow.DeployAsync(spec, V2);
        refused.State.ShouldBe(DeploymentState.Stopped);
        refused.Reason!.ShouldContain("INACTIVE");
        (await flow.EventsAsync(refused.Id)).Single(e => e.Type == "Stopped").Message.ShouldContain($"backstay reset {flow.World.Service} --recreate");

        var reset = await flow.Requests.ResetAsync(flow.World.Service, ResetMode.Recreate, "tester", CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var recreated = await flow.WaitSettledAsync(reset.Id);

        recreated.State.ShouldBe(DeploymentState.Succeeded, recreated.Reason);
        recreated.Kind.ShouldBe(DeploymentKind.Reset);
        recreated.Trigger.ShouldBe(Trigger.Reset);
        recreated.TargetRevision.ShouldBe(1);
        var service = (await flow.World.DescribeServiceAsync())!;
        service.Status.ShouldBe("ACTIVE");
        service.DeploymentController!.Type.ShouldBe("EXTERNAL");
        var set = service.TaskSets.ShouldHaveSingleItem();
        set.ExternalId.ShouldBe("backstay:revision:1");
        set.Status.ShouldBe("PRIMARY");
        var servingGroup = set.LoadBalancers!.Single().TargetGroupArn!;
        (await flow.World.ListenerWeightsAsync())[servingGroup].ShouldBe(100);
        var definition = await flow.World.Aws.Ecs.DescribeTaskDefinitionAsync(new() { TaskDefinition = set.TaskDefinition! }, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        definition.TaskDefinition!.ContainerDefinitions.Single().Image.ShouldBe(V1);

        var next = await flow.DeployAsync(spec, V3);

        next.State.ShouldBe(DeploymentState.Succeeded, next.Reason);
        var weights = await flow.World.ListenerWeightsAsync();
        weights[servingGroup].ShouldBe(0);
        weights.Single(w => w.Key != servingGroup).Value.ShouldBe(100);
        (await flow.World.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem().ExternalId.ShouldBe($"backstay:revision:{next.TargetRevision}");
    }

    [Fact]
    public async Task ResetAdopt_AfterWeightsMovedByHand_DeploymentStopsNamingTheWeightsAndAdoptTakesTheServingRevision()
    {
        await using var flow = await EcsFlow.StartAsync("adopt");
        var spec = flow.World.Spec(new StrategySpec { Canary = WaitingCanary });
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);
        var canary = await flow.StartDeploymentAsync(spec, V2);
        await flow.WaitForAsync(canary.Id, d => d.TargetWeight == 20 && d.CurrentStep >= 2, "canary at 20% and waiting");
        await flow.Requests.StopAsync(canary.Id, rollback: false, "tester", CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        (await flow.WaitSettledAsync(canary.Id)).State.ShouldBe(DeploymentState.Stopped);

        // Someone sends all production traffic to the stopped canary's target group in the console.
        await flow.World.MoveWeightsByHandAsync(blue: 0, green: 100);
        var refused = await flow.DeployAsync(spec, V3);

        refused.State.ShouldBe(DeploymentState.Stopped, refused.Reason);
        refused.Reason!.ShouldContain("production traffic goes to revision 1 0%, revision 2 100%; the record says revision 1 100%");
        refused.Reason!.ShouldContain($"backstay reset {flow.World.Service} --adopt");
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 0, [flow.World.Green] = 100 });
        (await flow.World.DescribeServiceAsync())!.TaskSets!.Count.ShouldBe(2, "a deployment that finds drift acts on nothing");

        var reset = await flow.Requests.ResetAsync(flow.World.Service, ResetMode.Adopt, "tester", CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var adopted = await flow.WaitSettledAsync(reset.Id);

        adopted.State.ShouldBe(DeploymentState.Succeeded, adopted.Reason);
        adopted.Kind.ShouldBe(DeploymentKind.Reset);
        adopted.TargetRevision.ShouldBe(2);
        (await flow.EventsAsync(reset.Id)).ShouldContain(e => e.Message.Contains("adopted revision 2 with 2 instance(s)"));
        var record = (await flow.Store.GetServiceAsync(flow.World.Service, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout))!;
        record.StableRevision.ShouldBe(2);
        record.DesiredCount.ShouldBe(2);
        var set = (await flow.World.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem();
        set.ExternalId.ShouldBe("backstay:revision:2");
        set.Status.ShouldBe("PRIMARY");

        var next = await flow.DeployAsync(flow.World.Spec(), V3);

        next.State.ShouldBe(DeploymentState.Succeeded, next.Reason);
        next.StableRevision.ShouldBe(2);
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
    }

    [Fact]
    public async Task ResetAdopt_AfterHalfTheWeightMovedByHandToTheEmptyTargetGroup_RefusesNamingTheWeightsAndRecreateRestoresThem()
    {
        await using var flow = await EcsFlow.StartAsync("adopthalf");
        var spec = flow.World.Spec();
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);

        // Half of production now goes to a target group no task set serves: those requests fail at the load balancer.
        await flow.World.MoveWeightsByHandAsync(blue: 50, green: 50);
        var refused = await flow.DeployAsync(spec, V2);
        refused.State.ShouldBe(DeploymentState.Stopped, refused.Reason);
        refused.Reason!.ShouldContain("production traffic goes to revision 1 50%; the record says revision 1 100%");

        var adopt = await flow.Requests.ResetAsync(flow.World.Service, ResetMode.Adopt, "tester", CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var adopted = await flow.WaitSettledAsync(adopt.Id);

        // Adopt cannot make "revision 1 at 50%, the rest to nothing" a baseline the next deployment accepts; it must
        // say so (as it does for a split between two revisions) instead of succeeding and leaving the drift in place.
        adopted.State.ShouldBe(DeploymentState.Failed, $"adopt ended {adopted.State} ({adopted.Reason}); the listener still sends 50% to no revision, so the next deployment is refused again for the same drift");
        adopted.Reason!.ShouldContain("50%");
        adopted.Reason!.ShouldContain("--recreate");
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 50, [flow.World.Green] = 50 });

        var reset = await flow.Requests.ResetAsync(flow.World.Service, ResetMode.Recreate, "tester", CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        (await flow.WaitSettledAsync(reset.Id)).State.ShouldBe(DeploymentState.Succeeded);
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
        (await flow.DeployAsync(spec, V3)).State.ShouldBe(DeploymentState.Succeeded);
    }

    private ServiceSpec WithHooks(ServiceSpec spec, params (string Stage, HookSpec Hook)[] hooks) => spec with
    {
        BaseDirectory = _directory,
        Hooks = hooks.GroupBy(h => h.Stage).ToDictionary(g => g.Key, g => (IReadOnlyList<HookSpec>)g.Select(h => h.Hook).ToList()),
    };

    private static HookSpec Exec(string script) => new() { Exec = new ExecHookSpec { Command = ["sh", "-c", script], Timeout = TimeSpan.FromSeconds(10) } };

    private static async Task<IReadOnlyList<HookRun>> HookRunsAsync(EcsFlow flow, string deploymentId) =>
        await flow.Store.ListHookRunsAsync(deploymentId, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
}
