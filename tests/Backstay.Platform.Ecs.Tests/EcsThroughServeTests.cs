using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// The shared controller runs ECS services too: with `backstay serve` running on the state directory, `backstay
/// deploy` of an ECS spec is recorded through the REST API and the controller's engine deploys it on AWS (moto).
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class EcsThroughServeTests : IDisposable
{
    private readonly EcsCli _cli = new();

    public EcsThroughServeTests(MotoServer moto) => ArgumentNullException.ThrowIfNull(moto);

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Deploy_WithServeRunning_TheControllerDeploysTheEcsServiceAndMovesAllWeight()
    {
        using var world = await MotoWorld.CreateAsync("serve");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, "blueGreen: { testTraffic: false, bake: 1s, keepPreviousFor: 0s }");
        await using var serve = await ServeProcess.StartAsync(_cli);
        try
        {

            var first = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json");
            var second = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");

            first.ExitCode.ShouldBe(0, first.ToString());
            second.ExitCode.ShouldBe(0, second.ToString());
            second.Outcome.ShouldBe("Succeeded");
            second.Json.GetProperty("apiCalls").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null, "the controller, not this process, called AWS");
            var weights = await world.ListenerWeightsAsync();
            weights.Values.Order().ShouldBe([0, 100]);
            (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem().ExternalId.ShouldBe("backstay:revision:2");
            var status = await _cli.RunAsync("status", world.Service, "--output", "json");
            status.Stdout.ShouldContain("\"controllerRunning\": true");
            status.Stdout.ShouldContain("\"stableRevision\": 2");
        }
        finally
        {
            // serve may take its host's shutdown timeout (30 s), then the platform's stop: a margin over both.
            await serve.StopAsync(TimeSpan.FromSeconds(90));
        }
    }
}
