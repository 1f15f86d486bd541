using Backstay.Platform.Ecs.Aws.Ecs;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// Someone changes an ECS service by hand (a task set scaled to 0, listener weights moved): `status` reads the service
/// back and names what differs, and the deployment that meets the drift stops with exit code 9 having sent no call that
/// changes what runs or serves (checked on moto's request log).
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class EcsDriftCliTests : IDisposable
{
    private const string BlueGreen = "blueGreen: { testTraffic: false, bake: 1s, keepPreviousFor: 0s }";
    private const string PausingCanary = "canary: { steps: [ { setWeight: 20 }, { pause: {} }, { setWeight: 100 } ] }";

    private readonly EcsCli _cli = new();
    private readonly MotoRequestLog _log;

    public EcsDriftCliTests(MotoServer moto)
    {
        ArgumentNullException.ThrowIfNull(moto);
        _log = moto.RequestLog;
    }

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task StatusAndDeploy_StableTaskSetScaledToZeroByHand_ShowDriftAndStopWithExit9SendingNoMutatingCall()
    {
        using var world = await MotoWorld.CreateAsync("drift0");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, BlueGreen);
        (await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json")).ExitCode.ShouldBe(0);
        var stable = (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem();

        await world.Aws.Ecs.UpdateTaskSetAsync(new UpdateTaskSetRequest
        {
            Cluster = world.Cluster,
            Service = world.Service,
            TaskSet = stable.TaskSetArn!,
            Scale = new Scale { Value = 0, Unit = "PERCENT" },
        }, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);

        var mark = _log.Count();
        var deploy = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");

        deploy.ExitCode.ShouldBe(9, deploy.ToString());
        deploy.Outcome.ShouldBe("Drift");
        deploy.Json.GetProperty("state").GetString().ShouldBe("Stopped");
        deploy.Json.GetProperty("drift").EnumerateArray().Select(d => d.GetString()!).ShouldContain(d => d.Contains("revision 1 (stable)"));
        _log.Since(mark).Where(r => MotoRequestLog.Mutating.Contains(r.Operation)).ShouldBeEmpty("a stop for drift changes nothing on AWS");

        var human = await _cli.RunAsync("status", world.Service);
        human.ExitCode.ShouldBe(0, human.ToString());
        human.Stdout.ShouldContain("revision 1 (stable)", customMessage: "status must read the service back and say what differs:\n" + human);
        human.Stdout.ShouldContain("backstay reset");
        human.Stdout.ShouldContain("Drift", customMessage: "the last outcome");
        var json = await _cli.RunAsync("status", world.Service, "--output", "json");
        ServiceDrift(json).ShouldContain(d => d.Contains("revision 1 (stable)"), "status --output json: " + json);
        json.Json.GetProperty("services")[0].GetProperty("lastOutcome").GetString().ShouldBe("Drift");
        var after = (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem();
        after.TaskSetArn.ShouldBe(stable.TaskSetArn);
        after.Scale!.Value.ShouldBe(0, "the task set stays as the person left it");
    }

    [Fact]
    public async Task StatusAndDeploy_ListenerWeightsMovedByHand_ShowTheSplitAndStopWithExit9SendingNoMutatingCall()
    {
        using var world = await MotoWorld.CreateAsync("driftw");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, BlueGreen);
        (await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json")).ExitCode.ShouldBe(0);
        await world.MoveWeightsByHandAsync(blue: 30, green: 70);

        var human = await _cli.RunAsync("status");
        human.ExitCode.ShouldBe(0, human.ToString());
        human.Stdout.ShouldContain("production traffic goes to revision 1 30%", customMessage: human.ToString());
        ServiceDrift(await _cli.RunAsync("status", "--output", "json"))
            .ShouldContain("production traffic goes to revision 1 30%; the record says revision 1 100%");

        // status has just read the service back: deploy refuses before recording anything, with the same exit code.
        var mark = _log.Count();
        var deploy = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");

        deploy.ExitCode.ShouldBe(9, deploy.ToString());
        deploy.Stderr.ShouldContain("production traffic goes to revision 1 30%");
        _log.Since(mark).Where(r => MotoRequestLog.Mutating.Contains(r.Operation)).ShouldBeEmpty("a stop for drift changes nothing on AWS");
        (await world.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [world.Blue] = 30, [world.Green] = 70 });
    }

    [Fact]
    public async Task StatusAndContinue_WeightsMovedByHandWhilePaused_ShowDriftOfThePausedDeploymentAndStopWithExit9SendingNoMutatingCall()
    {
        using var world = await MotoWorld.CreateAsync("driftp");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, PausingCanary);
        (await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json")).ExitCode.ShouldBe(0);
        var paused = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");
        paused.ExitCode.ShouldBe(5, paused.ToString());
        var stable = (await world.ListenerWeightsAsync()).Single(w => w.Value == 80).Key;
        var canary = stable == world.Blue ? world.Green : world.Blue;
        await world.MoveWeightsByHandAsync(blue: 50, green: 50);

        var json = await _cli.RunAsync("status", world.Service, "--output", "json");
        ServiceDrift(json).ShouldContain(d => d.Contains("revision 2 has 50% of production traffic") && d.Contains("20%"), json.ToString());

        var mark = _log.Count();
        var continued = await _cli.RunAsync("continue", paused.Id, "--output", "json");

        continued.ExitCode.ShouldBe(9, continued.ToString());
        continued.Outcome.ShouldBe("Drift");
        _log.Since(mark).Where(r => MotoRequestLog.Mutating.Contains(r.Operation)).ShouldBeEmpty("a stop for drift changes nothing on AWS");
        (await world.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [stable] = 50, [canary] = 50 });
    }

    private static List<string> ServiceDrift(CliRun status)
    {
        status.ExitCode.ShouldBe(0, status.ToString());
        return status.Json.GetProperty("services").EnumerateArray().Single().GetProperty("drift").EnumerateArray()
            .Select(d => d.GetString()!).ToList();
    }
}
