using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Platform.Ecs.Aws.Ecs;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// `backstay reset` on ECS after a change by hand: the real engine, SQLite store and ECS platform against moto. What
/// a reset changed is read from moto's own request log, and what serves from DescribeServices and the listener.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class EcsResetTests(MotoServer moto)
{
    private const string V1 = "public.ecr.aws/nginx/nginx:1.26";

    /// <summary>How someone scales the serving task set to 0 in the console.</summary>
    public enum ByHand
    {
        TaskSetScale,
        ServiceDesiredCount,
    }

    [Theory]
    [InlineData(ByHand.TaskSetScale)]
    [InlineData(ByHand.ServiceDesiredCount)]
    public async Task ResetRecreate_AfterTaskSetScaledToZeroByHand_TaskSetBackAtRecordedCountWithAllProductionTraffic(ByHand how)
    {
        await using var flow = await EcsFlow.StartAsync("scaledzero");
        var spec = flow.World.Spec(instances: 2);
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);
        var before = (await flow.World.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem();
        var servingGroup = before.LoadBalancers!.Single().TargetGroupArn!;

        // Production now goes to a target group with no task behind it.
        if (how == ByHand.TaskSetScale)
        {
            await flow.World.Aws.Ecs.UpdateTaskSetAsync(new UpdateTaskSetRequest
            {
                Cluster = flow.World.Cluster,
                Service = flow.World.Service,
                TaskSet = before.TaskSetArn!,
                Scale = new Scale { Value = 0, Unit = "PERCENT" },
            }, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        }
        else
        {
            await flow.World.Aws.Ecs.UpdateServiceAsync(new UpdateServiceRequest { Cluster = flow.World.Cluster, Service = flow.World.Service, DesiredCount = 0 },
                CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        }

        // As ECS would stop the tasks, the agent takes their targets out of the group: nothing healthy is left to find.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while ((await flow.World.Aws.Elb.DescribeTargetHealthAsync(servingGroup, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)).Count > 0)
        {
            watch.Elapsed.ShouldBeLessThan(MotoWorld.CallTimeout, "the task-set agent did not deregister the stopped tasks");
            await Task.Delay(100);
        }

        var mark = moto.RequestLog.Count();

        var reset = await flow.Requests.ResetAsync(flow.World.Service, ResetMode.Recreate, "tester", CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var done = await flow.WaitSettledAsync(reset.Id);
        var calls = moto.RequestLog.Since(mark).Select(r => r.Operation).ToList();

        var events = string.Join(" | ", (await flow.EventsAsync(reset.Id)).Select(e => $"{e.Type}: {e.Message}"));
        var changes = calls.Where(MotoRequestLog.Mutating.Contains).ToList();
        done.State.ShouldBe(DeploymentState.Succeeded, $"{done.Reason}; events: {events}; changes sent: {string.Join(", ", changes)}");
        done.Kind.ShouldBe(DeploymentKind.Reset);
        changes.ShouldNotContain("ecs:DeleteTaskSet", "the last good revision's task set is brought back, never deleted");
        var service = (await flow.World.DescribeServiceAsync())!;
        var set = service.TaskSets.ShouldHaveSingleItem();
        set.ExternalId.ShouldBe("backstay:revision:1");
        set.Status.ShouldBe("PRIMARY");
        TaskSetMath.Count(set.Scale!.Value, service.DesiredCount).ShouldBe(2, "the recorded count of revision 1");
        set.LoadBalancers!.Single().TargetGroupArn.ShouldBe(servingGroup);
        (await flow.World.ListenerWeightsAsync())[servingGroup].ShouldBe(100);
        var record = (await flow.Store.GetServiceAsync(flow.World.Service, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout))!;
        record.StableRevision.ShouldBe(1);
        record.DesiredCount.ShouldBe(2);
    }
}
