using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>
/// Blue/green's keepPreviousFor: the deployment succeeds once all production traffic is on the new revision and its
/// bake passed; the previous revision stays warm until the window ends (or `continue --full`, a rollback, the next
/// deployment), retired by the engine from the store, also after a restart.
/// </summary>
public sealed class WarmWindowTests
{
    private const string Web = EngineHarness.ServiceName;
    private const string TestListener = "127.0.0.1:8081";
    private static readonly TimeSpan Bake = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan KeepFor = TimeSpan.FromSeconds(60);

    /// <summary>Room on the fake clock for a step, a pass of the engine and a lease to expire on top of the spec's durations.</summary>
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(10);

    private static Backstay.Core.Spec.ServiceSpec BlueGreen => Specs.Service(Specs.BlueGreen(Bake, KeepFor), instances: 3, testListener: TestListener);

    [Fact]
    public async Task Deploy_BlueGreenWithKeepPreviousFor_SucceedsWhileThePreviousRevisionStaysWarm()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var deployment = await DeployOverRevisionOneAsync(harness);

        deployment.State.ShouldBe(DeploymentState.Succeeded, deployment.Reason);
        deployment.WarmUntil.ShouldNotBeNull();
        deployment.WarmEndedAt.ShouldBeNull();
        deployment.WarmRevision.ShouldBe(1);
        (deployment.WarmUntil.Value - deployment.FinishedAt!.Value).ShouldBeInRange(KeepFor - TimeSpan.FromSeconds(1), KeepFor);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(2);
        harness.Platform.WeightsNow(Web).GetValueOrDefault(2).ShouldBe(100);
        harness.Platform.DesiredCount(Web, 2).ShouldBe(3);
        harness.Platform.DesiredCount(Web, 1).ShouldBe(3, "the previous revision stays warm, without traffic");
        harness.Store.ShouldHaveTimelineInOrder(deployment, "Started", "Succeeded");
        harness.Store.Events(deployment.Id).Select(e => e.Type).ShouldContain("KeepingWarm");
        harness.Store.Events(deployment.Id).Last(e => e.Type == "Succeeded").Message.ShouldContain("revision 1 stays warm until");
        (await harness.Store.ListWarmDeploymentsAsync(CancellationToken.None)).Select(d => d.Id).ShouldBe([deployment.Id]);
    }

    [Fact]
    public async Task WarmWindow_KeepPreviousForElapses_EngineScalesThePreviousRevisionToZero()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var deployment = await DeployOverRevisionOneAsync(harness);

        await harness.RunUntilAsync(() => harness.Platform.DesiredCount(Web, 1) == 0, KeepFor + Margin, "revision 1 retired");

        var retired = harness.Platform.Operations.OfType<ScaleOperation>().Last(o => o.Revision == 1 && o.Count == 0);
        retired.At.ShouldBeGreaterThanOrEqualTo(deployment.WarmUntil!.Value, "not before the window ends");
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).WarmEndedAt is not null, Margin, "window ended on record");
        var ended = harness.Store.Deployment(deployment.Id);
        ended.State.ShouldBe(DeploymentState.Succeeded);
        ended.WarmRevision.ShouldBeNull();
        harness.Store.Events(deployment.Id).Select(e => e.Type).ShouldContain("Retired");
        harness.Platform.ShouldServeOnly(2, 3, others: 1);
        (await harness.Store.ListWarmDeploymentsAsync(CancellationToken.None)).ShouldBeEmpty();
    }

    [Fact]
    public async Task ContinueFull_DuringTheWarmWindow_RetiresThePreviousRevisionNow()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var deployment = await DeployOverRevisionOneAsync(harness);

        await harness.Requests.ContinueAsync(deployment.Id, full: true, "ops", CancellationToken.None);
        await harness.RunUntilAsync(() => harness.Platform.DesiredCount(Web, 1) == 0, Margin, "revision 1 retired at continue --full");

        harness.Time.GetUtcNow().ShouldBeLessThan(deployment.WarmUntil!.Value);
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).WarmEndedAt is not null, Margin, "window ended on record");
        harness.Store.Events(deployment.Id).Last(e => e.Type == "Retired").Message.ShouldContain("continue --full");
        harness.Platform.ShouldServeOnly(2, 3, others: 1);
    }

    [Fact]
    public async Task Continue_WithoutFullDuringTheWarmWindow_IsRefusedSayingHowToEndIt()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var deployment = await DeployOverRevisionOneAsync(harness);

        var refused = await Should.ThrowAsync<InvalidRequestException>(() => harness.Requests.ContinueAsync(deployment.Id, full: false, "ops", CancellationToken.None));

        refused.Message.ShouldContain($"continue --full {deployment.Id}");
    }

    [Fact]
    public async Task Rollback_DuringTheWarmWindow_MovesTrafficToTheWarmRevisionWithoutWaitingForInstances()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var deployment = await DeployOverRevisionOneAsync(harness);

        // New instances of revision 1 would take 30 s to turn healthy: a rollback that had to start them would wait that long.
        // (The behaviour counts from each instance's start: the warm ones are past it once 30 s have gone by.)
        harness.Platform.SetBehavior(Web, 1, InstanceBehavior.After(TimeSpan.FromSeconds(30)));
        await harness.AdvanceAsync(TimeSpan.FromSeconds(31));
        harness.Platform.DesiredCount(Web, 1).ShouldBe(3);
        var asked = harness.Time.GetUtcNow();
        var rollback = await harness.Requests.RollbackAsync(Web, null, "ops", CancellationToken.None);
        rollback.TargetRevision.ShouldBe(1);
        var done = await harness.RunToEndAsync(rollback.Id, Margin);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        var moved = harness.Platform.ProductionWeightChanges().First(o => o.At >= asked && o.WeightOf(1) == 100);
        (moved.At - asked).ShouldBeLessThan(TimeSpan.FromSeconds(2), "traffic goes back to the warm instances at once");
        harness.Platform.Operations.OfType<ScaleOperation>().Where(o => o.Revision == 1 && o.At >= asked).ShouldAllBe(o => o.Count == 3, "revision 1 is never scaled down or restarted");
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(1);
        harness.Store.Deployment(deployment.Id).WarmEndedAt.ShouldNotBeNull("the rollback took the warm revision over");
        harness.Store.Events(rollback.Id).Select(e => e.Type).ShouldContain("WarmTakenOver");
        (await harness.Store.ListWarmDeploymentsAsync(CancellationToken.None)).ShouldBeEmpty();
    }

    [Fact]
    public async Task WarmWindow_EngineDiesMidWindow_NextEngineOverTheSameStoreRetiresItWhenItEnds()
    {
        await using var harness = new EngineHarness();
        var first = await harness.StartEngineAsync("engine-a");
        var deployment = await DeployOverRevisionOneAsync(harness);
        await harness.AdvanceAsync(TimeSpan.FromSeconds(5));
        first.Kill();
        await first.Loop.WaitAsync(EngineHarness.RealTimeout);
        harness.Platform.DesiredCount(Web, 1).ShouldBe(3);

        await harness.StartEngineAsync("engine-b");
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).WarmEndedAt is not null, KeepFor + Margin, "engine B retiring revision 1");

        harness.Platform.DesiredCount(Web, 1).ShouldBe(0);
        harness.Platform.Operations.OfType<ScaleOperation>().Last(o => o.Revision == 1 && o.Count == 0).At.ShouldBeGreaterThanOrEqualTo(deployment.WarmUntil!.Value);
        harness.Store.Events(deployment.Id).Select(e => e.Type).Count(t => t == "Retired").ShouldBe(1);
    }

    [Fact]
    public async Task Deploy_NewRevisionDuringTheWarmWindow_RetiresTheWarmRevisionBeforeItActs()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var warm = await DeployOverRevisionOneAsync(harness);

        var next = await harness.StartAsync(Specs.Service(Specs.Rolling(), instances: 3, testListener: TestListener), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        var done = await harness.RunToEndAsync(next.Id);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        var operations = harness.Platform.Operations.OfType<ScaleOperation>().ToList();
        var retired = operations.FindIndex(o => o.Revision == 1 && o.Count == 0);
        var started = operations.FindIndex(o => o.Revision == 3 && o.Count > 0);
        retired.ShouldBeGreaterThanOrEqualTo(0);
        retired.ShouldBeLessThan(started, "the warm revision goes before the new one starts");
        harness.Store.Deployment(warm.Id).WarmEndedAt.ShouldNotBeNull();
        harness.Store.Events(next.Id).Select(e => e.Type).ShouldContain("WarmRetired");
        harness.Platform.ShouldServeOnly(3, 3, others: [1, 2]);
    }

    [Fact]
    public async Task Drift_DuringTheWarmWindow_DoesNotCountTheWarmRevision()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var deployment = await DeployOverRevisionOneAsync(harness);

        await harness.RunUntilAsync(() => harness.Store.GetObservationAsync(Web, CancellationToken.None).Result is { } seen && seen.At > deployment.FinishedAt,
            Margin, "an observation after the deployment ended");

        (await harness.Requests.DriftAsync(Web, TimeSpan.FromMinutes(1), CancellationToken.None)).ShouldBeEmpty();
        harness.Platform.DesiredCount(Web, 1).ShouldBe(3);
    }

    [Fact]
    public async Task Drift_LookTakenBeforeTheWarmWindowEnded_SaysNothingOnceItHasEnded()
    {
        await using var harness = new EngineHarness();
        var engine = await harness.StartEngineAsync();
        var deployment = await DeployOverRevisionOneAsync(harness);
        await harness.RunUntilAsync(() => harness.Store.GetObservationAsync(Web, CancellationToken.None).Result is { } seen && seen.At > deployment.FinishedAt,
            Margin, "an observation after the deployment ended");
        await engine.StopAsync();
        var look = (await harness.Store.GetObservationAsync(Web, CancellationToken.None))!;
        look.Sets.ShouldContain(s => s.Revision == 1 && s.Desired > 0, "the look shows the warm revision running");

        // The window ends (the engine retires revision 1) after that look and before the next one.
        var current = (await harness.Store.GetDeploymentAsync(deployment.Id, CancellationToken.None))!;
        await harness.Store.UpdateDeploymentAsync(current with { WarmEndedAt = look.At + TimeSpan.FromMilliseconds(1) }, CancellationToken.None);

        (await harness.Requests.DriftAsync(Web, TimeSpan.FromMinutes(1), CancellationToken.None))
            .ShouldBeEmpty("a look from before the window ended saw the warm revision running on purpose");
    }

    [Fact]
    public async Task Deploy_BlueGreenWithContinueFullBeforeTheWindow_RetiresThePreviousRevisionAsItSucceeds()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        var deployment = await harness.StartAsync(Specs.Service(Specs.BlueGreen(TimeSpan.FromSeconds(30), KeepFor), instances: 3, testListener: TestListener),
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        await harness.RunUntilAsync(() => harness.Platform.WeightsNow(Web).GetValueOrDefault(2) == 100, Margin, "all traffic on revision 2");

        await harness.Requests.ContinueAsync(deployment.Id, full: true, "ops", CancellationToken.None);
        var done = await harness.RunToEndAsync(deployment.Id, Margin);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        done.WarmUntil.ShouldBeNull("continue --full skipped the remaining waits, the warm window too");
        harness.Platform.ShouldServeOnly(2, 3, others: 1);
    }

    /// <summary>Revision 1 first, then revision 2 with blue/green, run until the blue/green deployment has finished.</summary>
    private static async Task<Deployment> DeployOverRevisionOneAsync(EngineHarness harness)
    {
        await harness.DeployAsync(Specs.Service(instances: 3), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        var deployment = await harness.StartAsync(BlueGreen, r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        return await harness.RunToEndAsync(deployment.Id, Bake + Margin);
    }
}
