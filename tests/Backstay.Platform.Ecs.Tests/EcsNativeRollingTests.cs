using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Aws.Ecs;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// platform.ecs.deploymentController: ECS, behind the engine's native-rollout port. moto creates and updates the
/// service but never progresses its deployment (rolloutState stays IN_PROGRESS): the verdicts COMPLETED, FAILED and
/// rolled back are checked on recorded DescribeServices answers.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class EcsNativeRollingTests
{
    private const string Failed = "ecs-svc/7373547183949474729";
    private const string Hello7 = "arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:7";

    [Fact]
    public async Task StartAsync_FirstDeployment_CreatesTheServiceOnTheEcsControllerWithTheRevisionsTaskDefinition()
    {
        using var world = await MotoWorld.CreateAsync("native");
        await using var platform = Platform();
        var spec = NativeSpec(world);
        INativeRollout native = platform.NativeRollout.ShouldNotBeNull();
        await platform.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        (await world.DescribeServiceAsync()).ShouldBeNull("the service is created by the first rollout, which has its task definition");

        var started = await native.StartAsync(spec, Revision(world, 1, "nginx:1.26"), CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);

        var service = (await world.DescribeServiceAsync()).ShouldNotBeNull();
        service.Status.ShouldBe("ACTIVE");
        service.DeploymentController?.Type.ShouldBe("ECS");
        service.DesiredCount.ShouldBe(3);
        service.TaskDefinition.ShouldEndWith($"{world.Service}:1");
        service.Deployments.ShouldNotBeNull().ShouldContain(d => d.Status == "PRIMARY" && d.TaskDefinition == service.TaskDefinition);
        started.State.ShouldBe(NativeRolloutState.InProgress);
        started.Id.ShouldEndWith($"@{world.Service}:1");
        platform.ApiCalls.Keys.ShouldContain("ecs:CreateService");
        platform.ApiCalls.Keys.ShouldNotContain("ecs:CreateTaskSet");
    }

    [Fact]
    public async Task StartAsync_NextRevision_UpdatesTheServiceOnceAndFollowsTheSameDeploymentWhenCalledAgain()
    {
        using var world = await MotoWorld.CreateAsync("native");
        await using var platform = Platform();
        var spec = NativeSpec(world);
        var native = platform.NativeRollout!;
        await platform.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        await native.StartAsync(spec, Revision(world, 1, "nginx:1.26"), CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        platform.ResetApiCallCounts();

        var second = await native.StartAsync(spec, Revision(world, 2, "nginx:1.27"), CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var again = await native.StartAsync(spec, Revision(world, 2, "nginx:1.27"), CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var followed = await native.GetAsync(spec, second.Id, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);

        platform.ApiCalls["ecs:UpdateService"].ShouldBe(1, "starting the same revision again follows the rollout that runs it");
        again.Id.ShouldBe(second.Id);
        var service = (await world.DescribeServiceAsync())!;
        service.TaskDefinition.ShouldEndWith($"{world.Service}:2");
        second.Id.ShouldEndWith($"@{world.Service}:2");
        followed.State.ShouldBe(NativeRolloutState.InProgress, "moto never progresses a rollout");
    }

    [Fact]
    public async Task GetAsync_AskedOnEveryEngineTick_SharesOneReadOfTheService()
    {
        using var world = await MotoWorld.CreateAsync("native");
        await using var platform = Platform();
        var spec = NativeSpec(world);
        var native = platform.NativeRollout!;
        await platform.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var started = await native.StartAsync(spec, Revision(world, 1, "nginx:1.26"), CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        platform.ResetApiCallCounts();

        for (var tick = 0; tick < 10; tick++)
        {
            (await native.GetAsync(spec, started.Id, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)).Id.ShouldBe(started.Id);
        }

        platform.ApiCalls["ecs:DescribeServices"].ShouldBe(1, "ten ticks in a row read the rollout once, from the service's paced read");
    }

    [Fact]
    public async Task ListAndWeights_OnTheEcsController_ReportTheDeploymentsRevisionsAndThePrimaryServingAll()
    {
        using var world = await MotoWorld.CreateAsync("native");
        await using var platform = Platform();
        var spec = NativeSpec(world);
        await platform.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        await platform.NativeRollout!.StartAsync(spec, Revision(world, 1, "nginx:1.26"), CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);

        var sets = await platform.ListAsync(spec.Service, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var weights = await platform.GetWeightsAsync(spec.Service, Listener.Production, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);

        sets.Select(s => s.Revision).ShouldBe([1]);
        sets[0].DesiredCount.ShouldBe(3);
        weights.ShouldBe(new Dictionary<int, int> { [1] = 100 });
    }

    [Fact]
    public async Task EnsureService_EcsSpecOnAnExternalService_RefusesNamingTheKey()
    {
        using var world = await MotoWorld.CreateAsync("native");
        await world.Aws.Ecs.CreateServiceAsync(new CreateServiceRequest
        {
            Cluster = world.Cluster,
            ServiceName = world.Service,
            DesiredCount = 1,
            DeploymentController = new DeploymentController { Type = "EXTERNAL" },
        }, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        await using var platform = Platform();

        var error = await Should.ThrowAsync<PlatformException>(() => platform.EnsureServiceAsync(NativeSpec(world), CancellationToken.None).WaitAsync(MotoWorld.CallTimeout));

        error.Message.ShouldContain("uses the EXTERNAL deployment controller");
        error.Message.ShouldContain("deploymentController");
    }

    [Fact]
    public void ToStatus_CircuitBreakerFailedTheRollout_IsFailedWithTheCircuitBreakersReason()
    {
        var status = EcsPlatform.ToStatus(RolloutInterpreter.Interpret(Service(RecordedShapes.DescribeServicesRollingFailed), Failed, Hello7));

        status.State.ShouldBe(NativeRolloutState.Failed);
        status.Id.ShouldBe($"{Failed}@hello:7");
        status.Reason!.ShouldStartWith("ECS deployment circuit breaker: tasks failed to start.");
        status.FailedTasks.ShouldBe(10);
        status.Running.ShouldBe(0);
    }

    [Fact]
    public void ToStatus_Completed_IsCompletedWithItsCounts()
    {
        var status = EcsPlatform.ToStatus(RolloutInterpreter.Interpret(Service(RecordedShapes.DescribeServicesRollingCompleted), Failed, Hello7));

        status.State.ShouldBe(NativeRolloutState.Completed);
        (status.Running, status.Desired).ShouldBe((3, 3));
    }

    [Fact]
    public void Interpret_JournaledShortTaskDefinition_StillTellsARollbackFromACompletion()
    {
        // After a restart the engine knows the rollout only by its journaled id: deployment id and "family:revision".
        var rolledBack = RolloutInterpreter.Interpret(Service(RecordedShapes.DescribeServicesRolledBackByCircuitBreaker), Failed, "hello:7");
        var replacedBySelf = RolloutInterpreter.Interpret(Service(RecordedShapes.DescribeServicesRolledBackByCircuitBreaker), Failed, "hello:6");

        EcsPlatform.ToStatus(rolledBack).State.ShouldBe(NativeRolloutState.RolledBack);
        EcsPlatform.ToStatus(replacedBySelf).State.ShouldBe(NativeRolloutState.Completed);
    }

    [Theory]
    [InlineData(1, 0, 3, 134, 100)]
    [InlineData(3, 0, 3, 200, 100)]
    [InlineData(2, 1, 4, 150, 75)]
    [InlineData(1, 5, 3, 134, 0)]
    public void RollingConfiguration_BatchAndMaxUnavailable_MapToMaximumAndMinimumHealthyPercent(int batch, int maxUnavailable, int n, int maximum, int minimum)
    {
        var spec = new ServiceSpec
        {
            Service = "hello",
            Platform = new PlatformSpec { Ecs = new EcsPlatformSpec { Cluster = "prod", DesiredCount = n, DeploymentController = EcsDeploymentControllers.Ecs } },
            Task = new TaskSpec { Image = "hello:1" },
            Strategy = new StrategySpec { Rolling = new RollingSpec { Batch = batch, MaxUnavailable = maxUnavailable } },
        };

        var configuration = EcsPlatform.RollingConfiguration(spec);

        configuration.MaximumPercent.ShouldBe(maximum);
        configuration.MinimumHealthyPercent.ShouldBe(minimum);
        configuration.DeploymentCircuitBreaker.ShouldBe(new DeploymentCircuitBreaker { Enable = true, Rollback = false }, "Backstay decides rollbacks, not ECS");
    }

    private static EcsPlatform Platform() => new(new EcsPlatformOptions { LaunchType = "EC2" }, TimeProvider.System);

    private static ServiceSpec NativeSpec(MotoWorld world) => world.NativeSpec();

    private static Revision Revision(MotoWorld world, int number, string image) =>
        new() { Service = world.Service, Number = number, Image = image, Port = 8080 };

    private static Service Service(string json) => JsonSerializer.Deserialize<DescribeServicesResponse>(json, AwsJson.CamelCase)!.Services.Single();
}
