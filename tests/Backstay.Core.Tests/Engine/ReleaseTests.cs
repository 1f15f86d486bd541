using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Releases;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>
/// Coordinated releases on the fake clock: three services, api first, worker and web after it. Each service's
/// deployment is an ordinary canary that the engine runs; the coordinator starts them in order and rolls them back.
/// </summary>
public sealed class ReleaseTests
{
    private static readonly TrafficProfile Good = new() { RequestsPerSecond = 60 };
    private static readonly TrafficProfile Bad = Good with { ErrorRate = 0.3 };

    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Release_AllGood_StartsInDependencyOrderAndIndependentOnesTogether()
    {
        await using var harness = new EngineHarness();
        await StartWithFirstRevisionsAsync(harness);

        var release = await FinishAsync(harness, await StartAsync(harness, ReleaseOnFailure.RollbackAll, bad: null));

        release.Phase.ShouldBe(ReleasePhase.Succeeded, release.Reason);
        var api = Deployment(harness, release, "api");
        var worker = Deployment(harness, release, "worker");
        var web = Deployment(harness, release, "web");
        worker.CreatedAt.ShouldBeGreaterThanOrEqualTo(api.FinishedAt!.Value, "worker waits for api to pass");
        web.CreatedAt.ShouldBeGreaterThanOrEqualTo(api.FinishedAt!.Value, "web waits for api to pass");
        (web.CreatedAt - worker.CreatedAt).Duration().ShouldBeLessThan(worker.FinishedAt!.Value - worker.CreatedAt, "worker and web run at the same time");
        release.Members.ShouldAllBe(m => m.State == ReleaseMemberState.Succeeded && m.FromRevision == 1 && m.ToRevision == 2);
        foreach (var service in new[] { "api", "worker", "web" })
        {
            harness.Store.Service(service)!.StableRevision.ShouldBe(2);
        }

        harness.Store.Events(release.Id).Select(e => e.Type).ShouldBe(["Started", "ServiceStarted", "ServiceStarted", "ServiceStarted", "Succeeded"]);
    }

