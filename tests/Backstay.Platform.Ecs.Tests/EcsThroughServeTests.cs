using System.Diagnostics;
using System.Globalization;
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
        _cli.WriteSpec(world, "blueGreen: { testTraffic: false, bake: 1s, keepPreviousFor: 1s }");
        using var serve = _cli.Start("serve", "--listen", "127.0.0.1:0");
        try
        {
            await WaitForControllerAsync(serve);

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
            await StopAsync(serve);
        }
    }

    private async Task WaitForControllerAsync(Process serve)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            serve.HasExited.ShouldBeFalse("serve exited early: " + (serve.HasExited ? await serve.StandardError.ReadToEndAsync() : ""));
            if ((await _cli.RunAsync("status", "--output", "json")).Stdout.Contains("\"controllerRunning\": true", StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException("serve did not start within 60 s");
    }

    /// <summary>Ctrl+C, as a person stops it: serve shuts its local platform (HAProxy) down itself.</summary>
    private static async Task StopAsync(Process serve)
    {
        if (serve.HasExited)
        {
            return;
        }

        using (var interrupt = Process.Start("kill", ["-INT", serve.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await interrupt.WaitForExitAsync();
        }

        // serve may take its host's shutdown timeout (30 s), then the platform's stop: a margin over both.
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await serve.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            serve.Kill(entireProcessTree: true);
            throw new TimeoutException("serve did not stop within 90 s of SIGINT");
        }
    }
}
