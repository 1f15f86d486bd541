using System.Text.Json;
using Backstay.Platform.Ecs.Aws.Ecs;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>What the real `backstay` command says and leaves behind on ECS (moto) when it is asked for something it cannot do.</summary>
[Collection(MotoCollection.Name)]
public sealed class EcsCliBadInputTests : IDisposable
{
    private readonly EcsCli _cli = new();

    public EcsCliBadInputTests(MotoServer moto) => ArgumentNullException.ThrowIfNull(moto);

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Deploy_NoWaitWithoutAController_IsRefusedNamingServeAndRecordsNothing()
    {
        using var world = await MotoWorld.CreateAsync("nowait");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, "blueGreen: { testTraffic: true, bake: 0s, keepPreviousFor: 0s }");

        var refused = await _cli.RunAsync("deploy", "--no-wait", "--output", "json");

        refused.ExitCode.ShouldBe(2, refused.ToString());
        refused.Stderr.ShouldContain("--no-wait");
        refused.Stderr.ShouldContain("backstay serve");
        (await world.DescribeServiceAsync()).ShouldBeNull("a refused deploy creates no service");
        if (Directory.Exists(_cli.StateDirectory))
        {
            await using var store = await _cli.OpenStoreAsync();
            (await store.ListDeploymentsAsync(world.Service, 10, CancellationToken.None)).ShouldBeEmpty();
        }

        var deployed = await _cli.RunAsync("deploy", "--output", "json");

        deployed.ExitCode.ShouldBe(0, deployed.ToString());
        deployed.Outcome.ShouldBe("Succeeded");
    }

    [Fact]
    public async Task Deploy_TasksNeverHealthy_ReasonNamesTheCloudWatchLogGroupNotBackstayLogs()
    {
        using var world = await MotoWorld.CreateAsync("logshint");
        using var logConfiguration = JsonDocument.Parse(
            $$"""{ "logDriver": "awslogs", "options": { "awslogs-group": "/ecs/{{world.Service}}", "awslogs-region": "{{MotoServer.Region}}", "awslogs-stream-prefix": "ecs" } }""");
        await world.Aws.Ecs.RegisterTaskDefinitionAsync(new RegisterTaskDefinitionRequest
        {
            Family = world.Service,
            NetworkMode = "bridge",
            RequiresCompatibilities = ["EC2"],
            ContainerDefinitions =
            [
                new ContainerDefinition
                {
                    Name = "web",
                    Image = "public.ecr.aws/nginx/nginx:1.27",
                    Essential = true,
                    Memory = 128,
                    ExtensionData = new() { ["logConfiguration"] = logConfiguration.RootElement.Clone() },
                },
            ],
        }, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        _cli.WriteSpec(world, "blueGreen: { testTraffic: true, bake: 0s, keepPreviousFor: 0s }");
        var spec = Path.Combine(_cli.WorkDirectory, "backstay.yaml");
        await File.WriteAllTextAsync(spec, (await File.ReadAllTextAsync(spec)).Replace("startTimeout: 30s", "startTimeout: 3s", StringComparison.Ordinal));

        // No task agent: moto starts no tasks, so the new revision never becomes healthy.
        var result = await _cli.RunAsync("deploy", "--output", "json");

        result.ExitCode.ShouldBe(4, result.ToString());
        var reason = result.Json.GetProperty("reason").GetString()!;
        reason.ShouldContain("became healthy within 3s");
        reason.ShouldNotContain("backstay logs");
        reason.ShouldContain($"CloudWatch log group /ecs/{world.Service} in {MotoServer.Region}");
    }
}
