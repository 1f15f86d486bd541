using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs.Tests.Moto;
using Xunit.Abstractions;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>Whole deployments: the real engine and SQLite store driving the ECS platform against moto.</summary>
[Collection(MotoCollection.Name)]
public sealed class EcsDeploymentFlowTests(ITestOutputHelper output)
{
    private const string V1 = "public.ecr.aws/nginx/nginx:1.26";
    private const string V2 = "public.ecr.aws/nginx/nginx:1.27";

    [Fact]
    public async Task FirstDeployment_CreatesServiceWithExternalController_AndSendsAllTrafficToIt()
    {
        await using var flow = await EcsFlow.StartAsync("first");
        var spec = flow.World.Spec();

        var deployment = await flow.DeployAsync(spec, V1);

        deployment.State.ShouldBe(DeploymentState.Succeeded, deployment.Reason);
        var service = (await flow.World.DescribeServiceAsync())!;
        service.Status.ShouldBe("ACTIVE");
        service.DeploymentController!.Type.ShouldBe("EXTERNAL");
        service.DesiredCount.ShouldBe(2);
        var set = service.TaskSets.ShouldHaveSingleItem();
        set.Status.ShouldBe("PRIMARY");
        set.Scale!.Value.ShouldBe(100);
        set.ExternalId.ShouldBe("backstay:revision:1");
        set.LoadBalancers!.Single().TargetGroupArn.ShouldBe(flow.World.Blue);
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
        (await flow.World.ListenerWeightsAsync(flow.World.TestListener))[flow.World.Blue].ShouldBe(100);
        var definition = await flow.World.Aws.Ecs.DescribeTaskDefinitionAsync(new() { TaskDefinition = set.TaskDefinition!, Include = ["TAGS"] }, CancellationToken.None)
            .WaitAsync(MotoWorld.CallTimeout);
        definition.TaskDefinition!.ContainerDefinitions.Single().Image.ShouldBe(V1);
        definition.TaskDefinition.ContainerDefinitions.Single().Environment!.ShouldContain(new Backstay.Platform.Ecs.Aws.Ecs.EcsKeyValuePair("GREETING", "hi"));
        definition.Tags!.ShouldContain(new Backstay.Platform.Ecs.Aws.Ecs.Tag("backstay:revision", "1"));
        definition.Tags!.ShouldContain(new Backstay.Platform.Ecs.Aws.Ecs.Tag("backstay:commit", "abc1234"));
        Report(flow, "first deployment");
    }

    [Fact]
    public async Task BlueGreen_EndsWithAllProductionWeightOnTheOtherTargetGroup()
    {
        await using var flow = await EcsFlow.StartAsync("bg");
        var spec = flow.World.Spec();
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);
        flow.Platform.ResetApiCallCounts();
        var started = DateTimeOffset.UtcNow;

        var deployment = await flow.DeployAsync(spec, V2);

