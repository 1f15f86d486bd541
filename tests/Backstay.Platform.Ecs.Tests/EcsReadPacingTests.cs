using System.Globalization;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs.Tests.Moto;
using Xunit.Abstractions;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// How often a deployment reads AWS while nothing it acts on changes: in a bake, in a pause that waits for a person, and
/// while a rollout ECS runs itself is left waiting. The engine asks every analysis interval (250 ms here); the platform
/// answers from reads it paces, so the AWS calls follow what changes, not how long the deployment lasts. Counted with
/// the platform's own count of HTTP attempts sent to moto, over a window well inside the phase.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class EcsReadPacingTests(ITestOutputHelper output)
{
    private const string V1 = "public.ecr.aws/nginx/nginx:1.26";
    private const string V2 = "public.ecr.aws/nginx/nginx:1.27";

    /// <summary>The window reads are counted over, once the phase has settled.</summary>
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(15);

    /// <summary>The goal: at most one read per second per deployment in a steady phase.</summary>
    private const double ReadsPerSecond = 1.0;

    [Fact]
    public async Task BlueGreen_WaitingInItsBake_ReadsAtMostOncePerSecond()
    {
        await using var flow = await EcsFlow.StartAsync("pace-bake", Options());
        var spec = flow.World.Spec(new StrategySpec { BlueGreen = new BlueGreenSpec { TestTraffic = true, Bake = TimeSpan.FromMinutes(2), KeepPreviousFor = TimeSpan.FromSeconds(1) } });
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);

        var deployment = await flow.StartDeploymentAsync(spec, V2);
        await flow.WaitForAsync(deployment.Id, d => d.TargetWeight == 100, "production traffic on the new revision (the bake starts)");

        var reads = await CountReadsAsync(flow, "bake");

        reads.Total.ShouldBeLessThanOrEqualTo((int)(Window.TotalSeconds * ReadsPerSecond), reads.ByOperation);
    }

    [Fact]
    public async Task Canary_PausedUntilAPersonContinues_ReadsAtMostOncePerSecond()
    {
        await using var flow = await EcsFlow.StartAsync("pace-pause", Options());
        var spec = flow.World.Spec(new StrategySpec { Canary = new CanarySpec { Steps = [new SetWeightStep(20), new PauseStep(null), new SetWeightStep(100)] } });
        (await flow.DeployAsync(spec, V1)).State.ShouldBe(DeploymentState.Succeeded);

        var deployment = await flow.StartDeploymentAsync(spec, V2);
        await flow.WaitForAsync(deployment.Id, d => d.State == DeploymentState.Paused, "the canary paused at 20%");

        var reads = await CountReadsAsync(flow, "pause");

        reads.Total.ShouldBeLessThanOrEqualTo((int)(Window.TotalSeconds * ReadsPerSecond), reads.ByOperation);
    }

    /// <summary>moto never progresses a rollout of the ECS deployment controller: the deployment waits as one whose tasks cannot be placed would.</summary>
    [Fact]
    public async Task NativeRolling_LeftWaitingForEcs_ReadsAtMostOncePerSecond()
    {
        await using var flow = await EcsFlow.StartAsync("pace-native", Options());
        var spec = flow.World.NativeSpec(instances: 2);

        var deployment = await flow.StartDeploymentAsync(spec, V1);
        await flow.WaitForAsync(deployment.Id, d => d.TargetWeight == 0 && d.CurrentStep >= 0 && d.State == DeploymentState.InProgress, "the deployment running");
        await WaitForEventAsync(flow, deployment.Id, "RolloutStarted");

        var reads = await CountReadsAsync(flow, "native rollout waiting");

        reads.Total.ShouldBeLessThanOrEqualTo((int)(Window.TotalSeconds * ReadsPerSecond), reads.ByOperation);
    }

    private static EcsPlatformOptions Options() => new() { LaunchType = "EC2" };

    /// <summary>Lets the phase settle, then counts the reads the platform sends over the window.</summary>
    private async Task<(int Total, string ByOperation)> CountReadsAsync(EcsFlow flow, string phase)
    {
        await Task.Delay(TimeSpan.FromSeconds(3));
        var before = flow.Platform.ApiCalls;
        await Task.Delay(Window);
        var after = flow.Platform.ApiCalls;
        var reads = after.Where(kv => IsRead(kv.Key))
            .Select(kv => (Operation: kv.Key, Count: kv.Value - before.GetValueOrDefault(kv.Key)))
            .Where(x => x.Count > 0)
            .OrderByDescending(x => x.Count)
            .ToList();
        var writes = after.Where(kv => !IsRead(kv.Key)).Sum(kv => kv.Value - before.GetValueOrDefault(kv.Key));
        var total = reads.Sum(x => x.Count);
        var byOperation = $"{phase}: {total} reads and {writes} writes in {Window.TotalSeconds:0} s: " +
            string.Join(", ", reads.Select(x => $"{x.Operation} {x.Count.ToString(CultureInfo.InvariantCulture)}"));
        output.WriteLine(byOperation);
        return (total, byOperation);
    }

    private static bool IsRead(string operation)
    {
        var name = operation[(operation.IndexOf(':', StringComparison.Ordinal) + 1)..];
        return name.StartsWith("Describe", StringComparison.Ordinal) || name.StartsWith("List", StringComparison.Ordinal) || name.StartsWith("Get", StringComparison.Ordinal);
    }

    private static async Task WaitForEventAsync(EcsFlow flow, string deploymentId, string type)
    {
        var limit = DateTimeOffset.UtcNow + EcsFlow.DeploymentTimeout;
        while ((await flow.EventsAsync(deploymentId)).All(e => e.Type != type))
        {
            if (DateTimeOffset.UtcNow > limit)
            {
                throw new TimeoutException($"no {type} event for {deploymentId} within {EcsFlow.DeploymentTimeout}");
            }

            await Task.Delay(100);
        }
    }
}
