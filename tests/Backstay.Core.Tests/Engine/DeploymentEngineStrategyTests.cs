using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

public sealed class DeploymentEngineStrategyTests
{
    private const string Web = EngineHarness.ServiceName;
    private const string TestListener = "127.0.0.1:8081";

    public static TheoryData<string> Strategies => ["rolling", "blueGreen", "canary", "linear", "phased"];

    [Fact]
    public async Task RunAsync_FirstDeployment_SucceedsServingAllTrafficAtTheDesiredCount()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();

        var deployment = await harness.DeployAsync(Specs.Service(instances: 3));

        deployment.State.ShouldBe(DeploymentState.Succeeded);
        deployment.Strategy.ShouldBe("initial");
        deployment.FinishedAt.ShouldNotBeNull();
        harness.Store.Service(Web)!.StableRevision.ShouldBe(1);
        harness.Platform.ShouldServeOnly(1, 3);
        harness.Store.ShouldHaveCompletedEveryStep(deployment);
        harness.Store.ShouldHaveTimelineInOrder(deployment, "Started", "Succeeded");
        harness.Platform.Ensured.ShouldNotBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task RunAsync_SecondDeployment_SucceedsOnTheNewRevisionAndRetiresTheOld(string strategy)
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3), prepare: r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        var spec = Specs.Service(StrategyOf(strategy), instances: 3, testListener: TestListener);
        var before = harness.Platform.ProductionWeightChanges().Count;

        var deployment = await harness.DeployAsync(spec, prepare: r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));

        deployment.State.ShouldBe(DeploymentState.Succeeded, deployment.Reason);
        if (deployment.WarmUntil is not null)
        {
            // Blue/green succeeds with the previous revision warm; the engine retires it when the window ends.
            await harness.RunUntilAsync(() => harness.Platform.DesiredCount(Web, 1) == 0, TimeSpan.FromSeconds(10), "the warm window ending");
        }

        deployment.Kind.ShouldBe(DeploymentKind.Deploy);
        deployment.Strategy.ShouldBe(strategy);
        deployment.StableRevision.ShouldBe(1);
        deployment.TargetRevision.ShouldBe(2);
        deployment.TargetWeight.ShouldBe(100);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(2);
        harness.Platform.ShouldServeOnly(2, 3, others: 1);
        harness.Platform.WeightsNow(Web, Listener.Test).ShouldBe(new Dictionary<int, int> { [2] = 100 });
        harness.Store.ShouldHaveCompletedEveryStep(deployment);
        harness.Store.ShouldHaveTimelineInOrder(deployment, "Started", "Succeeded");

        var planned = DeploymentPlan.FromJson(deployment.PlanJson).Actions.OfType<WeightAction>().Select(a => a.TargetWeight);
        var applied = harness.Platform.ProductionWeightChanges().Skip(before).Select(o => o.WeightOf(2));
        applied.ShouldBe(planned, "every planned traffic step reached the load balancer, in order");
        harness.RollbackOf(deployment.Id).ShouldBeNull();
    }

    [Fact]
    public async Task RunAsync_BlueGreen_KeepsThePreviousSetWarmUntilTheWindowEnds()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3));
        var spec = Specs.Service(Specs.BlueGreen(bake: TimeSpan.FromSeconds(1), keepPreviousFor: TimeSpan.FromSeconds(3)), testListener: TestListener);
        var deployment = await harness.StartAsync(spec, r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));

        await harness.RunUntilAsync(() => harness.Platform.WeightsNow(Web).GetValueOrDefault(2) == 100, TimeSpan.FromSeconds(10), "all traffic on revision 2");
        var switchedAt = harness.Time.GetUtcNow();
        await harness.AdvanceAsync(TimeSpan.FromSeconds(3.5));

        harness.Platform.DesiredCount(Web, 1).ShouldBe(3, "the previous set stays warm for bake + keepPreviousFor");
        var done = await harness.RunToEndAsync(deployment.Id);
        done.State.ShouldBe(DeploymentState.Succeeded);
        await harness.RunUntilAsync(() => harness.Platform.DesiredCount(Web, 1) == 0, TimeSpan.FromSeconds(10), "the warm window ending");
        var scaledDown = harness.Platform.Operations.OfType<ScaleOperation>().Single(o => o.Revision == 1 && o.Count == 0);
        (scaledDown.At - switchedAt).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(4));
    }

    [Fact]
    public async Task RunAsync_SlowStartingInstances_WaitsForHealthBeforeShiftingTraffic()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 2));

        var deployment = await harness.DeployAsync(Specs.Service(Specs.Rolling(), instances: 2),
            r => harness.Platform.SetBehavior(Web, r, InstanceBehavior.After(TimeSpan.FromSeconds(2))));

        deployment.State.ShouldBe(DeploymentState.Succeeded, deployment.Reason);
        var operations = harness.Platform.Operations;
        var firstScale = operations.OfType<ScaleOperation>().First(o => o.Revision == 2);
        var firstWeight = operations.OfType<WeightOperation>().First(o => o.WeightOf(2) > 0);
        (firstWeight.At - firstScale.At).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(2));
    }

    /// <summary>
    /// A follower (the CLI's live line) reads the timeline, then the deployment's progress: the progress must already
    /// hold the counts an instance event states, never older ones ("3/3 instances of revision 2 healthy" and then
    /// "healthy r2 0/3").
    /// </summary>
    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task RunAsync_InstanceEvents_AreNeverAheadOfTheRecordedProgress(string strategy)
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3), prepare: r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        var compared = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var behind = new System.Collections.Concurrent.ConcurrentQueue<string>();
        harness.Store.OnEventAppended = e =>
        {
            var stated = System.Text.RegularExpressions.Regex.Match(e.Message, @"^(\d+)/(\d+) instances of revision (\d+) healthy$");
            var deployment = harness.Store.Deployment(e.DeploymentId);
            if (e.Type != "InstancesHealthy" || !stated.Success || DeploymentProgress.Parse(deployment.ProgressJson) is not { } progress)
            {
                return;
            }

            var (healthy, desired, revision) = (int.Parse(stated.Groups[1].Value), int.Parse(stated.Groups[2].Value), int.Parse(stated.Groups[3].Value));
            var recorded = revision == deployment.TargetRevision ? (progress.TargetHealthy, progress.TargetDesired)
                : revision == deployment.StableRevision ? (progress.StableHealthy, progress.StableDesired) : (healthy, desired);
            compared.Enqueue(e.Message);
            if (recorded != (healthy, desired))
            {
                behind.Enqueue($"'{e.Message}' while progress said {recorded.Item1}/{recorded.Item2}");
            }
        };

        var deployment = await harness.DeployAsync(Specs.Service(StrategyOf(strategy), instances: 3, testListener: TestListener), prepare: r =>
        {
            // Instances that take a while to start: progress is recorded while the step waits for them.
            harness.Platform.SetTraffic(Web, r, new TrafficProfile());
            harness.Platform.SetBehavior(Web, r, InstanceBehavior.After(TimeSpan.FromSeconds(2)));
        });

        deployment.State.ShouldBe(DeploymentState.Succeeded, deployment.Reason);
        compared.ShouldNotBeEmpty("some instance event came while progress was recorded");
        behind.ShouldBeEmpty();
    }

    private static StrategySpec StrategyOf(string strategy) => strategy switch
    {
        "blueGreen" => Specs.BlueGreen(bake: TimeSpan.FromSeconds(1), keepPreviousFor: TimeSpan.FromSeconds(2)),
        "canary" => Specs.Canary(
            Specs.Weight(25),
            Specs.PauseMs(1000),
            new AnalysisStep(new AnalysisSpec { Window = TimeSpan.FromSeconds(1), MinRequests = 10 }),
            Specs.Weight(50),
            Specs.PauseMs(500)),
        "linear" => Specs.Linear(25, TimeSpan.FromMilliseconds(500)),
        "phased" => Specs.Phased(TimeSpan.FromMilliseconds(500), 34, 67, 100),
        _ => Specs.Rolling(batch: 1),
    };
}