        var took = DateTimeOffset.UtcNow - started;
        deployment.State.ShouldBe(DeploymentState.Succeeded, deployment.Reason);
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 0, [flow.World.Green] = 100 });
        (await flow.World.ListenerWeightsAsync(flow.World.TestListener))[flow.World.Green].ShouldBe(100);
        var service = (await flow.World.DescribeServiceAsync())!;
        var set = service.TaskSets.ShouldHaveSingleItem();
        set.ExternalId.ShouldBe("backstay:revision:2");
        set.Status.ShouldBe("PRIMARY");
        set.LoadBalancers!.Single().TargetGroupArn.ShouldBe(flow.World.Green);
        Report(flow, $"blue/green deployment ({took.TotalSeconds:0.0}s wall, bake 1s + keep previous 1s)");
    }

    [Fact]
    public async Task BlueGreen_KeepPreviousFor_SucceedsWithTheNewTaskSetPrimaryAndDeletesTheOldOneWhenTheWindowEnds()
    {
        var keepFor = TimeSpan.FromSeconds(15);
        await using var flow = await EcsFlow.StartAsync("bgwarm");
        var spec = flow.World.Spec(new StrategySpec { BlueGreen = new BlueGreenSpec { TestTraffic = true, Bake = TimeSpan.FromSeconds(1), KeepPreviousFor = keepFor } });
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);

        var started = await flow.StartDeploymentAsync(spec, V2);
        var succeeded = await flow.WaitForAsync(started.Id, d => d.IsFinished, "blue/green succeeding");

        succeeded.State.ShouldBe(DeploymentState.Succeeded, succeeded.Reason);
        succeeded.WarmRevision.ShouldBe(1);
        var warmUntil = succeeded.WarmUntil.ShouldNotBeNull();
        var sets = (await flow.World.DescribeServiceAsync())!.TaskSets!;
        DateTimeOffset.UtcNow.ShouldBeLessThan(warmUntil, "read while the window lasts");
        sets.Single(t => t.ExternalId == "backstay:revision:2").Status.ShouldBe("PRIMARY", "the new task set is primary when the deployment succeeds");
        var warm = sets.Single(t => t.ExternalId == "backstay:revision:1");
        warm.Status.ShouldBe("ACTIVE");
        warm.Scale!.Value.ShouldBe(100, "the previous task set stays warm at full size");
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 0, [flow.World.Green] = 100 });
        Tags.Find((await flow.World.DescribeServiceAsync())!.Tags, Tags.Deployment).ShouldNotBeNull().ShouldContain(" warm=");

        var ended = await flow.WaitForAsync(started.Id, d => d.WarmEndedAt is not null, "the warm window ending", keepFor + TimeSpan.FromSeconds(45));

        ended.WarmEndedAt!.Value.ShouldBeGreaterThanOrEqualTo(warmUntil);
        var service = (await flow.World.DescribeServiceAsync())!;
        service.TaskSets!.Where(t => t.Status != "DRAINING").ShouldHaveSingleItem().ExternalId.ShouldBe("backstay:revision:2");
        service.TaskSets!.Single(t => t.ExternalId == "backstay:revision:2").Status.ShouldBe("PRIMARY");
        // The service's tag is written after the record (a platform call, paced on a loaded machine): wait for it.
        var tag = Tags.Find(service.Tags, Tags.Deployment);
        var tagWait = System.Diagnostics.Stopwatch.StartNew();
        while ((tag is null || tag.Contains(" warm=", StringComparison.Ordinal)) && tagWait.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(250);
            tag = Tags.Find((await flow.World.DescribeServiceAsync())!.Tags, Tags.Deployment);
        }

        tag.ShouldNotBeNull().ShouldNotContain(" warm=");
        (await flow.EventsAsync(started.Id)).Select(e => e.Type).ShouldContain("Retired");
        Report(flow, "blue/green with keepPreviousFor 15s");
    }

    [Fact]
    public async Task Canary_Healthy_StepsThroughItsWeightsAndEndsOnTheOtherTargetGroup()
    {
        await using var flow = await EcsFlow.StartAsync("canaryok");
        var spec = flow.World.Spec(new StrategySpec
        {
            Canary = new CanarySpec { Steps = [new SetWeightStep(25), new PauseStep(TimeSpan.FromSeconds(1)), new SetWeightStep(50), new PauseStep(TimeSpan.FromSeconds(1))] },
        });
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);
        flow.Platform.ResetApiCallCounts();
        var started = DateTimeOffset.UtcNow;

        var deployment = await flow.StartDeploymentAsync(spec, V2);
        await flow.WaitForAsync(deployment.Id, d => d.TargetWeight == 50, "canary at 50%");
        var halfway = await flow.World.ListenerWeightsAsync();
        var done = await flow.WaitSettledAsync(deployment.Id);

        var took = DateTimeOffset.UtcNow - started;
        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        halfway.ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 50, [flow.World.Green] = 50 });
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 0, [flow.World.Green] = 100 });
        (await flow.World.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem().ExternalId.ShouldBe("backstay:revision:2");
        Report(flow, $"canary deployment 25% -> 50% -> 100% ({took.TotalSeconds:0.0}s wall, pauses 2 x 1s)");
    }

    [Fact]
    public async Task Canary_AlarmGoingToAlarmMidway_RollsBackWithAllWeightOnStableTargetGroup()
    {
        await using var flow = await EcsFlow.StartAsync("canary");
        var spec = flow.World.Spec(new StrategySpec
        {
            Canary = new CanarySpec { Steps = [new SetWeightStep(20), new PauseStep(TimeSpan.FromMinutes(5)), new SetWeightStep(100)] },
        });
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);
        flow.Platform.ResetApiCallCounts();
        var started = DateTimeOffset.UtcNow;

        var deployment = await flow.StartDeploymentAsync(spec, V2);
        await flow.WaitForAsync(deployment.Id, d => d.State == DeploymentState.InProgress && d.TargetWeight == 20 && d.CurrentStep >= 2, "canary at 20% and waiting");
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 80, [flow.World.Green] = 20 });
        await flow.World.SetAlarmStateAsync("ALARM");
        var done = await flow.WaitSettledAsync(deployment.Id);

        var took = DateTimeOffset.UtcNow - started;
        done.State.ShouldBe(DeploymentState.RolledBack);
        done.Reason!.ShouldContain(flow.World.AlarmName);
        var rollback = (await flow.Store.GetDeploymentAsync(done.RolledBackBy!, CancellationToken.None))!;
        rollback.State.ShouldBe(DeploymentState.Succeeded);
        rollback.Trigger.ShouldBe(Trigger.AutomaticRollback);
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
        var service = (await flow.World.DescribeServiceAsync())!;
        var set = service.TaskSets.ShouldHaveSingleItem();
        set.ExternalId.ShouldBe("backstay:revision:1");
        set.Status.ShouldBe("PRIMARY");
        set.Scale!.Value.ShouldBe(100);
        Report(flow, $"canary deployment with automatic rollback ({took.TotalSeconds:0.0}s wall from start to rolled back)");
    }

    [Fact]
    public async Task Canary_CloudWatchMetricAboveItsMax_RollsBackWithTheReadingAsEvidence()
    {
        await using var flow = await EcsFlow.StartAsync("cwmetric");
        var metricName = $"CheckoutErrors-{flow.World.Service}";
        var metric = new MetricSpec
        {
            Name = "checkout-errors",
            Max = 5,
            Interval = TimeSpan.FromSeconds(1),
            CloudWatch = new CloudWatchMetricSpec
            {
                Queries = [new CloudWatchQuerySpec { Id = "errors", Namespace = "Backstay/Test", MetricName = metricName, Dimensions = new Dictionary<string, string> { ["Revision"] = "{{revision}}" }, Stat = "Sum" }],
            },
        };
        var spec = flow.World.Spec(new StrategySpec
        {
            Canary = new CanarySpec { Steps = [new SetWeightStep(20), new PauseStep(TimeSpan.FromMinutes(5)), new SetWeightStep(100)] },
        }, alarms: false);
        spec = spec with { Analysis = spec.Analysis with { Metrics = [metric] } };
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);

        var deployment = await flow.StartDeploymentAsync(spec, V2);
        await flow.WaitForAsync(deployment.Id, d => d.State == DeploymentState.InProgress && d.TargetWeight == 20 && d.CurrentStep >= 2, "canary at 20% and waiting");
        await flow.World.PutMetricAsync(metricName, "Revision", "1", 0, DateTimeOffset.UtcNow);
        await flow.World.PutMetricAsync(metricName, "Revision", "2", 50, DateTimeOffset.UtcNow);
        var done = await flow.WaitSettledAsync(deployment.Id);

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        done.Reason.ShouldNotBeNull().ShouldContain("checkout-errors 50 outside max 5");
        done.Reason.ShouldContain("Revision=2");
        var failed = (await flow.EventsAsync(deployment.Id)).Single(e => e.Type == "Failed").DataJson.ShouldNotBeNull();
        failed.ShouldContain("\"metric\":\"checkout-errors\"");
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
    }

    [Fact]
    public async Task Deployment_WithAlarmAlreadyInAlarm_StopsBeforeAnyTrafficMoves()
    {
        await using var flow = await EcsFlow.StartAsync("prealarm");
        var spec = flow.World.Spec();
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);
        await flow.World.SetAlarmStateAsync("ALARM");

        var deployment = await flow.DeployAsync(spec, V2);

        deployment.State.ShouldBe(DeploymentState.Stopped);
        deployment.Reason!.ShouldContain("already in ALARM");
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
    }

    [Fact]
    public async Task ManualRollback_ToEarlierRevision_BringsBackItsTaskDefinitionAndTraffic()
    {
        await using var flow = await EcsFlow.StartAsync("manual");
        var spec = flow.World.Spec();
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);
        (await flow.DeployAsync(spec, V2)).State.ShouldBe(DeploymentState.Succeeded);
        var firstDefinition = (await flow.World.Aws.Ecs.ListTaskDefinitionsAsync(new() { FamilyPrefix = flow.World.Service }, CancellationToken.None))
            .TaskDefinitionArns.Single(a => a.EndsWith(":1", StringComparison.Ordinal));

        var rollback = await flow.Requests.RollbackAsync(flow.World.Service, 1, "tester", CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var done = await flow.WaitSettledAsync(rollback.Id);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        done.Kind.ShouldBe(DeploymentKind.Rollback);
        (await flow.World.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [flow.World.Blue] = 100, [flow.World.Green] = 0 });
        var set = (await flow.World.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem();
        set.ExternalId.ShouldBe("backstay:revision:1");
        set.TaskDefinition.ShouldBe(firstDefinition);
        var definitions = await flow.World.Aws.Ecs.ListTaskDefinitionsAsync(new() { FamilyPrefix = flow.World.Service }, CancellationToken.None);
        definitions.TaskDefinitionArns.Count.ShouldBe(2);
        (await flow.Store.GetServiceAsync(flow.World.Service, CancellationToken.None))!.StableRevision.ShouldBe(1);
    }

    [Fact]
    public async Task AutoScaling_IsSuspendedDuringDeployment_AndResumedAfter()
    {
        await using var flow = await EcsFlow.StartAsync("scaling");
        var spec = flow.World.Spec(new StrategySpec { BlueGreen = new BlueGreenSpec { TestTraffic = true, Bake = TimeSpan.FromSeconds(3), KeepPreviousFor = TimeSpan.FromSeconds(1) } });
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);
        await flow.World.RegisterScalableTargetAsync();
        (await flow.World.ScalableTargetAsync())!.SuspendedState?.AnySuspended.ShouldNotBe(true);

        var deployment = await flow.StartDeploymentAsync(spec, V2);
        await flow.WaitForAsync(deployment.Id, d => d.TargetWeight == 100, "all traffic on the new revision (baking)");
        var during = (await flow.World.ScalableTargetAsync())!;
        var tagged = Tags.Find((await flow.World.DescribeServiceAsync())!.Tags, Tags.AutoScalingSuspended);
        var done = await flow.WaitSettledAsync(deployment.Id);

        // The engine records Succeeded before it calls EndDeploymentAsync, so the resume lands a moment later.
        var after = (await flow.World.ScalableTargetAsync())!;
        for (var i = 0; i < 100 && after.SuspendedState?.AnySuspended == true; i++)
        {
            await Task.Delay(100);
            after = (await flow.World.ScalableTargetAsync())!;
        }

        done.State.ShouldBe(DeploymentState.Succeeded);
        during.SuspendedState!.AllSuspended.ShouldBeTrue();
        tagged.ShouldBe("in=false out=false scheduled=false");
        after.SuspendedState!.AnySuspended.ShouldBeFalse();
        after.MinCapacity.ShouldBe(1);
        after.MaxCapacity.ShouldBe(10);
        var service = (await flow.World.DescribeServiceAsync())!;
        Tags.Find(service.Tags, Tags.AutoScalingSuspended).ShouldBeNull();
        service.DesiredCount.ShouldBe(2);
    }

    [Fact]
    public async Task Deploy_AfterAutoScalingChangedTheDesiredCount_IsNoDriftAndSucceeds()
    {
        await using var flow = await EcsFlow.StartAsync("scaledout");
        var spec = flow.World.Spec(new StrategySpec { BlueGreen = new BlueGreenSpec { TestTraffic = false, Bake = TimeSpan.FromSeconds(1), KeepPreviousFor = TimeSpan.FromSeconds(1) } });
        var first = await flow.DeployAsync(spec, V1);
        first.State.ShouldBe(DeploymentState.Succeeded);

        // The engine's observation pass reads the service before auto scaling is set up on it ("not auto scaled", an
        // answer the platform reuses for up to a minute): wait for such a read, so the test does not depend on where the
        // pass falls. Without the wait the outcome depended on that timing (main passed, the Native AOT branch failed most runs).
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30);
        while ((await flow.Store.GetObservationAsync(spec.Service, CancellationToken.None))?.At is not { } seen || seen < first.FinishedAt)
        {
            DateTimeOffset.UtcNow.ShouldBeLessThan(deadline, "the engine recorded no observation of the service after its first deployment");
            await Task.Delay(100);
        }

        await flow.World.RegisterScalableTargetAsync();

        // What Application Auto Scaling does on a scale-out: a new desired count on the service.
        await flow.World.Aws.Ecs.UpdateServiceAsync(new Backstay.Platform.Ecs.Aws.Ecs.UpdateServiceRequest { Cluster = flow.World.Cluster, Service = flow.World.Service, DesiredCount = 4 }, CancellationToken.None);
        var done = await flow.DeployAsync(spec, V2);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
    }

    [Fact]
    public async Task Drift_ServiceDeletedOutOfBand_IsReportedAndNotRecreated()
    {
        await using var flow = await EcsFlow.StartAsync("drift");
        var spec = flow.World.Spec();
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);
        await flow.World.DeleteServiceOutOfBandAsync();

        var deployment = await flow.StartDeploymentAsync(spec, V2);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Core.Model.Deployment? stopped = null;
        while (stopped is null && watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            stopped = await flow.Store.GetDeploymentAsync(deployment.Id, CancellationToken.None) is { State: DeploymentState.Stopped } d ? d : null;
            await Task.Delay(100);
        }

        stopped.ShouldNotBeNull("the deployment was not stopped for the deleted service");
        var reported = (await flow.EventsAsync(deployment.Id)).Single(e => e.Type == "Stopped");
        reported.Message.ShouldContain($"ECS service '{flow.World.Service}' in cluster '{flow.World.Cluster}' is INACTIVE");
        reported.Message.ShouldContain($"backstay reset {flow.World.Service}");
        (await flow.World.DescribeServiceAsync())!.Status.ShouldBe("INACTIVE");
        (await flow.World.ListenerWeightsAsync())[flow.World.Blue].ShouldBe(100);
    }

    private void Report(EcsFlow flow, string what)
    {
        var calls = flow.Platform.ApiCalls;
        output.WriteLine($"{what}: {calls.Values.Sum()} AWS API calls");
        foreach (var (operation, count) in calls.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {operation}: {count}");
        }
    }
}
