using Backstay.Core.Model;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

public sealed class DriftTests
{
    private const string Web = EngineHarness.ServiceName;

    [Fact]
    public async Task SetWeight_WeightsMovedByHandBetweenSteps_StopsNamingWhatChangedAndReset()
    {
        await using var harness = new EngineHarness();
        var deployment = await RunWithWeightsMovedByHandAsync(harness);

        deployment.State.ShouldNotBe(DeploymentState.Succeeded);
        var reason = deployment.Reason.ShouldNotBeNull();
        reason.ShouldContain("revision 2 has 50% of production traffic, Backstay set 20%");
        reason.ShouldContain("by hand");
        reason.ShouldContain("backstay reset web");
        harness.Platform.ProductionWeightChanges().ShouldNotContain(o => o.WeightOf(2) == 60, "the next step never ran");
    }

    [Fact]
    public async Task SetWeight_WeightsMovedByHandBetweenSteps_StoppedWithoutTouchingTraffic()
    {
        await using var harness = new EngineHarness();
        var changesBefore = 0;
        var deployment = await RunWithWeightsMovedByHandAsync(harness, () => changesBefore = harness.Platform.Operations.Count);

        // Drift means Backstay refuses to guess: it stops and leaves the platform as the person left it.
        deployment.State.ShouldBe(DeploymentState.Stopped);
        harness.Platform.Operations.Skip(changesBefore).ShouldBeEmpty();
        harness.Platform.WeightsNow(Web).ShouldBe(new Dictionary<int, int> { [1] = 50, [2] = 50 }, ignoreOrder: true);
    }

    [Fact]
    public async Task Paused_WeightsMovedByHand_IsStoppedForDriftWhileItWaitsWithoutTouchingThePlatform()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(), Specs.Weight(60))),
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(5), "paused");
        var changesBefore = harness.Platform.Operations.Count;

        harness.Platform.MoveWeightsByHand(Web, new Dictionary<int, int> { [1] = 50, [2] = 50 });

        // Read back every 2 s while paused: found within a few seconds, with nobody answering the pause.
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Stopped, TimeSpan.FromSeconds(5), "stopped for drift");
        var stopped = harness.Store.Deployment(deployment.Id);
        stopped.Reason.ShouldNotBeNull().ShouldContain("revision 2 has 50% of production traffic, Backstay set 20%");
        var drift = harness.Store.Events(deployment.Id).Where(e => e.Type == "Drift").ShouldHaveSingleItem();
        drift.DataJson.ShouldNotBeNull().ShouldContain("differences");
        harness.Platform.Operations.Skip(changesBefore).ShouldBeEmpty();
        harness.Platform.WeightsNow(Web).ShouldBe(new Dictionary<int, int> { [1] = 50, [2] = 50 }, ignoreOrder: true);
    }

    [Fact]
    public async Task Paused_NothingChangedByHand_StaysPaused()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(), Specs.Weight(60))),
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(5), "paused");

        await harness.AdvanceAsync(TimeSpan.FromSeconds(20));

        harness.Store.Deployment(deployment.Id).State.ShouldBe(DeploymentState.Paused);
        harness.Store.Events(deployment.Id).ShouldNotContain(e => e.Type == "Drift");
    }

    [Fact]
    public async Task Paused_FirstDeploymentWaitingBeforeItsTrafficIsAllowed_IsNotDrift()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var spec = Specs.Service(Specs.BlueGreen(TimeSpan.Zero, TimeSpan.Zero, testTraffic: false))
            .WithHooks(null, ("BeforeAllowTraffic", [HookSpecs.Pause(TimeSpan.FromHours(1))]));
        var deployment = await harness.StartAsync(spec);
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(10), "paused");

        // Nothing serves production yet, on purpose: the hook holds the traffic back until a person answers.
        await harness.AdvanceAsync(TimeSpan.FromSeconds(20));

        harness.Store.Deployment(deployment.Id).State.ShouldBe(DeploymentState.Paused, harness.Store.Deployment(deployment.Id).Reason);
        harness.Store.Events(deployment.Id).ShouldNotContain(e => e.Type == "Drift");
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 0)]
    public void Compare_StableCountChangedOnThePlatform_IsDriftUnlessAutoScalingOwnsTheCount(bool autoScaled, int differences)
    {
        var record = new ServiceRecord { Name = Web, Platform = "ecs", StableRevision = 3, DesiredCount = 2 };
        var observed = new Observation
        {
            Service = Web,
            Sets = [new ObservedSet(3, Desired: 5, Running: 5, Healthy: 5)],
            ProductionWeights = new Dictionary<int, int> { [3] = 100 },
            AutoScaled = autoScaled,
        };

        var found = Backstay.Core.Engine.DriftDetector.Compare(record, observed);

        found.Count.ShouldBe(differences);
        if (differences > 0)
        {
            found[0].ShouldBe("revision 3 (stable) is set to 5 instances; the record says 2");
        }
    }

    [Fact]
    public async Task Observe_PlatformAskingForTenSeconds_RecordsAServiceNoMoreOftenThanThat()
    {
        await using var harness = new EngineHarness();
        harness.Platform.ObserveEvery = TimeSpan.FromSeconds(10);
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        var seen = new SortedSet<DateTimeOffset>();

        for (var second = 0; second < 35; second++)
        {
            await harness.AdvanceAsync(TimeSpan.FromSeconds(1));
            if (await harness.Store.GetObservationAsync(Web, CancellationToken.None) is { } observation)
            {
                seen.Add(observation.At);
            }
        }

        seen.Count.ShouldBeInRange(3, 4, "35 s at one observation per 10 s (the engine itself looks every 2 s)");
        seen.Zip(seen.Skip(1), (a, b) => b - a).ShouldAllBe(gap => gap >= TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Observe_ThreeServices_ReadsTheirWeightsInOneReadPerPass()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        foreach (var name in new[] { "web", "api", "worker" })
        {
            await harness.DeployAsync(Specs.Service() with { Service = name });
        }

        var (single, batch) = (harness.Platform.WeightReads, harness.Platform.BatchWeightReads);
        await harness.AdvanceAsync(TimeSpan.FromSeconds(9));

        (harness.Platform.BatchWeightReads - batch).ShouldBeInRange(4, 5, "a pass every 2 s");
        (harness.Platform.WeightReads - single).ShouldBe(0, "no service read alone while nothing is deployed");
        foreach (var name in new[] { "web", "api", "worker" })
        {
            (await harness.Store.GetObservationAsync(name, CancellationToken.None)).ShouldNotBeNull().ProductionWeights.ShouldBe(new Dictionary<int, int> { [1] = 100 });
        }
    }

    private static async Task<Deployment> RunWithWeightsMovedByHandAsync(EngineHarness harness, Action? beforeContinue = null)
    {
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(), Specs.Weight(60))),
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(5), "paused");

        harness.Platform.MoveWeightsByHand(Web, new Dictionary<int, int> { [1] = 50, [2] = 50 });
        beforeContinue?.Invoke();
        await harness.Requests.ContinueAsync(deployment.Id, full: false, "alice", CancellationToken.None).WaitAsync(EngineHarness.RealTimeout);
        return await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(10));
    }
}
