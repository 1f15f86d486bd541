using System.Diagnostics;
using Backstay.Core.Model;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// Pause-and-approve, stop and bad input on ECS through the real `backstay` command: each command in its own process on
/// one state directory, the answer coming from another process than the one that ran the deployment.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class EcsLifecycleCliTests : IDisposable
{
    private const string BlueGreen = "blueGreen: { testTraffic: true, bake: 1s, keepPreviousFor: 0s }";
    private const string PauseBeforeTraffic = "  BeforeAllowTraffic: [ { pause: { timeout: 1h, onTimeout: rollback } } ]";

    private readonly EcsCli _cli = new();

    public EcsLifecycleCliTests(MotoServer moto) => ArgumentNullException.ThrowIfNull(moto);

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Continue_PauseHookAnsweredByIdFromAnotherProcess_MovesAllWeightToTheNewTargetGroup()
    {
        using var world = await MotoWorld.CreateAsync("clicont");
        await using var agent = new MotoTaskSetAgent(world);
        var (paused, hook) = await DeployPausedAsync(world);

        var wrong = await _cli.RunAsync("continue", paused.Id, "--hook", "h-NOSUCH234");

        wrong.ExitCode.ShouldBe(2, wrong.ToString());
        wrong.Stderr.ShouldContain("no hook 'h-NOSUCH234' awaiting action");
        wrong.Stderr.ShouldContain(hook.Id);
        await using (var store = await _cli.OpenStoreAsync())
        {
            (await store.GetDeploymentAsync(paused.Id, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout))!.State.ShouldBe(DeploymentState.Paused);
            (await store.ListHookRunsAsync(paused.Id, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)).ShouldHaveSingleItem().State.ShouldBe(HookState.AwaitingAction);
        }

        (await world.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [world.Blue] = 100, [world.Green] = 0 });

        var continued = await _cli.RunAsync("continue", paused.Id, "--hook", hook.Id, "--output", "json");

        continued.ExitCode.ShouldBe(0, continued.ToString());
        continued.Outcome.ShouldBe("Succeeded");
        (await world.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [world.Blue] = 0, [world.Green] = 100 });
        (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem().ExternalId.ShouldBe("backstay:revision:2");
        await using (var store = await _cli.OpenStoreAsync())
        {
            var answered = (await store.ListHookRunsAsync(paused.Id, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)).ShouldHaveSingleItem();
            answered.Id.ShouldBe(hook.Id);
            answered.State.ShouldBe(HookState.Succeeded);
            answered.Answer.ShouldBe("continue");
        }
    }

    [Fact]
    public async Task Rollback_PausedDeploymentFromAnotherProcess_LeavesAllWeightOnTheStableTargetGroupAndClosesTheHook()
    {
        using var world = await MotoWorld.CreateAsync("clirb");
        await using var agent = new MotoTaskSetAgent(world);
        var (paused, hook) = await DeployPausedAsync(world);

        var rolledBack = await _cli.RunAsync("rollback", paused.Id, "--output", "json");

        rolledBack.ExitCode.ShouldBe(0, rolledBack.ToString());
        rolledBack.Outcome.ShouldBe("Succeeded");
        rolledBack.Json.GetProperty("revision").GetInt32().ShouldBe(1);
        (await world.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [world.Blue] = 100, [world.Green] = 0 });
        (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem().ExternalId.ShouldBe("backstay:revision:1");
        await using var store = await _cli.OpenStoreAsync();
        var undone = (await store.GetDeploymentAsync(paused.Id, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout))!;
        undone.State.ShouldBe(DeploymentState.RolledBack);
        undone.Reason!.ShouldContain("rollback requested");
        var closed = (await store.ListHookRunsAsync(paused.Id, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)).ShouldHaveSingleItem();
        closed.Id.ShouldBe(hook.Id);
        closed.State.ShouldNotBe(HookState.AwaitingAction, "the pause hook was answered by the rollback; the history must not show it still waiting");
        closed.Answer.ShouldBe("rollback");
    }

    [Fact]
    public async Task Stop_PausedDeploymentFromAnotherProcess_StopsWithNoProductionTrafficMovedAndClosesTheHook()
    {
        using var world = await MotoWorld.CreateAsync("clistopp");
        await using var agent = new MotoTaskSetAgent(world);
        var (paused, hook) = await DeployPausedAsync(world);

        var stop = await _cli.RunAsync("stop", paused.Id, "--output", "json");

        stop.ExitCode.ShouldBe(6, stop.ToString());
        stop.Outcome.ShouldBe("Stopped");
        (await world.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [world.Blue] = 100, [world.Green] = 0 });
        await using var store = await _cli.OpenStoreAsync();
        var stopped = (await store.GetDeploymentAsync(paused.Id, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout))!;
        stopped.State.ShouldBe(DeploymentState.Stopped);
        stopped.Reason!.ShouldContain("stopped by");
        var closed = (await store.ListHookRunsAsync(paused.Id, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)).ShouldHaveSingleItem();
        closed.Id.ShouldBe(hook.Id);
        closed.State.ShouldNotBe(HookState.AwaitingAction, "a stopped deployment has no hook that still awaits an answer");
        closed.Answer.ShouldBe("stop");
    }

    [Fact]
    public async Task StopWithRollback_FromAnotherProcessWhileCanaryWaitsAt20Percent_RollsBackToTheStableTargetGroup()
    {
        using var world = await MotoWorld.CreateAsync("clistop");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, "canary: { steps: [ { setWeight: 20 }, { pause: { duration: 5m } }, { setWeight: 100 } ] }");
        (await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json")).ExitCode.ShouldBe(0);

        using var deploy = _cli.Start("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");
        var deploying = EcsCli.WaitAsync(deploy);
        CliRun stop;
        CliRun deployed;
        try
        {
            var clock = Stopwatch.StartNew();
            while ((await world.ListenerWeightsAsync())[world.Blue] != 80 && clock.Elapsed < TimeSpan.FromSeconds(60) && !deploy.HasExited)
            {
                await Task.Delay(250);
            }

            (await world.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [world.Blue] = 80, [world.Green] = 20 }, (deploy.HasExited ? await deploying : null)?.ToString());
            string id;
            await using (var store = await _cli.OpenStoreAsync())
            {
                id = (await store.ListActiveDeploymentsAsync(CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)).Single(d => d.Service == world.Service).Id;
            }

            stop = await _cli.RunAsync("stop", id, "--rollback", "--output", "json");
            deployed = await deploying;
        }
        finally
        {
            // A deployment left waiting at its 5-minute pause must not outlive the test.
            if (!deploy.HasExited)
            {
                deploy.Kill(entireProcessTree: true);
            }
        }

        stop.ExitCode.ShouldBe(3, stop.ToString());
        stop.Outcome.ShouldBe("RolledBack");
        stop.Json.GetProperty("reason").GetString()!.ShouldContain("rollback requested");
        deployed.ExitCode.ShouldBe(3, deployed.ToString());
        (await world.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [world.Blue] = 100, [world.Green] = 0 });
        var set = (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem();
        set.ExternalId.ShouldBe("backstay:revision:1");
        set.Scale!.Value.ShouldBe(100);
    }

    [Fact]
    public async Task BadInput_ContinueNotPausedResetUnknownServiceAndUnknownDeployment_ExitTwoWithClearMessageAndChangeNothing()
    {
        using var world = await MotoWorld.CreateAsync("clibad");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, BlueGreen);
        var done = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json");
        done.ExitCode.ShouldBe(0, done.ToString());
        var before = await world.ListenerWeightsAsync();

        var notPaused = await _cli.RunAsync("continue", done.Id);
        var unknownService = await _cli.RunAsync("reset", "nosuch", "--recreate");
        var unknownDeployment = await _cli.RunAsync("continue", "d-NOSUCH234");
        var notRunning = await _cli.RunAsync("stop", done.Id);

        notPaused.ExitCode.ShouldBe(2, notPaused.ToString());
        notPaused.Stderr.ShouldContain($"Deployment {done.Id} is Succeeded, not Paused; there is nothing to continue.");
        unknownService.ExitCode.ShouldBe(2, unknownService.ToString());
        unknownService.Stderr.ShouldContain("Unknown service 'nosuch'");
        unknownService.Stderr.ShouldContain(world.Service);
        unknownDeployment.ExitCode.ShouldBe(2, unknownDeployment.ToString());
        unknownDeployment.Stderr.ShouldContain("Unknown deployment 'd-NOSUCH234'");
        notRunning.ExitCode.ShouldBe(2, notRunning.ToString());
        notRunning.Stderr.ShouldContain("only a deployment in progress can be stopped");
        (await world.ListenerWeightsAsync()).ShouldBe(before);
        (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem().ExternalId.ShouldBe("backstay:revision:1");
        await using var store = await _cli.OpenStoreAsync();
        (await store.ListDeploymentsAsync(null, 10, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)).ShouldHaveSingleItem().Id.ShouldBe(done.Id);
        (await store.ListServicesAsync(CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)).ShouldHaveSingleItem().Name.ShouldBe(world.Service);
    }

    /// <summary>Deploys revision 1 without hooks, then revision 2 with a pause at BeforeAllowTraffic: `deploy` exits 5.</summary>
    private async Task<(CliRun Paused, HookRun Hook)> DeployPausedAsync(MotoWorld world)
    {
        _cli.WriteSpec(world, BlueGreen);
        var first = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json");
        first.ExitCode.ShouldBe(0, first.ToString());
        _cli.WriteSpec(world, BlueGreen, PauseBeforeTraffic);

        var paused = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");

        paused.ExitCode.ShouldBe(5, paused.ToString());
        paused.Outcome.ShouldBe("Paused");
        (await world.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [world.Blue] = 100, [world.Green] = 0 });
        (await world.ListenerWeightsAsync(world.TestListener))[world.Green].ShouldBe(100, "test traffic moves to the new revision before the pause");
        await using var store = await _cli.OpenStoreAsync();
        var hook = (await store.ListHookRunsAsync(paused.Id, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)).ShouldHaveSingleItem();
        hook.State.ShouldBe(HookState.AwaitingAction);
        hook.Stage.ShouldBe("BeforeAllowTraffic");
        hook.ExpiresAt.ShouldNotBeNull();
        paused.Stdout.ShouldContain(hook.Id);
        return (paused, hook);
    }
}
