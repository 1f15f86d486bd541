using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Aws.Ecs;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// Rolling through the ECS deployment controller. moto never progresses a rollout (rolloutState stays IN_PROGRESS),
/// so progress, the circuit breaker and its rollback are judged on recorded DescribeServices answers.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class EcsRolloutTests
{
    private const string Failed = "ecs-svc/7373547183949474729";
    private const string Hello7 = "arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:7";

    [Fact]
    public void Interpret_CircuitBreakerFailedTheRollout_ReportsFailedWithItsReasons()
    {
        var rollout = RolloutInterpreter.Interpret(Service(RecordedShapes.DescribeServicesRollingFailed), Failed, Hello7);

        rollout.State.ShouldBe(EcsRolloutState.Failed);
        rollout.CircuitBreakerTripped.ShouldBeTrue();
        rollout.FailedTasks.ShouldBe(10);
        rollout.Running.ShouldBe(0);
        rollout.Reason.ShouldBe("ECS deployment circuit breaker: tasks failed to start. | (service hello) (deployment ecs-svc/7373547183949474729) deployment failed: tasks failed to start.");
    }

    [Fact]
    public void Interpret_CircuitBreakerRolledBack_ReportsRolledBackToTheEarlierTaskDefinition()
    {
        var rollout = RolloutInterpreter.Interpret(Service(RecordedShapes.DescribeServicesRolledBackByCircuitBreaker), Failed, Hello7);

        rollout.State.ShouldBe(EcsRolloutState.RolledBack);
        rollout.CircuitBreakerTripped.ShouldBeFalse("the events say the deployment failed, not which mechanism rolled it back");
        rollout.Reason!.ShouldStartWith("ECS replaced deployment ecs-svc/7373547183949474729 with ecs-svc/5550001112223334445 running arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:6");
        rollout.Reason.ShouldContain("deployment failed: tasks failed to start.");
    }

    [Fact]
    public void Interpret_Completed_ReportsCompletedWithCounts()
    {
        var rollout = RolloutInterpreter.Interpret(Service(RecordedShapes.DescribeServicesRollingCompleted), Failed, Hello7);

        rollout.State.ShouldBe(EcsRolloutState.Completed);
        rollout.Running.ShouldBe(3);
        rollout.Desired.ShouldBe(3);
        rollout.FailedTasks.ShouldBe(1);
    }

    [Fact]
    public async Task StartRollout_OnAnEcsControllerService_UpdatesTheServiceToTheRevisionsTaskDefinition()
    {
        using var world = await MotoWorld.CreateAsync("roll");
        var register = await world.Aws.Ecs.RegisterTaskDefinitionAsync(new RegisterTaskDefinitionRequest
        {
            Family = world.Service,
            NetworkMode = "bridge",
            ContainerDefinitions = [new ContainerDefinition { Name = "web", Image = "nginx:1.26", Memory = 128, Essential = true }],
        }, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        await world.Aws.Ecs.CreateServiceAsync(new CreateServiceRequest
        {
            Cluster = world.Cluster,
            ServiceName = world.Service,
            DesiredCount = 1,
        }, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        await using var platform = new EcsPlatform(new EcsPlatformOptions { LaunchType = "EC2" }, TimeProvider.System);
        var revision = new Revision { Service = world.Service, Number = 1, Image = "nginx:1.27", Port = 8080 };

        var started = await platform.StartRolloutAsync(world.Spec(), revision, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var followed = await platform.GetRolloutAsync(world.Spec(), started, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);

        register.TaskDefinition!.Revision.ShouldBe(1);
        started.TaskDefinition.ShouldEndWith($"{world.Service}:2");
        (await world.DescribeServiceAsync())!.TaskDefinition.ShouldBe(started.TaskDefinition);
        followed.State.ShouldBe(EcsRolloutState.InProgress, "moto never progresses a rollout");
    }

    private static Service Service(string json) => JsonSerializer.Deserialize<DescribeServicesResponse>(json, AwsJson.CamelCase)!.Services.Single();
}
