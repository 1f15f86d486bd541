using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs.Aws.Ecs;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>Retention on ECS: task definitions of revisions let go are deregistered; stable and kept ones stay ACTIVE.</summary>
[Collection(MotoCollection.Name)]
public sealed class EcsRetentionTests
{
    [Fact]
    public async Task Retention_KeepOnePrevious_DeregistersOlderTaskDefinitionsOnly()
    {
        await using var flow = await EcsFlow.StartAsync("retention");
        var spec = flow.World.Spec(new StrategySpec { BlueGreen = new BlueGreenSpec { TestTraffic = true, Bake = TimeSpan.Zero, KeepPreviousFor = TimeSpan.Zero } })
            with { Retention = new RetentionSpec { KeepPrevious = 1 } };

        foreach (var image in new[] { "public.ecr.aws/nginx/nginx:1.25", "public.ecr.aws/nginx/nginx:1.26", "public.ecr.aws/nginx/nginx:1.27" })
        {
            (await flow.DeployAsync(spec, image)).State.ShouldBe(DeploymentState.Succeeded);
        }

        // Retention runs once the deployment is recorded Succeeded: wait for it (bounded) rather than race it.
        var statuses = new Dictionary<int, string?>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        do
        {
            foreach (var revision in await flow.Store.ListRevisionsAsync(flow.World.Service, CancellationToken.None))
            {
                var definition = await flow.World.Aws.Ecs.DescribeTaskDefinitionAsync(
                    new DescribeTaskDefinitionRequest { TaskDefinition = $"{flow.World.Service}:{revision.Number}" }, CancellationToken.None);
                statuses[revision.Number] = definition.TaskDefinition?.Status;
            }

            await Task.Delay(200);
        }
        while (statuses.GetValueOrDefault(1) != "INACTIVE" && clock.Elapsed < TimeSpan.FromSeconds(15));

        statuses[1].ShouldBe("INACTIVE");
        statuses[2].ShouldBe("ACTIVE");
        statuses[3].ShouldBe("ACTIVE");
        (await flow.Store.GetRevisionAsync(flow.World.Service, 1, CancellationToken.None))!.Removed.ShouldBeTrue();
    }
}
