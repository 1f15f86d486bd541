using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Aws.Ecs;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// A service that ran before Backstay: its first `backstay deploy` adopts it, and what ran then is revision 1, the
/// target of a later rollback. The rolling (ECS deployment controller) cases run on a moto server of their own, started
/// with MOTO_ECS_SERVICE_RUNNING: there a service's rollout completes (moto never progresses one otherwise), so a
/// rollback can be followed to its end.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class EcsAdoptionCliTests : IClassFixture<CompletingMotoServer>, IDisposable
{
    private const string AdoptedImage = "public.ecr.aws/nginx/nginx:1.26";
    private const string NewImage = "public.ecr.aws/nginx/nginx:1.28";

    private readonly CompletingMotoServer _completing;
    private readonly EcsCli _cli;

    public EcsAdoptionCliTests(MotoServer moto, CompletingMotoServer completing)
    {
        ArgumentNullException.ThrowIfNull(moto);
        _completing = completing;
        _cli = new EcsCli { Endpoint = completing.Server.Endpoint };
    }

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Rollback_AdoptedRollingServiceAfterTheRolloutCompleted_PutsTheAdoptedTaskDefinitionBack()
    {
        using var world = await MotoWorld.CreateAsync("adoptdone", _completing.Server.Endpoint);
        var adopted = await CreateRollingServiceByHandAsync(world);
        WriteNativeSpec(world);

        var deployed = await _cli.RunAsync("deploy", "--image", NewImage, "--output", "json");

        deployed.ExitCode.ShouldBe(0, deployed.ToString());
        deployed.Json.GetProperty("revision").GetInt32().ShouldBe(2, "what ran before Backstay is revision 1");
        deployed.Json.GetProperty("stableRevision").GetInt32().ShouldBe(1);
        (await world.DescribeServiceAsync())!.TaskDefinition.ShouldNotBe(adopted);
        var revisions = await _cli.RunAsync("revisions", world.Service, "--output", "json");
        revisions.Stdout.ShouldContain(AdoptedImage);

        var rolledBack = await _cli.RunAsync("rollback", world.Service, "--output", "json");

        rolledBack.ExitCode.ShouldBe(0, rolledBack.ToString());
        rolledBack.Outcome.ShouldBe("Succeeded");
        rolledBack.Json.GetProperty("kind").GetString().ShouldBe("Rollback");
        rolledBack.Json.GetProperty("revision").GetInt32().ShouldBe(1);
        (await world.DescribeServiceAsync())!.TaskDefinition.ShouldBe(adopted, "the task definition that ran before the deployment serves again");
    }

    [Fact]
    public async Task Rollback_AdoptedRollingServiceWhileItsFirstDeploymentWaits_PutsTheAdoptedTaskDefinitionBackAndRollsTheDeploymentBack()
    {
        using var world = await MotoWorld.CreateAsync("adoptwait", _completing.Server.Endpoint);
        var adopted = await CreateRollingServiceByHandAsync(world);
        WriteNativeSpec(world, "  AfterAllowTraffic: [ { pause: { timeout: 1h, onTimeout: rollback } } ]");
        var paused = await _cli.RunAsync("deploy", "--image", NewImage, "--output", "json");
        paused.ExitCode.ShouldBe(5, paused.ToString());
        (await world.DescribeServiceAsync())!.TaskDefinition.ShouldNotBe(adopted, "the new image rolled out before the pause");

        var rolledBack = await _cli.RunAsync("rollback", world.Service, "--output", "json");

        rolledBack.ExitCode.ShouldBe(0, rolledBack.ToString());
        rolledBack.Json.GetProperty("revision").GetInt32().ShouldBe(1);
        rolledBack.Json.GetProperty("rollbackOf").GetString().ShouldBe(paused.Id);
        (await world.DescribeServiceAsync())!.TaskDefinition.ShouldBe(adopted);
        var history = await _cli.RunAsync("history", world.Service, "--events", "--output", "json");
        history.Stdout.ShouldNotContain("no earlier revision");
        await using var store = await _cli.OpenStoreAsync();
        (await store.GetDeploymentAsync(paused.Id, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout))!.State.ShouldBe(Core.Model.DeploymentState.RolledBack);
    }

    [Fact]
    public async Task Rollback_AdoptedTaskSetServiceAfterABlueGreenDeployment_RunsTheAdoptedTaskDefinitionWithAllWeightAgain()
    {
        using var world = await MotoWorld.CreateAsync("adoptext");
        await using var agent = new MotoTaskSetAgent(world);
        using var cli = new EcsCli();
        var adopted = await RegisterTaskDefinitionAsync(world);
        await world.Aws.Ecs.CreateServiceAsync(new CreateServiceRequest
        {
            Cluster = world.Cluster,
            ServiceName = world.Service,
            DesiredCount = 2,
            DeploymentController = new DeploymentController { Type = "EXTERNAL" },
        }, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var set = await world.Aws.Ecs.CreateTaskSetAsync(new CreateTaskSetRequest
        {
            Cluster = world.Cluster,
            Service = world.Service,
            TaskDefinition = adopted,
            LaunchType = "EC2",
            LoadBalancers = [new LoadBalancer { TargetGroupArn = world.Blue, ContainerName = "web", ContainerPort = 8080 }],
            Scale = new Scale { Value = 100, Unit = "PERCENT" },
        }, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        await world.Aws.Ecs.UpdateServicePrimaryTaskSetAsync(new UpdateServicePrimaryTaskSetRequest
        {
            Cluster = world.Cluster,
            Service = world.Service,
            PrimaryTaskSet = set.TaskSet!.TaskSetArn!,
        }, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        cli.WriteSpec(world, "blueGreen: { testTraffic: false, bake: 1s, keepPreviousFor: 0s }");

        var deployed = await cli.RunAsync("deploy", "--image", NewImage, "--output", "json");

        deployed.ExitCode.ShouldBe(0, deployed.ToString());
        deployed.Json.GetProperty("revision").GetInt32().ShouldBe(2, "the task set that ran before Backstay is revision 1");
        deployed.Json.GetProperty("stableRevision").GetInt32().ShouldBe(1);
        (await world.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [world.Blue] = 0, [world.Green] = 100 });

        var rolledBack = await cli.RunAsync("rollback", world.Service, "--output", "json");

        rolledBack.ExitCode.ShouldBe(0, rolledBack.ToString());
        rolledBack.Outcome.ShouldBe("Succeeded");
        rolledBack.Json.GetProperty("revision").GetInt32().ShouldBe(1);
        (await world.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [world.Blue] = 100, [world.Green] = 0 });
        var serving = (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem();
        serving.TaskDefinition.ShouldBe(adopted);
    }

    [Fact]
    public void RunningDigest_RecordedDescribeTasks_IsTheDigestTheServicesTasksOfThatTaskDefinitionPulled()
    {
        var tasks = System.Text.Json.JsonSerializer.Deserialize<DescribeTasksResponse>(RecordedShapes.DescribeTasksRunning, AwsJson.CamelCase)!.Tasks;

        EcsPlatform.RunningDigest(tasks, "arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:6", "web")
            .ShouldBe("sha256:5c4e1e3a1c0f4d2b9e8a7f6d5c4b3a291817161514131211100f0e0d0c0b0a09");
        EcsPlatform.RunningDigest(tasks, "arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:5", "web").ShouldBeNull("no task of it runs");
    }

    /// <summary>What a team had before Backstay: a task definition of the service's family and a service on the ECS controller running it.</summary>
    private static async Task<string> CreateRollingServiceByHandAsync(MotoWorld world)
    {
        var arn = await RegisterTaskDefinitionAsync(world);
        await world.Aws.Ecs.CreateServiceAsync(new CreateServiceRequest
        {
            Cluster = world.Cluster,
            ServiceName = world.Service,
            TaskDefinition = arn,
            DesiredCount = 2,
            DeploymentController = new DeploymentController { Type = "ECS" },
            LaunchType = "EC2",
            LoadBalancers = [new LoadBalancer { TargetGroupArn = world.Blue, ContainerName = "web", ContainerPort = 8080 }],
        }, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        return arn;
    }

    private static async Task<string> RegisterTaskDefinitionAsync(MotoWorld world)
    {
        var registered = await world.Aws.Ecs.RegisterTaskDefinitionAsync(new RegisterTaskDefinitionRequest
        {
            Family = world.Service,
            NetworkMode = "bridge",
            ContainerDefinitions =
            [
                new ContainerDefinition
                {
                    Name = "web",
                    Image = AdoptedImage,
                    Essential = true,
                    Memory = 128,
                    PortMappings = [new PortMapping { ContainerPort = 8080, HostPort = 0 }],
                    Environment = [new EcsKeyValuePair("GREETING", "before backstay")],
                },
            ],
        }, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        return registered.TaskDefinition!.TaskDefinitionArn!;
    }

    private void WriteNativeSpec(MotoWorld world, string? hooks = null) => File.WriteAllText(Path.Combine(_cli.WorkDirectory, "backstay.yaml"), $$"""
        service: {{world.Service}}
        platform:
          ecs:
            cluster: {{world.Cluster}}
            region: {{MotoServer.Region}}
            container: web
            desiredCount: 2
            launchType: EC2
            deploymentController: ECS
            loadBalancer: { productionListener: "{{world.ProductionListener}}", targetGroups: ["{{world.Blue}}"] }
        task:
          image: {{NewImage}}
          port: 8080
          startTimeout: 30s
        strategy:
          rolling: {}
        """ + (hooks is null ? "" : "\nhooks:\n" + hooks + "\n"));
}

/// <summary>
/// A second moto server, started with MOTO_ECS_SERVICE_RUNNING=2: a service on the ECS controller with 2 desired tasks
/// is created with its rollout COMPLETED, and UpdateService keeps that state, so every rollout Backstay starts there
/// completes at once. The process environment keeps pointing at the collection's server.
/// </summary>
public sealed class CompletingMotoServer : IAsyncLifetime
{
    public MotoServer Server { get; } = new(new Dictionary<string, string>(StringComparer.Ordinal) { ["MOTO_ECS_SERVICE_RUNNING"] = "2" }, exportEndpoint: false);

    public Task InitializeAsync() => Server.InitializeAsync();

    public Task DisposeAsync() => Server.DisposeAsync();
}