    [Fact]
    public async Task Release_ThirdServiceBad_RollbackAll_EveryServiceBackOnItsPreviousRevisionInReverseOrder()
    {
        await using var harness = new EngineHarness();
        await StartWithFirstRevisionsAsync(harness);

        var release = await FinishAsync(harness, await StartAsync(harness, ReleaseOnFailure.RollbackAll, bad: "web"));

        release.Phase.ShouldBe(ReleasePhase.RolledBack, release.Reason);
        release.FailedService.ShouldBe("web");
        release.Reason.ShouldNotBeNull().ShouldContain("web r2 failed");
        release.Reason.ShouldContain("error rate");
        foreach (var service in new[] { "api", "worker", "web" })
        {
            harness.Store.Service(service)!.StableRevision.ShouldBe(1, service);
            harness.Platform.WeightsNow(service).GetValueOrDefault(1).ShouldBe(100, service);
            harness.Platform.DesiredCount(service, 1).ShouldBe(2, service);
            harness.Platform.DesiredCount(service, 2).ShouldBe(0, service);
        }

        // web rolled itself back; worker, deploying beside it, was rolled back by its own deployment (or, had it finished,
        // by a rollback deployment); api, which both depend on, went back last, by a rollback deployment.
        Deployment(harness, release, "web").State.ShouldBe(DeploymentState.RolledBack);
        var workerBackAt = release.Member("worker")!.RollbackDeploymentId is { } workerRollback
            ? harness.Store.Deployment(workerRollback).FinishedAt!.Value
            : Deployment(harness, release, "worker").FinishedAt!.Value;
        var apiBack = harness.Store.Deployment(release.Member("api")!.RollbackDeploymentId!);
        apiBack.State.ShouldBe(DeploymentState.Succeeded);
        apiBack.CreatedAt.ShouldBeGreaterThanOrEqualTo(workerBackAt, "api goes back only once the services that depend on it are back");
        release.Members.ShouldAllBe(m => m.State == ReleaseMemberState.RolledBack);
        release.TimeToRestoreMs.ShouldNotBeNull().ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task Release_FirstServiceBad_ServicesNotStartedAreNotTouched()
    {
        await using var harness = new EngineHarness();
        await StartWithFirstRevisionsAsync(harness);

        var release = await FinishAsync(harness, await StartAsync(harness, ReleaseOnFailure.RollbackAll, bad: "api"));

        release.Phase.ShouldBe(ReleasePhase.RolledBack, release.Reason);
        release.Member("worker")!.State.ShouldBe(ReleaseMemberState.Skipped);
        release.Member("web")!.State.ShouldBe(ReleaseMemberState.Skipped);
        harness.Store.AllDeployments.Where(d => d.Service is "worker" or "web").ShouldAllBe(d => d.TargetRevision == 1, "no deployment of worker or web was started");
        harness.Store.Service("worker")!.StableRevision.ShouldBe(1);
    }

    [Fact]
    public async Task Release_RollbackFailed_OnlyTheFailedServiceGoesBack()
    {
        await using var harness = new EngineHarness();
        await StartWithFirstRevisionsAsync(harness);

        var release = await FinishAsync(harness, await StartAsync(harness, ReleaseOnFailure.RollbackFailed, bad: "web"));

        release.Phase.ShouldBe(ReleasePhase.RolledBack, release.Reason);
        harness.Store.Service("web")!.StableRevision.ShouldBe(1);
        harness.Store.Service("api")!.StableRevision.ShouldBe(2);
        harness.Store.Service("worker")!.StableRevision.ShouldBe(2);
        release.Member("api")!.RollbackDeploymentId.ShouldBeNull();
    }

    [Fact]
    public async Task Release_PauseOnFailure_HoldsUntilRollbackThenPutsEveryServiceBack()
    {
        await using var harness = new EngineHarness();
        await StartWithFirstRevisionsAsync(harness);
        var started = await StartAsync(harness, ReleaseOnFailure.Pause, bad: "web");

        await harness.RunUntilAsync(() => Read(harness, started).Phase == ReleasePhase.Paused
            && Read(harness, started).Members.All(m => m.State is not (ReleaseMemberState.Deploying or ReleaseMemberState.Waiting)), Limit, "release paused");
        await harness.AdvanceAsync(TimeSpan.FromSeconds(10));
        Read(harness, started).Phase.ShouldBe(ReleasePhase.Paused, "a paused release waits for a person");
        harness.Store.Service("api")!.StableRevision.ShouldBe(2);

        await Releases(harness).RollbackAsync(started.Id, "alice", CancellationToken.None);
        var release = await FinishAsync(harness, started);

        release.Phase.ShouldBe(ReleasePhase.RolledBack, release.Reason);
        foreach (var service in new[] { "api", "worker", "web" })
        {
            harness.Store.Service(service)!.StableRevision.ShouldBe(1, service);
        }
    }

    [Fact]
    public async Task Release_PauseOnFailureThenContinue_GoesOnWithoutTheFailedServiceAndEndsRolledBack()
    {
        await using var harness = new EngineHarness();
        await StartWithFirstRevisionsAsync(harness);
        var started = await StartAsync(harness, ReleaseOnFailure.Pause, bad: "api");
        await harness.RunUntilAsync(() => Read(harness, started).Phase == ReleasePhase.Paused, Limit, "release paused");

        var continued = await Releases(harness).ContinueAsync(started.Id, "alice", CancellationToken.None);
        continued.Phase.ShouldBe(ReleasePhase.InProgress);
        var release = await FinishAsync(harness, started);

        // worker and web depend on api, which failed: they never start; api is back on r1 by its own rollback.
        release.Phase.ShouldBe(ReleasePhase.RolledBack, release.Reason);
        release.Member("worker")!.State.ShouldBe(ReleaseMemberState.Skipped);
        release.Member("web")!.State.ShouldBe(ReleaseMemberState.Skipped);
        harness.Store.Service("api")!.StableRevision.ShouldBe(1);
        harness.Store.Events(release.Id).Select(e => e.Type).ShouldContain("Continued");
    }

    [Fact]
    public async Task Release_AServicePausesAtAPauseStep_TheReleaseWaitsForAPersonAndContinueAnswersIt()
    {
        await using var harness = new EngineHarness();
        await StartWithFirstRevisionsAsync(harness);
        foreach (var service in new[] { "api", "worker", "web" })
        {
            harness.Platform.SetTraffic(service, 2, Good);
        }

        var request = Request(ReleaseOnFailure.RollbackAll, bad: null) with
        {
            Services =
            [
                Service("api", []) with { Spec = Spec("api") with { Strategy = Specs.Canary(Specs.Weight(20), Specs.Pause(), Specs.Weight(100)) } },
                Service("worker", ["api"]),
                Service("web", ["api"]),
            ],
        };
        var started = await Releases(harness).StartAsync(request, "ci", NoChecks, CancellationToken.None);
        await harness.RunUntilAsync(() => Read(harness, started).WaitsForPerson, Limit, "release waiting for a person");
        Read(harness, started).Member("api")!.State.ShouldBe(ReleaseMemberState.Paused);
        Read(harness, started).Member("worker")!.State.ShouldBe(ReleaseMemberState.Waiting, "worker waits for api to pass");

        await Releases(harness).ContinueAsync(started.Id, "alice", CancellationToken.None);
        var release = await FinishAsync(harness, started);

        release.Phase.ShouldBe(ReleasePhase.Succeeded, release.Reason);
        release.Members.ShouldAllBe(m => m.State == ReleaseMemberState.Succeeded);
    }

    [Fact]
    public async Task Rollback_AfterTheReleaseSucceeded_PutsEveryServiceBack()
    {
        await using var harness = new EngineHarness();
        await StartWithFirstRevisionsAsync(harness);
        var succeeded = await FinishAsync(harness, await StartAsync(harness, ReleaseOnFailure.RollbackAll, bad: null));
        succeeded.Phase.ShouldBe(ReleasePhase.Succeeded);

        await Releases(harness).RollbackAsync(succeeded.Id, "alice", CancellationToken.None);
        var release = await FinishAsync(harness, succeeded);

        release.Phase.ShouldBe(ReleasePhase.RolledBack, release.Reason);
        release.Reason.ShouldNotBeNull().ShouldContain("requested by alice");
        foreach (var service in new[] { "api", "worker", "web" })
        {
            harness.Store.Service(service)!.StableRevision.ShouldBe(1, service);
        }

        var again = await Should.ThrowAsync<InvalidRequestException>(() => Releases(harness).RollbackAsync(succeeded.Id, "alice", CancellationToken.None));
        again.Message.ShouldContain("back on its previous revision already");
    }

    [Fact]
    public async Task Release_EngineKilledWhileAServiceDeploys_NextEngineCarriesItOnWithOneDeploymentPerService()
    {
        await using var harness = new EngineHarness();
        var first = await StartWithFirstRevisionsAsync(harness);
        var started = await StartAsync(harness, ReleaseOnFailure.RollbackAll, bad: "web");
        await harness.RunUntilAsync(() => Read(harness, started).Member("worker")!.State == ReleaseMemberState.Deploying, Limit, "worker deploying");

        // The engine dies mid-release; a new one takes over once its leases run out.
        first.Kill();
        await harness.StartEngineAsync("engine-b");
        var release = await FinishAsync(harness, started);

        release.Phase.ShouldBe(ReleasePhase.RolledBack, release.Reason);
        harness.Store.AllDeployments.Count(d => d.Kind == DeploymentKind.Deploy && d.TargetRevision == 2).ShouldBe(3, "one deployment per service");
        foreach (var service in new[] { "api", "worker", "web" })
        {
            harness.Store.Service(service)!.StableRevision.ShouldBe(1, service);
        }
    }

    [Fact]
    public async Task Start_DependencyCycle_RefusedWithNothingRecorded()
    {
        await using var harness = new EngineHarness();
        await StartWithFirstRevisionsAsync(harness);
        var request = Request(ReleaseOnFailure.RollbackAll, bad: null) with
        {
            Services = [Service("api", dependsOn: ["web"]), Service("worker", dependsOn: ["api"]), Service("web", dependsOn: ["worker"])],
        };

        var error = await Should.ThrowAsync<InvalidRequestException>(() => Releases(harness).StartAsync(request, "ci", NoChecks, CancellationToken.None));

        error.Message.ShouldContain("dependency cycle: api -> web -> worker -> api");
        (await harness.Store.ListReleasesAsync(10, CancellationToken.None)).ShouldBeEmpty();
        harness.Store.Revisions("api").Count.ShouldBe(1, "no revision was recorded");
    }

    [Fact]
    public async Task Start_ServiceInAnotherReleaseInProgress_Refused()
    {
        await using var harness = new EngineHarness();
        await StartWithFirstRevisionsAsync(harness);
        var first = await Releases(harness).StartAsync(Request(ReleaseOnFailure.RollbackAll, bad: null), "ci", NoChecks, CancellationToken.None);
        var other = new ReleaseRequest { Release = "other", Services = [Service("web", dependsOn: [])] };

        var error = await Should.ThrowAsync<InvalidRequestException>(() => Releases(harness).StartAsync(other, "ci", NoChecks, CancellationToken.None));

        error.Message.ShouldContain($"Service 'web' is in release checkout ({first.Id})");
    }

    [Fact]
    public async Task Stop_WhileAServiceDeploys_NothingMoreStartsAndTheReleaseEndsStopped()
    {
        await using var harness = new EngineHarness();
        await StartWithFirstRevisionsAsync(harness);
        var started = await StartAsync(harness, ReleaseOnFailure.RollbackAll, bad: null);
        await harness.RunUntilAsync(() => Read(harness, started).Member("api")!.State == ReleaseMemberState.Deploying, Limit, "api deploying");

        await Releases(harness).StopAsync(started.Id, "alice", CancellationToken.None);
        var release = await FinishAsync(harness, started);

        release.Phase.ShouldBe(ReleasePhase.Stopped, release.Reason);
        release.Member("worker")!.State.ShouldBe(ReleaseMemberState.Skipped);
        harness.Store.AllDeployments.Where(d => d.Service == "worker").ShouldAllBe(d => d.TargetRevision == 1);
    }

    private static readonly Func<ReleaseServiceRequest, CancellationToken, Task> NoChecks = (_, _) => Task.CompletedTask;

    private static ReleaseRequests Releases(EngineHarness harness) => new(harness.Store, harness.Time, harness.Requests);

    private static ServiceSpec Spec(string service) =>
        Specs.Service(Specs.Canary(Specs.Weight(20), Specs.PauseMs(500), Specs.Weight(60), Specs.PauseMs(500)), instances: 2) with { Service = service };

    private static ReleaseServiceRequest Service(string service, IReadOnlyList<string> dependsOn) =>
        new() { Spec = Spec(service), DependsOn = dependsOn, Env = new Dictionary<string, string> { ["RELEASE"] = "2" } };

    private static ReleaseRequest Request(ReleaseOnFailure onFailure, string? bad) => new()
    {
        Release = "checkout",
        OnFailure = onFailure,
        Services = [Service("api", []), Service("worker", ["api"]), Service("web", ["api"])],
    };

    /// <summary>Revision 1 of each service deployed and stable, with an engine running; revision 2 will serve the given traffic.</summary>
    private static async Task<RunningEngine> StartWithFirstRevisionsAsync(EngineHarness harness)
    {
        var engine = await harness.StartEngineAsync();
        foreach (var service in new[] { "api", "worker", "web" })
        {
            var deployment = await harness.DeployAsync(Spec(service), r => harness.Platform.SetTraffic(service, r, Good));
            deployment.State.ShouldBe(DeploymentState.Succeeded, deployment.Reason);
        }

        return engine;
    }

    private static async Task<Release> StartAsync(EngineHarness harness, ReleaseOnFailure onFailure, string? bad)
    {
        foreach (var service in new[] { "api", "worker", "web" })
        {
            harness.Platform.SetTraffic(service, 2, service == bad ? Bad : Good);
        }

        return await Releases(harness).StartAsync(Request(onFailure, bad), "ci", NoChecks, CancellationToken.None);
    }

    private static Release Read(EngineHarness harness, Release release) =>
        harness.Store.GetReleaseAsync(release.Id, CancellationToken.None).Result!;

    private static async Task<Release> FinishAsync(EngineHarness harness, Release release)
    {
        await harness.RunUntilAsync(() => Read(harness, release).IsFinished && harness.Store.AllDeployments.All(d => d.IsFinished), Limit, $"release {release.Id} finishing");
        return Read(harness, release);
    }

    private static Deployment Deployment(EngineHarness harness, Release release, string service) =>
        harness.Store.Deployment(release.Member(service)!.DeploymentId!);
}
