using System.Diagnostics;
using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

public sealed class DeploymentsTests
{
    private const string Web = EngineHarness.ServiceName;

    private static readonly TimeSpan Timeout = EngineHarness.RealTimeout;

    [Fact]
    public async Task ContinueAsync_PausedCanary_ContinuesAndSucceeds()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartPausedCanaryAsync(harness);

        await harness.AdvanceAsync(TimeSpan.FromSeconds(5));
        harness.Store.Deployment(deployment.Id).State.ShouldBe(DeploymentState.Paused, "a pause without duration waits for a person");
        await harness.Requests.ContinueAsync(deployment.Id, full: false, "alice", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        harness.Platform.ShouldServeOnly(2, 3, others: 1);
        var types = harness.Store.Events(deployment.Id).Select(e => e.Type).ToList();
        types.IndexOf("Paused").ShouldBeLessThan(types.IndexOf("ContinueRequested"));
        harness.Store.Events(deployment.Id).ShouldContain(e => e.Message == "continue requested by alice");
    }

    [Fact]
    public async Task ContinueAsync_FullOnPlanWithTwoPauses_SkipsTheSecondPause()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(), Specs.Weight(50), Specs.Pause())),
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(5), "paused");

        await harness.Requests.ContinueAsync(deployment.Id, full: true, "alice", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(5));

        done.State.ShouldBe(DeploymentState.Succeeded);
    }

    [Fact]
    public async Task RollbackAsync_WhilePaused_RolledBackWithManualTrigger()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartPausedCanaryAsync(harness);

        var followed = await harness.Requests.RollbackAsync(Web, toRevision: null, "bob", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(deployment.Id);

        followed.Id.ShouldBe(deployment.Id);
        done.State.ShouldBe(DeploymentState.RolledBack);
        done.Reason.ShouldBe("rollback requested by bob");
        var rollback = harness.RollbackOf(deployment.Id).ShouldNotBeNull();
        rollback.Trigger.ShouldBe(Trigger.ManualRollback);
        rollback.State.ShouldBe(DeploymentState.Succeeded);
        harness.Platform.ProductionWeightChanges()[^1].WeightOf(1).ShouldBe(100);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RollbackAsync_WhilePaused_RollbackRecordsWhoAskedForIt()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartPausedCanaryAsync(harness);

        await harness.Requests.RollbackAsync(Web, toRevision: null, "bob", CancellationToken.None).WaitAsync(Timeout);
        await harness.RunToEndAsync(deployment.Id);

        // The command says bob; the rollback deployment records "user".
        harness.RollbackOf(deployment.Id).ShouldNotBeNull().RequestedBy.ShouldBe("bob");
    }

    [Fact]
    public async Task RollbackAsync_ToAnEarlierRevision_IsRecordedWithItsWholePlanBeforeAnythingRuns()
    {
        await using var harness = new EngineHarness();
        var engine = await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        await harness.DeployAsync(Specs.Service(), r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        await engine.StopAsync();

        var rollback = await harness.Requests.RollbackAsync(Web, toRevision: 1, "bob", CancellationToken.None).WaitAsync(Timeout);

        var recorded = harness.Store.Deployment(rollback.Id);
        recorded.State.ShouldBe(DeploymentState.Pending);
        var plan = DeploymentPlan.FromJson(recorded.PlanJson);
        plan.Actions.ShouldNotBeEmpty("the plan is made when the rollback is recorded, not filled in by the runner later");
        recorded.TotalSteps.ShouldBe(plan.Actions.Count);
        plan.Actions.OfType<WeightAction>().ShouldContain(a => a.TargetWeight == 100);
    }

    [Fact]
    public async Task RollbackAsync_ToOtherRevisionWhileOneIsActive_Refused()
    {
        await using var harness = new EngineHarness();
        var deployment = await StartPausedCanaryAsync(harness);

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.RollbackAsync(Web, toRevision: 2, "bob", CancellationToken.None).WaitAsync(Timeout));

        refused.Message.ShouldContain(deployment.Id);
        refused.Message.ShouldContain("stable revision 1");
    }

    [Fact]
    public async Task ContinueAsync_DeploymentNotPaused_InvalidRequestNamingTheState()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        var deployment = await harness.DeployAsync(Specs.Service());

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.ContinueAsync(deployment.Id, full: false, "alice", CancellationToken.None).WaitAsync(Timeout));

        refused.Message.ShouldBe($"Deployment {deployment.Id} is Succeeded, not Paused; there is nothing to continue.");
    }

    [Fact]
    public async Task ContinueAsync_UnknownDeployment_InvalidRequestNamingIt()
    {
        await using var harness = new EngineHarness();

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.ContinueAsync("d-NOPE", full: false, "alice", CancellationToken.None).WaitAsync(Timeout));

        refused.Message.ShouldContain("'d-NOPE'");
    }

    [Fact]
    public async Task RollbackAsync_AfterSuccessToEarlierRevision_RollbackDeploymentMakesItStable()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 3));
        var second = await harness.DeployAsync(Specs.Service(Specs.Rolling(), instances: 3));
        second.State.ShouldBe(DeploymentState.Succeeded);

        var rollback = await harness.Requests.RollbackAsync(Web, toRevision: 1, "carol", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(rollback.Id);

        rollback.Id.ShouldNotBe(second.Id);
        done.Kind.ShouldBe(DeploymentKind.Rollback);
        done.Trigger.ShouldBe(Trigger.ManualRollback);
        done.RequestedBy.ShouldBe("carol");
        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        done.TargetRevision.ShouldBe(1);
        done.StableRevision.ShouldBe(2);
        done.RollbackOf.ShouldBe(second.Id);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(1);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
        harness.Store.ShouldHaveCompletedEveryStep(done);
        harness.Store.Deployment(second.Id).State.ShouldBe(DeploymentState.Succeeded, "a finished deployment keeps its outcome");
    }

    [Fact]
    public async Task RollbackAsync_AfterSuccessWithoutRevision_GoesToThePreviousStable()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        await harness.DeployAsync(Specs.Service(Specs.Rolling()));

        var rollback = await harness.Requests.RollbackAsync(Web, toRevision: null, "carol", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(rollback.Id);

        done.TargetRevision.ShouldBe(1);
        done.State.ShouldBe(DeploymentState.Succeeded);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RollbackAsync_UnknownRevision_InvalidRequestListingTheRevisions()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        await harness.DeployAsync(Specs.Service(Specs.Rolling()));

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.RollbackAsync(Web, toRevision: 9, "carol", CancellationToken.None).WaitAsync(Timeout));

        refused.Message.ShouldBe("Service 'web' has no revision 9; it has 1, 2.");
        harness.Store.AllDeployments.Count.ShouldBe(2);
    }

    [Fact]
    public async Task RollbackAsync_RemovedRevision_InvalidRequestSayingRetentionRemovedIt()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        await harness.DeployAsync(Specs.Service(Specs.Rolling()));
        await harness.Store.MarkRevisionRemovedAsync(Web, 1, CancellationToken.None).WaitAsync(Timeout);

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.RollbackAsync(Web, toRevision: 1, "carol", CancellationToken.None).WaitAsync(Timeout));

        refused.Message.ShouldContain("Revision 1 of 'web' was removed by retention");
        refused.Message.ShouldContain("backstay revisions web");
    }

    [Fact]
    public async Task RollbackAsync_UnknownService_InvalidRequestNamingIt()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.RollbackAsync("shop", toRevision: null, "carol", CancellationToken.None).WaitAsync(Timeout));

        refused.Message.ShouldBe("Unknown service 'shop'. Known services: web.");
    }

    [Fact]
    public async Task RollbackAsync_ToTheStableRevision_InvalidRequest()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        await harness.DeployAsync(Specs.Service(Specs.Rolling()));

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.RollbackAsync(Web, toRevision: 2, "carol", CancellationToken.None).WaitAsync(Timeout));

        refused.Message.ShouldBe("Revision 2 is already the stable revision of 'web'.");
    }

    [Fact]
    public async Task StartAsync_SecondWhileOneIsActive_ConflictNamingTheActiveDeploymentAndStoreUnchanged()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        var active = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(10), Specs.Pause())));
        var revision = await harness.Store.GetRevisionAsync(Web, 2, CancellationToken.None).WaitAsync(Timeout);
        var before = harness.Store.AllDeployments;

        var conflict = await Should.ThrowAsync<DeploymentConflictException>(
            harness.Requests.StartAsync(Specs.Service(), revision!, Trigger.User, "dave", CancellationToken.None).WaitAsync(Timeout));

        conflict.ActiveDeploymentId.ShouldBe(active.Id);
        conflict.Service.ShouldBe(Web);
        conflict.Message.ShouldContain(active.Id);
        harness.Store.AllDeployments.ShouldBe(before);
    }

    [Fact]
    public async Task CreateRevisionAsync_WhileOneIsActive_Conflict()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        var active = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(10), Specs.Pause())));

        var conflict = await Should.ThrowAsync<DeploymentConflictException>(
            harness.Requests.CreateRevisionAsync(Specs.Service(), null, null, new Provenance(), CancellationToken.None).WaitAsync(Timeout));

        conflict.ActiveDeploymentId.ShouldBe(active.Id);
        harness.Store.Revisions(Web).Count.ShouldBe(2);
    }

    [Fact]
    public async Task CreateRevisionAsync_EnvOverrides_MergedOverTheSpec()
    {
        await using var harness = new EngineHarness();
        var spec = Specs.Service() with
        {
            Task = Specs.Service().Task with { Env = new Dictionary<string, string> { ["A"] = "1", ["B"] = "2" } },
        };

        var revision = await harness.Requests.CreateRevisionAsync(spec, "hello:v2", new Dictionary<string, string> { ["B"] = "3" },
            new Provenance { Commit = "abc" }, CancellationToken.None).WaitAsync(Timeout);

        revision.Number.ShouldBe(1);
        revision.Image.ShouldBe("hello:v2");
        revision.Env.ShouldBe(new Dictionary<string, string> { ["A"] = "1", ["B"] = "3" }, ignoreOrder: true);
        revision.Provenance.Commit.ShouldBe("abc");
    }

    [Fact]
    public async Task StartAsync_FirstDeploymentFinishedByTheEngineBeforeTheRequestReturns_StableRevisionRecorded()
    {
        await using var harness = new EngineHarness();
        var engine = harness.CreateEngine("engine-a");
        harness.Store.OnDeploymentCreated = d => RunToEndInline(harness, engine, d.Id);

        var deployment = await harness.StartAsync(Specs.Service());

        harness.Store.Deployment(deployment.Id).State.ShouldBe(DeploymentState.Succeeded);
        harness.Store.Service(Web).ShouldNotBeNull().StableRevision.ShouldBe(1, "the revision the engine made stable");
    }

    [Fact]
    public async Task StartAsync_DeploymentFinishedByTheEngineBeforeTheRequestReturns_StableRevisionNotOverwritten()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        var engine = harness.CreateEngine("engine-b");
        harness.Store.OnDeploymentCreated = d => RunToEndInline(harness, engine, d.Id);

        var deployment = await harness.StartAsync(Specs.Service(Specs.Rolling()));

        harness.Store.Deployment(deployment.Id).State.ShouldBe(DeploymentState.Succeeded);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(2, "StartAsync wrote back the stable revision it had read before the deployment ran");
    }

    /// <summary>Revision 1 stable on 3 instances; revision 2 a canary at 20% paused until continued.</summary>
    private static async Task<Deployment> StartPausedCanaryAsync(EngineHarness harness)
    {
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service());
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause())),
            r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(5), "paused");
        return deployment;
    }

    /// <summary>
    /// Runs an engine pass from inside the store's create call and waits (bounded) for the deployment to finish: a
    /// deployment that needs no waiting finishes before the request that created it has returned, as a fast engine can.
    /// </summary>
    private static void RunToEndInline(EngineHarness harness, DeploymentEngine engine, string deploymentId)
    {
        harness.Store.OnDeploymentCreated = null;
        var pass = engine.PassAsync(CancellationToken.None);
        var clock = Stopwatch.StartNew();
        SpinWait.SpinUntil(() => pass.IsCompleted && harness.Store.Deployment(deploymentId).IsFinished && engine.RunningServices.Count == 0, Timeout)
            .ShouldBeTrue($"deployment {deploymentId} did not finish within {clock.Elapsed}");
    }
}
