using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>Drift found before a deployment acts, and reset (adopt or recreate) re-syncing the record with the platform.</summary>
public sealed class ResetTests
{
    private const string Web = EngineHarness.ServiceName;

    private static readonly TimeSpan Timeout = EngineHarness.RealTimeout;

    [Fact]
    public async Task RunAsync_StableScaledToZeroByHand_NextDeploymentStoppedBeforeActingNamingItAndReset()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        await ScaleByHandAsync(harness, 1, 0);
        var operations = harness.Platform.Operations.Count;

        var done = await harness.DeployAsync(Specs.Service(Specs.Canary(Specs.Weight(20))), Healthy(harness));

        done.State.ShouldBe(DeploymentState.Stopped, done.Reason);
        var reason = done.Reason.ShouldNotBeNull();
        reason.ShouldContain("revision 1 (stable) has no running instance; the record says 3");
        reason.ShouldContain("backstay reset web --adopt");
        reason.ShouldContain("backstay reset web --recreate");
        harness.Platform.Operations.Skip(operations).ShouldBeEmpty("a deployment that finds drift acts on nothing");
        harness.Store.Service(Web)!.StableRevision.ShouldBe(1);
    }

    [Fact]
    public async Task RunAsync_WeightsMovedByHandAfterSuccess_NextDeploymentStoppedNamingTheSplit()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        (await harness.DeployAsync(Specs.Service(Specs.Rolling()), Healthy(harness))).State.ShouldBe(DeploymentState.Succeeded);
        await ScaleByHandAsync(harness, 1, 3);
        harness.Platform.MoveWeightsByHand(Web, new Dictionary<int, int> { [1] = 50, [2] = 50 });
        var operations = harness.Platform.Operations.Count;

        var done = await harness.DeployAsync(Specs.Service(Specs.Canary(Specs.Weight(20))), Healthy(harness));

        done.State.ShouldBe(DeploymentState.Stopped, done.Reason);
        var reason = done.Reason.ShouldNotBeNull();
        reason.ShouldContain("production traffic goes to revision 1 50%, revision 2 50%; the record says revision 2 100%");
        reason.ShouldContain("revision 1 is set to run 3 instance(s)");
        reason.ShouldContain("reset");
        harness.Platform.Operations.Skip(operations).ShouldBeEmpty();
        harness.Platform.WeightsNow(Web).ShouldBe(new Dictionary<int, int> { [1] = 50, [2] = 50 }, ignoreOrder: true);
    }

    [Fact]
    public async Task ResetAsync_AdoptAfterStableScaledByHand_TakesTheServingRevisionWithItsRunningCountAndNextDeploymentProceeds()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        await ScaleByHandAsync(harness, 1, 5);
        var refused = await harness.DeployAsync(Specs.Service(Specs.Canary(Specs.Weight(20))), Healthy(harness));
        refused.State.ShouldBe(DeploymentState.Stopped);
        refused.Reason.ShouldNotBeNull().ShouldContain("revision 1 (stable) is set to 5 instances; the record says 3");

        var reset = await harness.Requests.ResetAsync(Web, ResetMode.Adopt, "dave", CancellationToken.None).WaitAsync(Timeout);
        var adopted = await harness.RunToEndAsync(reset.Id);

        adopted.State.ShouldBe(DeploymentState.Succeeded, adopted.Reason);
        adopted.Kind.ShouldBe(DeploymentKind.Reset);
        adopted.Trigger.ShouldBe(Trigger.Reset);
        adopted.TargetRevision.ShouldBe(1);
        harness.Store.Events(reset.Id).ShouldContain(e => e.Message.Contains("adopted revision 1 with 5 instance(s)"));
        var record = harness.Store.Service(Web).ShouldNotBeNull();
        record.StableRevision.ShouldBe(1);
        record.DesiredCount.ShouldBe(5);

        var next = await harness.DeployAsync(Specs.Service(Specs.Canary(Specs.Weight(20))), Healthy(harness));
        next.State.ShouldBe(DeploymentState.Succeeded, next.Reason);
        harness.Platform.ShouldServeOnly(next.TargetRevision, 3, others: 1);
    }

    [Fact]
    public async Task ResetAsync_AdoptWithTrafficSplit_FailsSayingItCannotChooseAndChangesNothing()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        await StopCanaryAtAsync(harness, 20);
        var operations = harness.Platform.Operations.Count;

        var reset = await harness.Requests.ResetAsync(Web, ResetMode.Adopt, "dave", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(reset.Id);

        done.State.ShouldBe(DeploymentState.Failed);
        var reason = done.Reason.ShouldNotBeNull();
        reason.ShouldContain("production traffic is split (revision 1 80%, revision 2 20%)");
        reason.ShouldContain("backstay reset web --recreate");
        harness.Platform.Operations.Skip(operations).ShouldBeEmpty();
        harness.Store.Service(Web)!.StableRevision.ShouldBe(1);
    }

    [Fact]
    public async Task ResetAsync_RecreateAfterStoppedCanary_LastGoodRevisionAtItsCountWithAllTrafficAndLeftoversScaledToZero()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        await StopCanaryAtAsync(harness, 20);

        var reset = await harness.Requests.ResetAsync(Web, ResetMode.Recreate, "dave", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(reset.Id);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        done.Kind.ShouldBe(DeploymentKind.Reset);
        done.Trigger.ShouldBe(Trigger.Reset);
        done.RequestedBy.ShouldBe("dave");
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(1);

        var next = await harness.DeployAsync(Specs.Service(Specs.Canary(Specs.Weight(20))), Healthy(harness));
        next.State.ShouldBe(DeploymentState.Succeeded, next.Reason);
        harness.Platform.ShouldServeOnly(3, 3, others: [1, 2]);
    }

    [Fact]
    public async Task ResetAsync_RecreateAfterStableScaledToZeroByHand_BringsItBackHealthyAndNextDeploymentProceeds()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        await ScaleByHandAsync(harness, 1, 0);
        (await harness.DeployAsync(Specs.Service(Specs.Canary(Specs.Weight(20))), Healthy(harness))).State.ShouldBe(DeploymentState.Stopped);

        var reset = await harness.Requests.ResetAsync(Web, ResetMode.Recreate, "dave", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(reset.Id);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        harness.Platform.ShouldServeOnly(1, 3);
        harness.Store.Events(reset.Id).ShouldContain(e => e.Type == "InstancesHealthy" && e.Message.Contains("3/3 instances of revision 1"));
        var next = await harness.DeployAsync(Specs.Service(Specs.Canary(Specs.Weight(20))), Healthy(harness));
        next.State.ShouldBe(DeploymentState.Succeeded, next.Reason);
        harness.Platform.ShouldServeOnly(3, 3, others: 1);
    }

    [Fact]
    public async Task RunAsync_LaterDeploymentAfterACanaryStoppedBeforeTraffic_SucceedsAndScalesTheCanaryToZero()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        await StopCanaryAtAsync(harness, 0);
        harness.Platform.DesiredCount(Web, 2).ShouldBe(3, "a stop leaves the canary's instances as they are");

        var next = await harness.DeployAsync(Specs.Service(Specs.Canary(Specs.Weight(20))), Healthy(harness));

        // The stopped deployment on record accounts for revision 2's instances: no one changed anything by hand.
        next.State.ShouldBe(DeploymentState.Succeeded, next.Reason);
        harness.Platform.ShouldServeOnly(3, 3, others: [1, 2]);
    }

    [Fact]
    public async Task ResetAsync_AdoptAfterAllWeightsSetToZeroByHand_RefusesChangingNothingAndKeepsTheStableRevision()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        harness.Platform.MoveWeightsByHand(Web, new Dictionary<int, int> { [1] = 0 });
        var operations = harness.Platform.Operations.Count;

        var reset = await harness.Requests.ResetAsync(Web, ResetMode.Adopt, "dave", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(reset.Id);

        done.State.ShouldBe(DeploymentState.Failed, done.Reason);
        var reason = done.Reason.ShouldNotBeNull();
        reason.ShouldContain("nothing serves production traffic");
        reason.ShouldContain("changed nothing");
        reason.ShouldContain("backstay reset web --recreate");
        harness.Platform.Operations.Skip(operations).ShouldBeEmpty("a refused adopt stops no instance and moves no traffic");
        harness.Platform.DesiredCount(Web, 1).ShouldBe(3);
        var record = harness.Store.Service(Web).ShouldNotBeNull();
        record.StableRevision.ShouldBe(1, "the last good revision stays on record");
        record.DesiredCount.ShouldBe(3);

        var recreate = await harness.Requests.ResetAsync(Web, ResetMode.Recreate, "dave", CancellationToken.None).WaitAsync(Timeout);
        (await harness.RunToEndAsync(recreate.Id)).State.ShouldBe(DeploymentState.Succeeded);
        harness.Platform.ShouldServeOnly(1, 3);
    }

    [Fact]
    public async Task ResetAsync_RecreateWhoseInstancesNeverBecomeHealthy_FailsKeepingTheLastGoodRevisionAndSaysWhatToDo()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        await ScaleByHandAsync(harness, 1, 0);
        harness.Platform.SetBehavior(Web, 1, InstanceBehavior.Never());

        var reset = await harness.Requests.ResetAsync(Web, ResetMode.Recreate, "dave", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(reset.Id, TimeSpan.FromMinutes(5));

        done.State.ShouldBe(DeploymentState.Failed, done.Reason);
        var reason = done.Reason.ShouldNotBeNull();
        reason.ShouldContain("became healthy");
        reason.ShouldContain("backstay reset web --recreate");
        harness.Platform.Operations.OfType<ScaleOperation>().Where(o => o.Revision == 1).Last().Count.ShouldBe(3, "a reset never scales the last good revision down");
        harness.Platform.DesiredCount(Web, 1).ShouldBe(3);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(1);
        harness.Store.Events(reset.Id).ShouldNotContain(e => e.Message.Contains("no earlier revision"));
    }

    [Fact]
    public async Task ResetAsync_RecreateWhoseWeightsDoNotTakeEffect_FailsNamingWhatProductionServes()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        harness.Platform.MoveWeightsByHand(Web, new Dictionary<int, int> { [1] = 0 });

        // The load balancer keeps what the person set, whatever Backstay sends (a stale cache, a listener changed back).
        harness.Platform.OnOperation = operation =>
        {
            if (operation is WeightOperation { Listener: Listener.Production })
            {
                harness.Platform.MoveWeightsByHand(Web, new Dictionary<int, int> { [1] = 0 });
            }
        };
        var reset = await harness.Requests.ResetAsync(Web, ResetMode.Recreate, "dave", CancellationToken.None).WaitAsync(Timeout);
        var done = await harness.RunToEndAsync(reset.Id);

        done.State.ShouldBe(DeploymentState.Failed, "a reset is judged by what production serves, not by the calls it made");
        var reason = done.Reason.ShouldNotBeNull();
        reason.ShouldContain("production traffic goes to revision 1 0%");
        reason.ShouldContain("backstay reset web --recreate");
        harness.Platform.DesiredCount(Web, 1).ShouldBe(3);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(1);
    }

    [Theory]
    [InlineData(ResetMode.Recreate, 0)]
    [InlineData(ResetMode.Recreate, 1)]
    [InlineData(ResetMode.Recreate, 2)]
    [InlineData(ResetMode.Adopt, 0)]
    public async Task ResetAsync_ProcessDiesWhenAStepOfTheResetIsJournaled_NextOwnerResumesItToServing(ResetMode mode, int step)
    {
        await using var harness = new EngineHarness();
        var first = await harness.StartEngineAsync("engine-a");
        // With a test listener a recreate has three steps: scale, production traffic, test traffic.
        (await harness.DeployAsync(Specs.Service(testListener: "127.0.0.1:8081"), Healthy(harness))).State.ShouldBe(DeploymentState.Succeeded);
        if (mode == ResetMode.Recreate)
        {
            harness.Platform.MoveWeightsByHand(Web, new Dictionary<int, int> { [1] = 0 });
        }
        else
        {
            await ScaleByHandAsync(harness, 1, 5);
        }

        var reset = await harness.Requests.ResetAsync(Web, mode, "dave", CancellationToken.None).WaitAsync(Timeout);
        harness.Store.OnJournalAppended = e =>
        {
            if (e.DeploymentId == reset.Id && e.Step == step && e.Phase == StepPhase.Started)
            {
                harness.Store.OnJournalAppended = null;
                first.Kill();
            }
        };

        await harness.RunUntilAsync(() => first.Loop.IsCompleted, TimeSpan.FromSeconds(30), $"engine A dying at step {step} of the reset");
        await first.Loop.WaitAsync(Timeout);
        harness.Store.Deployment(reset.Id).IsActive.ShouldBeTrue();

        await harness.StartEngineAsync("engine-b");
        var done = await harness.RunToEndAsync(reset.Id, TimeSpan.FromSeconds(30));

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        done.Kind.ShouldBe(DeploymentKind.Reset);
        harness.Store.ShouldHaveCompletedEveryStep(done);
        harness.Store.Events(reset.Id).ShouldContain(e => e.Type == "Resumed");
        harness.Platform.ShouldServeOnly(1, mode == ResetMode.Recreate ? 3 : 5);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(1);
    }

    [Fact]
    public async Task ResetAsync_RecreateWhenTheRecordedStableRevisionIsNotInTheStore_InvalidRequestAndNothingRecorded()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        var record = harness.Store.Service(Web)!;
        await harness.Store.UpsertServiceAsync(record with { StableRevision = 9 }, CancellationToken.None).WaitAsync(Timeout);
        var deployments = harness.Store.AllDeployments.Count;

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.ResetAsync(Web, ResetMode.Recreate, "dave", CancellationToken.None).WaitAsync(Timeout));

        refused.Message.ShouldContain("revision 9");
        refused.Message.ShouldContain("nothing was changed");
        harness.Store.AllDeployments.Count.ShouldBe(deployments);
    }

    [Fact]
    public async Task ResetAsync_UnknownService_InvalidRequestNamingItAndNothingRecorded()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        var deployments = harness.Store.AllDeployments.Count;

        var refused = await Should.ThrowAsync<InvalidRequestException>(
            harness.Requests.ResetAsync("shop", ResetMode.Recreate, "dave", CancellationToken.None).WaitAsync(Timeout));

        refused.Message.ShouldContain("'shop'");
        refused.Message.ShouldContain("web");
        harness.Store.AllDeployments.Count.ShouldBe(deployments);
    }

    [Fact]
    public async Task ResetAsync_WhileADeploymentIsActive_Conflict()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        var active = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause())), Healthy(harness));

        var conflict = await Should.ThrowAsync<DeploymentConflictException>(
            harness.Requests.ResetAsync(Web, ResetMode.Adopt, "dave", CancellationToken.None).WaitAsync(Timeout));

        conflict.ActiveDeploymentId.ShouldBe(active.Id);
    }

    [Fact]
    public async Task DriftAsync_WeightsMovedAfterSuccess_ReportsTheDifferenceFromTheSavedObservation()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        await harness.AdvanceAsync(TimeSpan.FromSeconds(1));
        harness.Platform.MoveWeightsByHand(Web, new Dictionary<int, int> { [1] = 60, [2] = 40 });
        await ObserveAsync(harness);

        var drift = await harness.Requests.DriftAsync(Web, TimeSpan.FromMinutes(1), CancellationToken.None).WaitAsync(Timeout);

        drift.ShouldHaveSingleItem().ShouldBe("production traffic goes to revision 1 60%, revision 2 40%; the record says revision 1 100%");
    }

    [Fact]
    public async Task DriftAsync_DeploymentActive_Nothing()
    {
        await using var harness = new EngineHarness();
        var engine = await harness.StartEngineAsync();
        (await harness.DeployAsync(Specs.Service(), Healthy(harness))).State.ShouldBe(DeploymentState.Succeeded);
        await engine.StopAsync();
        harness.Platform.MoveWeightsByHand(Web, new Dictionary<int, int> { [1] = 60, [2] = 40 });
        await ObserveAsync(harness);
        await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(20))), Healthy(harness));

        var drift = await harness.Requests.DriftAsync(Web, TimeSpan.FromMinutes(1), CancellationToken.None).WaitAsync(Timeout);

        drift.ShouldBeEmpty("a deployment in progress accounts for what the platform shows");
    }

    [Fact]
    public async Task DriftAsync_ObservationOlderThanMaxAgeOrMissing_Nothing()
    {
        await using var harness = new EngineHarness();
        var engine = await harness.StartEngineAsync();
        (await harness.DeployAsync(Specs.Service(), Healthy(harness))).State.ShouldBe(DeploymentState.Succeeded);

        // No engine observes from here on: only the observations this test takes.
        await engine.StopAsync();
        (await harness.Requests.DriftAsync(Web, TimeSpan.FromMinutes(1), CancellationToken.None).WaitAsync(Timeout)).ShouldBeEmpty("nothing observed yet");
        await harness.AdvanceAsync(TimeSpan.FromSeconds(1));
        harness.Platform.MoveWeightsByHand(Web, new Dictionary<int, int> { [1] = 60, [2] = 40 });
        await ObserveAsync(harness);
        (await harness.Requests.DriftAsync(Web, TimeSpan.FromMinutes(1), CancellationToken.None).WaitAsync(Timeout)).ShouldNotBeEmpty();

        harness.Time.Advance(TimeSpan.FromMinutes(2));
        var drift = await harness.Requests.DriftAsync(Web, TimeSpan.FromMinutes(1), CancellationToken.None).WaitAsync(Timeout);

        drift.ShouldBeEmpty("an observation older than maxAge is not known");
        (await harness.Requests.DriftAsync("shop", TimeSpan.FromMinutes(1), CancellationToken.None).WaitAsync(Timeout)).ShouldBeEmpty();
    }

    [Fact]
    public async Task DriftAsync_ObservationTakenDuringTheLastDeployment_NothingOnceItSucceeded()
    {
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);
        var deployment = await harness.StartAsync(Specs.Service(Specs.Canary(Specs.Weight(50), Specs.Pause())), Healthy(harness));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(10), "paused");

        // The controller records what it sees every few seconds, deployments in progress included.
        await ObserveAsync(harness);
        await harness.Requests.ContinueAsync(deployment.Id, full: false, "alice", CancellationToken.None).WaitAsync(Timeout);
        (await harness.RunToEndAsync(deployment.Id)).State.ShouldBe(DeploymentState.Succeeded);
        var drift = await harness.Requests.DriftAsync(Web, TimeSpan.FromMinutes(1), CancellationToken.None).WaitAsync(Timeout);

        // The platform matches the record; the observation shows the deployment's own 50/50 split, not drift.
        harness.Platform.ShouldServeOnly(2, 3, others: 1);
        drift.ShouldBeEmpty();
    }

    private static Action<int> Healthy(EngineHarness harness) => r => harness.Platform.SetTraffic(Web, r, new TrafficProfile());

    private static async Task DeployFirstAsync(EngineHarness harness)
    {
        await harness.StartEngineAsync();
        var first = await harness.DeployAsync(Specs.Service(), Healthy(harness));
        first.State.ShouldBe(DeploymentState.Succeeded, first.Reason);
    }

    private static async Task ScaleByHandAsync(EngineHarness harness, int revision, int count) =>
        await harness.Platform.ScaleAsync(Specs.Service(), harness.Store.Revisions(Web).Single(r => r.Number == revision), count, CancellationToken.None)
            .WaitAsync(Timeout);

    private static async Task ObserveAsync(EngineHarness harness) =>
        await harness.Store.SaveObservationAsync(
            await Observations.ReadAsync(harness.Platform, Web, harness.Time, CancellationToken.None).WaitAsync(Timeout),
            CancellationToken.None).WaitAsync(Timeout);

    /// <summary>Deploys revision 2 as a canary and stops it once it has the weight (0: stopped before any traffic moved).</summary>
    private static async Task StopCanaryAtAsync(EngineHarness harness, int weight)
    {
        var strategy = weight == 0 ? Specs.Canary(Specs.Pause(), Specs.Weight(50)) : Specs.Canary(Specs.Weight(weight), Specs.Pause());
        var deployment = await harness.StartAsync(Specs.Service(strategy), Healthy(harness));
        await harness.RunUntilAsync(() => harness.Store.Deployment(deployment.Id).State == DeploymentState.Paused, TimeSpan.FromSeconds(10), "paused");
        await harness.Requests.StopAsync(deployment.Id, rollback: false, "carol", CancellationToken.None).WaitAsync(Timeout);
        var stopped = await harness.RunToEndAsync(deployment.Id, TimeSpan.FromSeconds(10));
        stopped.State.ShouldBe(DeploymentState.Stopped, stopped.Reason);
        stopped.TargetWeight.ShouldBe(weight);
    }
}
