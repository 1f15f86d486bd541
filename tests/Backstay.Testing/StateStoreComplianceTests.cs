using Backstay.Core.Model;
using Backstay.Core.Ports;

namespace Backstay.Testing;

/// <summary>The behaviour every <see cref="IStateStore"/> must show; each store's test class derives from it.</summary>
public abstract class StateStoreComplianceTests : IAsyncLifetime
{
    // Sub-millisecond ticks, so a store that rounds timestamps fails the round-trip tests.
    protected static readonly DateTimeOffset Start = new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero).AddTicks(1_234_567);

    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _timeout = new(Timeout);

    protected ManualTimeProvider Time { get; } = new(Start);

    protected IStateStore Store { get; private set; } = null!;

    protected CancellationToken Ct => _timeout.Token;

    public static TheoryData<DeploymentState> AllStates => [.. Enum.GetValues<DeploymentState>()];

    /// <summary>A new, initialized store over the same storage as every other call in the same test, using <see cref="Time"/>.</summary>
    protected abstract Task<IStateStore> CreateStoreAsync();

    public virtual async Task InitializeAsync() => Store = await CreateStoreAsync().WaitAsync(Timeout);

    public virtual async Task DisposeAsync()
    {
        if (Store is not null)
        {
            await Store.DisposeAsync();
        }

        _timeout.Dispose();
    }

    [Fact]
    public async Task UpsertServiceAsync_NewService_GetReturnsEveryField()
    {
        var service = Service("web") with { StableRevision = 4, DesiredCount = 3, SpecJson = """{"port":8080}""" };

        await Store.UpsertServiceAsync(service, Ct);

        (await Store.GetServiceAsync("web", Ct)).ShouldBe(service);
    }

    [Fact]
    public async Task UpsertServiceAsync_ExistingService_OverwritesFieldsAndKeepsCreatedAt()
    {
        var first = Service("web");
        await Store.UpsertServiceAsync(first, Ct);
        var second = first with
        {
            Platform = "ecs",
            StableRevision = 7,
            DesiredCount = 5,
            SpecJson = """{"changed":true}""",
            CreatedAt = Start.AddDays(1),
            UpdatedAt = Start.AddDays(1),
        };

        await Store.UpsertServiceAsync(second, Ct);

        (await Store.GetServiceAsync("web", Ct)).ShouldBe(second with { CreatedAt = first.CreatedAt });
    }

    [Fact]
    public async Task GetServiceAsync_UnknownName_ReturnsNull()
    {
        await Store.UpsertServiceAsync(Service("web"), Ct);

        (await Store.GetServiceAsync("api", Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task ListServicesAsync_SeveralServices_ReturnsAllByName()
    {
        await Store.UpsertServiceAsync(Service("web"), Ct);
        await Store.UpsertServiceAsync(Service("api"), Ct);
        await Store.UpsertServiceAsync(Service("worker"), Ct);

        var services = await Store.ListServicesAsync(Ct);

        services.Select(s => s.Name).ShouldBe(["api", "web", "worker"]);
    }

    [Fact]
    public async Task AddRevisionAsync_ThreeRevisions_NumbersOneTwoThreeIgnoringGivenNumber()
    {
        var numbers = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            numbers.Add((await Store.AddRevisionAsync(Revision("web") with { Number = 42 }, Ct)).Number);
        }

        numbers.ShouldBe([1, 2, 3]);
        (await Store.GetRevisionAsync("web", 3, Ct)).ShouldNotBeNull().Number.ShouldBe(3);
    }

    [Fact]
    public async Task AddRevisionAsync_TwoServices_NumbersEachServiceIndependently()
    {
        await Store.AddRevisionAsync(Revision("web"), Ct);
        await Store.AddRevisionAsync(Revision("web"), Ct);

        var api = await Store.AddRevisionAsync(Revision("api"), Ct);
        var web = await Store.AddRevisionAsync(Revision("web"), Ct);

        api.Number.ShouldBe(1);
        web.Number.ShouldBe(3);
    }

    [Fact]
    public async Task AddRevisionAsync_EveryFieldSet_GetReturnsEveryField()
    {
        var revision = Revision("web") with
        {
            Digest = "sha256:abc",
            Env = new Dictionary<string, string> { ["LOG_LEVEL"] = "debug", ["QUOTE"] = "say \"hi\"", ["EMPTY"] = "" },
            Port = 8080,
            TaskJson = """{"cpu":256}""",
            Provenance = new Provenance
            {
                Commit = "0123abc",
                Message = "Fix the thing",
                Author = "Ada <ada@example.com>",
                Branch = "main",
                Dirty = true,
            },
            Removed = true,
        };

        var added = await Store.AddRevisionAsync(revision, Ct);
        var read = (await Store.GetRevisionAsync("web", added.Number, Ct)).ShouldNotBeNull();

        read.Env.OrderBy(e => e.Key).ShouldBe(revision.Env.OrderBy(e => e.Key));
        read.ShouldBe(revision with { Number = 1, Env = read.Env });
    }

    [Fact]
    public async Task AddRevisionAsync_TwoStoresConcurrently_AssignsDistinctNumbers()
    {
        const int PerStore = 100;
        await using var other = await CreateStoreAsync().WaitAsync(Timeout);

        async Task<List<int>> AddMany(IStateStore store)
        {
            var numbers = new List<int>();
            for (var i = 0; i < PerStore; i++)
            {
                numbers.Add((await store.AddRevisionAsync(Revision("web"), Ct)).Number);
            }

            return numbers;
        }

        var results = await RunTogetherAsync(() => AddMany(Store), () => AddMany(other));

        results.SelectMany(n => n).Order().ShouldBe(Enumerable.Range(1, 2 * PerStore));
        (await Store.ListRevisionsAsync("web", Ct)).Count.ShouldBe(2 * PerStore);
    }

    [Fact]
    public async Task GetRevisionAsync_UnknownNumber_ReturnsNull()
    {
        await Store.AddRevisionAsync(Revision("web"), Ct);

        (await Store.GetRevisionAsync("web", 2, Ct)).ShouldBeNull();
        (await Store.GetRevisionAsync("api", 1, Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task MarkRevisionRemovedAsync_OneRevision_ListShowsOnlyItRemovedNewestFirst()
    {
        for (var i = 0; i < 3; i++)
        {
            await Store.AddRevisionAsync(Revision("web"), Ct);
        }

        await Store.AddRevisionAsync(Revision("api"), Ct);

        await Store.MarkRevisionRemovedAsync("web", 2, Ct);

        var revisions = await Store.ListRevisionsAsync("web", Ct);
        revisions.Select(r => (r.Number, r.Removed)).ShouldBe([(3, false), (2, true), (1, false)]);
    }

    [Fact]
    public async Task CreateDeploymentAsync_EveryFieldSet_GetReturnsEveryField()
    {
        var deployment = Deployment("d-1", "web") with
        {
            Kind = DeploymentKind.Reset,
            Trigger = Trigger.Ci,
            Strategy = "canary",
            StableRevision = 3,
            TargetRevision = 4,
            State = DeploymentState.Paused,
            CurrentStep = 2,
            StepPhase = StepPhase.Started,
            TotalSteps = 5,
            StableCountBefore = 6,
            TargetWeight = 25,
            TestTrafficOnTarget = true,
            RollbackOf = "d-0",
            RolledBackBy = "d-2",
            Reason = "latency",
            PlanJson = """{"steps":[10,50,100]}""",
            Owner = "serve@host-1",
            ProgressJson = """{"weight":25,"errorRate":0.01}""",
            RequestedBy = "ada",
            CreatedAt = Start,
            UpdatedAt = Start.AddSeconds(1),
            FinishedAt = Start.AddSeconds(2),
            SafeAt = new DateTimeOffset(2025, 3, 1, 14, 0, 3, TimeSpan.FromHours(2)).AddTicks(7),
            WarmUntil = Start.AddMinutes(5).AddTicks(3),
            WarmEndedAt = Start.AddMinutes(4),
        };

        await Store.CreateDeploymentAsync(deployment, Ct);

        (await Store.GetDeploymentAsync("d-1", Ct)).ShouldBe(deployment);
    }

    [Fact]
    public async Task GetDeploymentAsync_UnknownId_ReturnsNull()
    {
        await Store.CreateDeploymentAsync(Deployment("d-1", "web"), Ct);

        (await Store.GetDeploymentAsync("d-2", Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task UpdateDeploymentAsync_ChangedFields_GetReturnsNewValues()
    {
        var created = Deployment("d-1", "web");
        await Store.CreateDeploymentAsync(created, Ct);
        var updated = created with
        {
            State = DeploymentState.Succeeded,
            CurrentStep = 3,
            StepPhase = StepPhase.Completed,
            TargetWeight = 100,
            Reason = "done",
            ProgressJson = """{"weight":100}""",
            UpdatedAt = Start.AddMinutes(5),
            FinishedAt = Start.AddMinutes(5),
        };

        await Store.UpdateDeploymentAsync(updated, Ct);

        (await Store.GetDeploymentAsync("d-1", Ct)).ShouldBe(updated);
    }

    [Fact]
    public async Task UpdateDeploymentAsync_UnknownId_ThrowsNamingId()
    {
        var exception = await Should.ThrowAsync<InvalidOperationException>(
            () => Store.UpdateDeploymentAsync(Deployment("d-missing", "web"), Ct));

        exception.Message.ShouldContain("d-missing");
    }

    [Fact]
    public async Task CreateDeploymentAsync_ServiceHasActiveDeployment_ThrowsConflictNamingServiceAndActiveId()
    {
        await Store.CreateDeploymentAsync(Deployment("d-1", "web", DeploymentState.InProgress), Ct);

        var exception = await Should.ThrowAsync<DeploymentConflictException>(
            () => Store.CreateDeploymentAsync(Deployment("d-2", "web"), Ct));

        exception.Service.ShouldBe("web");
        exception.ActiveDeploymentId.ShouldBe("d-1");
        exception.Message.ShouldContain("web");
        exception.Message.ShouldContain("d-1");
        (await Store.GetDeploymentAsync("d-2", Ct)).ShouldBeNull();
    }

    [Theory]
    [MemberData(nameof(AllStates))]
    public async Task CreateDeploymentAsync_ExistingDeploymentInState_ConflictsOnlyWhenActive(DeploymentState state)
    {
        var existing = Deployment("d-1", "web", state);
        await Store.CreateDeploymentAsync(existing, Ct);

        var create = () => Store.CreateDeploymentAsync(Deployment("d-2", "web"), Ct);

        if (existing.IsActive)
        {
            await Should.ThrowAsync<DeploymentConflictException>(create);
        }
        else
        {
            await create();
            (await Store.GetDeploymentAsync("d-2", Ct)).ShouldNotBeNull();
        }
    }

    [Fact]
    public async Task CreateDeploymentAsync_AfterActiveOneFinishes_Succeeds()
    {
        var first = Deployment("d-1", "web", DeploymentState.InProgress);
        await Store.CreateDeploymentAsync(first, Ct);
        await Store.UpdateDeploymentAsync(first with { State = DeploymentState.Failed }, Ct);

        await Store.CreateDeploymentAsync(Deployment("d-2", "web"), Ct);

        (await Store.ListActiveDeploymentsAsync(Ct)).Select(d => d.Id).ShouldBe(["d-2"]);
    }

    [Fact]
    public async Task CreateDeploymentAsync_OtherServiceActive_Succeeds()
    {
        await Store.CreateDeploymentAsync(Deployment("d-1", "api", DeploymentState.InProgress), Ct);

        await Store.CreateDeploymentAsync(Deployment("d-2", "web"), Ct);

        (await Store.GetDeploymentAsync("d-2", Ct)).ShouldNotBeNull();
    }

    [Fact]
    public async Task CreateDeploymentAsync_DuplicateId_ThrowsAndKeepsOriginal()
    {
        var original = Deployment("d-1", "web", DeploymentState.Succeeded);
        await Store.CreateDeploymentAsync(original, Ct);

        await Should.ThrowAsync<Exception>(
            () => Store.CreateDeploymentAsync(Deployment("d-1", "api") with { Strategy = "canary" }, Ct));

        (await Store.GetDeploymentAsync("d-1", Ct)).ShouldBe(original);
    }

    [Fact]
    public async Task CreateRollbackAsync_UndoneIsActive_WritesBoth()
    {
        var undone = Deployment("d-1", "web", DeploymentState.InProgress);
        await Store.CreateDeploymentAsync(undone, Ct);
        var rollback = Rollback("d-2", undone);
        var marked = undone with { State = DeploymentState.RollingBack, RolledBackBy = "d-2", UpdatedAt = Start.AddMinutes(1) };

        await Store.CreateRollbackAsync(rollback, marked, Ct);

        (await Store.GetDeploymentAsync("d-1", Ct)).ShouldBe(marked);
        (await Store.GetDeploymentAsync("d-2", Ct)).ShouldBe(rollback);
        await Should.ThrowAsync<DeploymentConflictException>(
            () => Store.CreateDeploymentAsync(Deployment("d-3", "web"), Ct));
    }

    [Fact]
    public async Task CreateRollbackAsync_UndoneSucceeded_WritesBoth()
    {
        var undone = Deployment("d-1", "web", DeploymentState.Succeeded);
        await Store.CreateDeploymentAsync(undone, Ct);
        var rollback = Rollback("d-2", undone);
        var marked = undone with { RolledBackBy = "d-2" };

        await Store.CreateRollbackAsync(rollback, marked, Ct);

        (await Store.GetDeploymentAsync("d-1", Ct)).ShouldBe(marked);
        (await Store.GetDeploymentAsync("d-2", Ct)).ShouldBe(rollback);
    }

    [Fact]
    public async Task CreateRollbackAsync_AnotherDeploymentActive_ThrowsConflictAndWritesNothing()
    {
        var undone = Deployment("d-1", "web", DeploymentState.Succeeded);
        await Store.CreateDeploymentAsync(undone, Ct);
        await Store.CreateDeploymentAsync(Deployment("d-2", "web", DeploymentState.InProgress), Ct);
        var marked = undone with { State = DeploymentState.RollingBack, RolledBackBy = "d-3" };

        var exception = await Should.ThrowAsync<DeploymentConflictException>(
            () => Store.CreateRollbackAsync(Rollback("d-3", undone), marked, Ct));

        exception.ActiveDeploymentId.ShouldBe("d-2");
        (await Store.GetDeploymentAsync("d-1", Ct)).ShouldBe(undone);
        (await Store.GetDeploymentAsync("d-3", Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task CreateRollbackAsync_RollbackIdTaken_LeavesUndoneUnchanged()
    {
        var undone = Deployment("d-1", "web", DeploymentState.InProgress);
        await Store.CreateDeploymentAsync(undone, Ct);
        var taken = Deployment("d-0", "api", DeploymentState.Succeeded);
        await Store.CreateDeploymentAsync(taken, Ct);
        var marked = undone with { State = DeploymentState.RollingBack, RolledBackBy = "d-0" };

        await Should.ThrowAsync<Exception>(() => Store.CreateRollbackAsync(Rollback("d-0", undone), marked, Ct));

        (await Store.GetDeploymentAsync("d-1", Ct)).ShouldBe(undone);
        (await Store.GetDeploymentAsync("d-0", Ct)).ShouldBe(taken);
    }

    [Fact]
    public async Task CreateRollbackAsync_UndoneMissing_ThrowsAndInsertsNothing()
    {
        var undone = Deployment("d-1", "web", DeploymentState.Succeeded);

        await Should.ThrowAsync<InvalidOperationException>(
            () => Store.CreateRollbackAsync(Rollback("d-2", undone), undone, Ct));

        (await Store.GetDeploymentAsync("d-2", Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task ListDeploymentsAsync_ServiceAndLimit_ReturnsThatServiceNewestFirst()
    {
        await Store.CreateDeploymentAsync(Deployment("d-1", "web", DeploymentState.Succeeded, Start), Ct);
        await Store.CreateDeploymentAsync(Deployment("d-3", "web", DeploymentState.Failed, Start.AddMinutes(2)), Ct);
        await Store.CreateDeploymentAsync(Deployment("d-2", "web", DeploymentState.Succeeded, Start.AddMinutes(1)), Ct);
        await Store.CreateDeploymentAsync(Deployment("d-4", "api", DeploymentState.Succeeded, Start.AddMinutes(3)), Ct);

        var web = await Store.ListDeploymentsAsync("web", 10, Ct);
        var all = await Store.ListDeploymentsAsync(null, 3, Ct);

        web.Select(d => d.Id).ShouldBe(["d-3", "d-2", "d-1"]);
        all.Select(d => d.Id).ShouldBe(["d-4", "d-3", "d-2"]);
    }

    [Fact]
    public async Task ListDeploymentsAsync_SameCreatedAt_ReturnsLaterInsertedFirst()
    {
        await Store.CreateDeploymentAsync(Deployment("d-b", "web", DeploymentState.Succeeded), Ct);
        await Store.CreateDeploymentAsync(Deployment("d-a", "web", DeploymentState.Succeeded), Ct);

        var deployments = await Store.ListDeploymentsAsync("web", 10, Ct);

        deployments.Select(d => d.Id).ShouldBe(["d-a", "d-b"]);
    }

    [Fact]
    public async Task ListActiveDeploymentsAsync_MixedStates_ReturnsActiveOldestFirst()
    {
        await Store.CreateDeploymentAsync(Deployment("d-1", "a", DeploymentState.Paused, Start.AddMinutes(3)), Ct);
        await Store.CreateDeploymentAsync(Deployment("d-2", "b", DeploymentState.Succeeded, Start), Ct);
        await Store.CreateDeploymentAsync(Deployment("d-3", "c", DeploymentState.RollingBack, Start.AddMinutes(1)), Ct);
        await Store.CreateDeploymentAsync(Deployment("d-4", "d", DeploymentState.Pending, Start.AddMinutes(2)), Ct);
        await Store.CreateDeploymentAsync(Deployment("d-5", "e", DeploymentState.Stopped, Start.AddMinutes(4)), Ct);

        var active = await Store.ListActiveDeploymentsAsync(Ct);

        active.Select(d => d.Id).ShouldBe(["d-3", "d-4", "d-1"]);
    }

    [Fact]
    public async Task ListWarmDeploymentsAsync_WindowsOpenAndEnded_ReturnsOnlySucceededWithAnOpenWindowOldestFirstWithTheirTimes()
    {
        var until = Start.AddMinutes(5).AddTicks(1);
        await Store.CreateDeploymentAsync(Deployment("d-1", "a", DeploymentState.Succeeded, Start.AddMinutes(2)) with { StableRevision = 1, WarmUntil = until }, Ct);
        await Store.CreateDeploymentAsync(Deployment("d-2", "b", DeploymentState.Succeeded, Start) with { StableRevision = 1, WarmUntil = until }, Ct);
        await Store.CreateDeploymentAsync(Deployment("d-3", "c", DeploymentState.Succeeded, Start) with { StableRevision = 1, WarmUntil = until, WarmEndedAt = Start.AddMinutes(1) }, Ct);
        await Store.CreateDeploymentAsync(Deployment("d-4", "d", DeploymentState.Succeeded, Start) with { StableRevision = 1 }, Ct);
        await Store.CreateDeploymentAsync(Deployment("d-5", "e", DeploymentState.InProgress, Start) with { StableRevision = 1, WarmUntil = until }, Ct);

        var warm = await Store.ListWarmDeploymentsAsync(Ct);

        warm.Select(d => d.Id).ShouldBe(["d-2", "d-1"]);
        warm[0].WarmUntil.ShouldBe(until);
        warm[0].WarmRevision.ShouldBe(1);
        (await Store.GetDeploymentAsync("d-3", Ct))!.WarmEndedAt.ShouldBe(Start.AddMinutes(1));
    }

    [Fact]
    public async Task AppendEventAsync_SeveralEvents_AssignsIncreasingSequencesAndKeepsFields()
    {
        var first = await Store.AppendEventAsync(Event("d-1", "started") with { Step = 1, DataJson = """{"w":10}""" }, Ct);
        var second = await Store.AppendEventAsync(Event("d-1", "weight"), Ct);

        second.Sequence.ShouldBeGreaterThan(first.Sequence);
        var events = await Store.ListEventsAsync("d-1", 0, Ct);
        events.ShouldBe([first, second]);
        first.ShouldBe(Event("d-1", "started") with { Sequence = first.Sequence, Step = 1, DataJson = """{"w":10}""" });
    }

    [Fact]
    public async Task ListEventsAsync_AfterSequence_ReturnsOnlyLaterEventsOfThatDeploymentOldestFirst()
    {
        var first = await Store.AppendEventAsync(Event("d-1", "one"), Ct);
        await Store.AppendEventAsync(Event("d-2", "other"), Ct);
        var second = await Store.AppendEventAsync(Event("d-1", "two"), Ct);
        var third = await Store.AppendEventAsync(Event("d-1", "three"), Ct);

        var events = await Store.ListEventsAsync("d-1", first.Sequence, Ct);

        events.Select(e => e.Message).ShouldBe(["two", "three"]);
        (await Store.ListEventsAsync("d-1", third.Sequence, Ct)).ShouldBeEmpty();
        second.Sequence.ShouldBeLessThan(third.Sequence);
    }

    [Fact]
    public async Task TakeCommandsAsync_TakenTwice_ReturnsEachCommandOnceOldestFirst()
    {
        var stop = await Store.EnqueueCommandAsync(Command("d-1", CommandKind.Stop) with { HookId = "h-1" }, Ct);
        var other = await Store.EnqueueCommandAsync(Command("d-2", CommandKind.Rollback), Ct);
        var resume = await Store.EnqueueCommandAsync(Command("d-1", CommandKind.Continue), Ct);

        var taken = await Store.TakeCommandsAsync("d-1", Ct);
        var again = await Store.TakeCommandsAsync("d-1", Ct);

        stop.Id.ShouldBeLessThan(resume.Id);
        taken.ShouldBe([stop, resume]);
        stop.ShouldBe(Command("d-1", CommandKind.Stop) with { Id = stop.Id, HookId = "h-1" });
        again.ShouldBeEmpty();
        (await Store.TakeCommandsAsync("d-2", Ct)).ShouldBe([other]);
    }

    [Fact]
    public async Task TakeCommandsAsync_TwoStoresConcurrently_TakeEachCommandOnce()
    {
        const int Count = 100;
        await using var other = await CreateStoreAsync().WaitAsync(Timeout);
        var enqueued = new List<long>();
        for (var i = 0; i < Count; i++)
        {
            enqueued.Add((await Store.EnqueueCommandAsync(Command("d-1", CommandKind.Continue), Ct)).Id);
        }

        async Task<List<long>> TakeRepeatedly(IStateStore store)
        {
            var ids = new List<long>();
            for (var i = 0; i < 50; i++)
            {
                ids.AddRange((await store.TakeCommandsAsync("d-1", Ct)).Select(c => c.Id));
            }

            return ids;
        }

        var results = await RunTogetherAsync(() => TakeRepeatedly(Store), () => TakeRepeatedly(other));

        results.SelectMany(ids => ids).Order().ShouldBe(enqueued);
    }

    [Fact]
    public async Task ListJournalAsync_EntriesOfTwoDeployments_ReturnsThatDeploymentsInOrder()
    {
        var intent = Journal("d-1", 1, StepPhase.Started, "set-weight") with { DetailJson = """{"weight":10}""" };
        var result = Journal("d-1", 1, StepPhase.Completed, "set-weight");
        await Store.AppendJournalAsync(intent, Ct);
        await Store.AppendJournalAsync(Journal("d-2", 1, StepPhase.Started, "scale"), Ct);
        await Store.AppendJournalAsync(result, Ct);

        var journal = await Store.ListJournalAsync("d-1", Ct);

        journal.Count.ShouldBe(2);
        journal[0].Sequence.ShouldBeLessThan(journal[1].Sequence);
        journal[0].ShouldBe(intent with { Sequence = journal[0].Sequence });
        journal[1].ShouldBe(result with { Sequence = journal[1].Sequence });
    }

    [Fact]
    public async Task TryAcquireLeaseAsync_FreeKey_Succeeds()
    {
        (await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromSeconds(30), Ct)).ShouldBeTrue();
    }

    [Fact]
    public async Task TryAcquireLeaseAsync_OtherOwnerHoldsUnexpired_ReturnsFalse()
    {
        await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromSeconds(30), Ct);
        Time.Advance(TimeSpan.FromSeconds(30) - TimeSpan.FromMilliseconds(1));

        (await Store.TryAcquireLeaseAsync("service/web", "b", TimeSpan.FromSeconds(30), Ct)).ShouldBeFalse();
        (await Store.TryAcquireLeaseAsync("service/api", "b", TimeSpan.FromSeconds(30), Ct)).ShouldBeTrue();
    }

    [Fact]
    public async Task TryAcquireLeaseAsync_SameOwner_RenewsUntilNewExpiry()
    {
        await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromSeconds(30), Ct);
        Time.Advance(TimeSpan.FromSeconds(20));

        (await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromSeconds(30), Ct)).ShouldBeTrue();
        Time.Advance(TimeSpan.FromSeconds(20));

        (await Store.TryAcquireLeaseAsync("service/web", "b", TimeSpan.FromSeconds(30), Ct)).ShouldBeFalse();
    }

    [Fact]
    public async Task TryAcquireLeaseAsync_OtherOwnerAfterExpiry_TakesOver()
    {
        await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromSeconds(30), Ct);
        Time.Advance(TimeSpan.FromSeconds(30) + TimeSpan.FromMilliseconds(1));

        (await Store.TryAcquireLeaseAsync("service/web", "b", TimeSpan.FromSeconds(30), Ct)).ShouldBeTrue();
        (await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromSeconds(30), Ct)).ShouldBeFalse();
    }

    [Fact]
    public async Task ReleaseLeaseAsync_Owner_LetsAnotherOwnerAcquire()
    {
        await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromSeconds(30), Ct);

        await Store.ReleaseLeaseAsync("service/web", "a", Ct);

        (await Store.TryAcquireLeaseAsync("service/web", "b", TimeSpan.FromSeconds(30), Ct)).ShouldBeTrue();
    }

    [Fact]
    public async Task ReleaseLeaseAsync_OtherOwner_KeepsLease()
    {
        await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromSeconds(30), Ct);

        await Store.ReleaseLeaseAsync("service/web", "b", Ct);

        (await Store.TryAcquireLeaseAsync("service/web", "b", TimeSpan.FromSeconds(30), Ct)).ShouldBeFalse();
    }

    [Fact]
    public async Task GetLeaseGenerationAsync_RenewalKeepsIt_TakeoverAfterExpiryRaisesIt()
    {
        await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromSeconds(30), Ct);
        var first = (await Store.GetLeaseGenerationAsync("service/web", "a", Ct)).ShouldNotBeNull();
        Time.Advance(TimeSpan.FromSeconds(20));
        await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromSeconds(30), Ct);

        (await Store.GetLeaseGenerationAsync("service/web", "a", Ct)).ShouldBe(first, "a renewal keeps the generation");

        Time.Advance(TimeSpan.FromSeconds(31));
        (await Store.GetLeaseGenerationAsync("service/web", "a", Ct)).ShouldBeNull("an expired lease is nobody's");
        (await Store.TryAcquireLeaseAsync("service/web", "b", TimeSpan.FromSeconds(30), Ct)).ShouldBeTrue();
        (await Store.GetLeaseGenerationAsync("service/web", "b", Ct)).ShouldBe(first + 1);
        (await Store.GetLeaseGenerationAsync("service/web", "a", Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task GetLeaseGenerationAsync_ReleasedThenTakenAgainBySameOwner_IsHigher()
    {
        await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromSeconds(30), Ct);
        var first = (await Store.GetLeaseGenerationAsync("service/web", "a", Ct)).ShouldNotBeNull();

        await Store.ReleaseLeaseAsync("service/web", "a", Ct);
        (await Store.GetLeaseGenerationAsync("service/web", "a", Ct)).ShouldBeNull();
        await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromSeconds(30), Ct);

        // A writer fenced with the first generation must not pass again once the lease was let go in between.
        (await Store.GetLeaseGenerationAsync("service/web", "a", Ct)).ShouldBe(first + 1);
    }

    [Fact]
    public async Task InitializeAsync_NewStoreOverSameStorage_SeesEarlierData()
    {
        await Store.UpsertServiceAsync(Service("web"), Ct);
        var revision = await Store.AddRevisionAsync(Revision("web"), Ct);
        var deployment = Deployment("d-1", "web", DeploymentState.InProgress);
        await Store.CreateDeploymentAsync(deployment, Ct);
        var appended = await Store.AppendEventAsync(Event("d-1", "started"), Ct);
        await Store.AppendJournalAsync(Journal("d-1", 1, StepPhase.Started, "scale"), Ct);
        await Store.TryAcquireLeaseAsync("service/web", "a", TimeSpan.FromMinutes(1), Ct);
        await Store.DisposeAsync();

        Store = await CreateStoreAsync().WaitAsync(Timeout);

        (await Store.GetServiceAsync("web", Ct)).ShouldBe(Service("web"));
        (await Store.GetRevisionAsync("web", revision.Number, Ct)).ShouldNotBeNull().Image.ShouldBe(revision.Image);
        (await Store.GetDeploymentAsync("d-1", Ct)).ShouldBe(deployment);
        (await Store.ListEventsAsync("d-1", 0, Ct)).ShouldBe([appended]);
        (await Store.ListJournalAsync("d-1", Ct)).Count.ShouldBe(1);
        (await Store.TryAcquireLeaseAsync("service/web", "b", TimeSpan.FromMinutes(1), Ct)).ShouldBeFalse();
        (await Store.AddRevisionAsync(Revision("web"), Ct)).Number.ShouldBe(revision.Number + 1);
    }

    [Fact]
    public async Task InitializeAsync_CalledAgain_KeepsData()
    {
        await Store.UpsertServiceAsync(Service("web"), Ct);

        await Store.InitializeAsync(Ct);

        (await Store.ListServicesAsync(Ct)).Select(s => s.Name).ShouldBe(["web"]);
    }

    [Fact]
    public async Task SaveHookRunAsync_InsertThenReplace_ListKeepsFirstSaveOrderAndLatestFields()
    {
        var first = new HookRun { Id = "h-1", DeploymentId = "d-1", Stage = "AfterInstall", Kind = "exec", State = HookState.InProgress, StartedAt = Start };
        var second = new HookRun { Id = "h-2", DeploymentId = "d-1", Stage = "BeforeAllowTraffic", Index = 1, Kind = "pause", State = HookState.AwaitingAction, StartedAt = Start, ExpiresAt = Start.AddHours(1) };
        await Store.SaveHookRunAsync(first, Ct);
        await Store.SaveHookRunAsync(second, Ct);
        await Store.SaveHookRunAsync(new HookRun { Id = "h-3", DeploymentId = "d-2", Stage = "Cleanup", Kind = "http", StartedAt = Start }, Ct);

        var done = first with { State = HookState.Succeeded, FinishedAt = Start.AddSeconds(3), Output = "ok\n" };
        await Store.SaveHookRunAsync(done, Ct);

        (await Store.ListHookRunsAsync("d-1", Ct)).ShouldBe([done, second]);
        (await Store.ListHookRunsAsync("d-none", Ct)).ShouldBeEmpty();
    }

    [Fact]
    public async Task Releases_CreateUpdateList_AWriteFromAnOlderReadIsRefused()
    {
        var member = new Backstay.Core.Releases.ReleaseMember { Service = "api", Platform = "local", SpecJson = "{}", ToRevision = 2 };
        var first = new Backstay.Core.Releases.Release { Id = "rel-AAAAAAAAA", Name = "one", Members = [member], CreatedAt = Start, UpdatedAt = Start };
        var second = first with { Id = "rel-BBBBBBBBB", Name = "two" };
        await Store.CreateReleaseAsync(first, Ct);
        await Store.CreateReleaseAsync(second, Ct);

        var read = (await Store.GetReleaseAsync(first.Id, Ct)).ShouldNotBeNull();
        (await Store.UpdateReleaseAsync(read with { Phase = Backstay.Core.Releases.ReleasePhase.RollingBack }, Ct)).ShouldBeTrue();
        (await Store.UpdateReleaseAsync(read with { Phase = Backstay.Core.Releases.ReleasePhase.Succeeded, FinishedAt = Start }, Ct)).ShouldBeFalse("a write from an older read");
        var stored = (await Store.GetReleaseAsync(first.Id, Ct)).ShouldNotBeNull();
        stored.Phase.ShouldBe(Backstay.Core.Releases.ReleasePhase.RollingBack);
        stored.Version.ShouldBe(read.Version + 1);
        stored.Members.Single().ToRevision.ShouldBe(2);
        (await Store.UpdateReleaseAsync(stored with { Phase = Backstay.Core.Releases.ReleasePhase.RolledBack }, Ct)).ShouldBeTrue();

        (await Store.ListReleasesAsync(10, Ct)).Select(r => r.Id).ShouldBe([second.Id, first.Id]);
        (await Store.ListActiveReleasesAsync(Ct)).Select(r => r.Id).ShouldBe([second.Id]);
        (await Store.GetReleaseAsync("rel-NONE", Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task SaveObservationAsync_Replaces_GetReturnsLatest()
    {
        (await Store.GetObservationAsync("web", Ct)).ShouldBeNull();
        await Store.SaveObservationAsync(new Observation { Service = "web", At = Start, Sets = [new ObservedSet(1, 3, 3, 3)] }, Ct);
        var latest = new Observation
        {
            Service = "web",
            At = Start.AddSeconds(2),
            Sets = [new ObservedSet(1, 3, 2, 2), new ObservedSet(2, 1, 1, 0)],
            ProductionWeights = new Dictionary<int, int> { [1] = 90, [2] = 10 },
        };

        await Store.SaveObservationAsync(latest, Ct);

        var read = (await Store.GetObservationAsync("web", Ct)).ShouldNotBeNull();
        read.At.ShouldBe(latest.At);
        read.Sets.ShouldBe(latest.Sets);
        read.ProductionWeights.ShouldBe(latest.ProductionWeights);
    }

    [Fact]
    public async Task SaveObservationsAsync_OnePassOfManyServices_EachReadBackAndAnEmptyPassWritesNothing()
    {
        await Store.SaveObservationAsync(new Observation { Service = "svc-000", At = Start, Sets = [new ObservedSet(1, 1, 0, 0)] }, Ct);
        var pass = Enumerable.Range(0, 250).Select(i => new Observation
        {
            Service = $"svc-{i:000}",
            At = Start.AddSeconds(2),
            Sets = [new ObservedSet(i + 1, 3, 3, 3)],
            ProductionWeights = new Dictionary<int, int> { [i + 1] = 100 },
        }).ToList();

        await Store.SaveObservationsAsync(pass, Ct);
        await Store.SaveObservationsAsync([], Ct);

        foreach (var expected in pass)
        {
            var read = (await Store.GetObservationAsync(expected.Service, Ct)).ShouldNotBeNull();
            read.At.ShouldBe(expected.At);
            read.Sets.ShouldBe(expected.Sets);
            read.ProductionWeights.ShouldBe(expected.ProductionWeights);
        }
    }

    [Fact]
    public async Task AppendSeriesAsync_PointsOfBothRevisions_ListReturnsEveryFieldOldestFirstAndOnlyThatDeployment()
    {
        var stable = Point("d-1", 1, Start.AddSeconds(1)) with { Weight = 90, Requests = 900, ErrorRate = 0.001, P50Ms = 3.5, P90Ms = 9.25, P95Ms = 12, P99Ms = 40.125 };
        var target = Point("d-1", 2, Start.AddSeconds(1)) with { Weight = 10, Requests = 100, ErrorRate = 0.25, P50Ms = 4, P90Ms = null, P95Ms = null, P99Ms = 80 };
        var earlier = Point("d-1", 1, Start) with { Weight = 100, Requests = null, ErrorRate = null };
        var other = Point("d-2", 2, Start);

        // Two batches, the later one first: the store orders by time, and by the order added at equal times.
        await Store.AppendSeriesAsync([stable, target, other], Ct);
        await Store.AppendSeriesAsync([earlier], Ct);
        await Store.AppendSeriesAsync([], Ct);

        (await Store.ListSeriesAsync("d-1", null, Ct)).ShouldBe([earlier, stable, target]);
        (await Store.ListSeriesAsync("d-2", null, Ct)).ShouldBe([other]);
        (await Store.ListSeriesAsync("d-3", null, Ct)).ShouldBeEmpty();
    }

    [Fact]
    public async Task ListSeriesAsync_After_ReturnsOnlyLaterPointsToTheTick()
    {
        var points = Enumerable.Range(0, 4).Select(i => Point("d-1", 2, Start.AddTicks(i))).ToList();
        await Store.AppendSeriesAsync(points, Ct);

        (await Store.ListSeriesAsync("d-1", Start.AddTicks(1), Ct)).ShouldBe(points[2..]);
        (await Store.ListSeriesAsync("d-1", Start.AddTicks(3), Ct)).ShouldBeEmpty();
    }

    [Fact]
    public async Task AppendSeriesAsync_BeyondTheCap_KeepsTheFirstPointsAndDropsTheRest()
    {
        var first = Enumerable.Range(0, SeriesPoint.MaxPerDeployment - 1).Select(i => Point("d-1", 2, Start.AddMilliseconds(i))).ToList();
        await Store.AppendSeriesAsync(first, Ct);
        var last = Point("d-1", 1, Start.AddDays(1));

        await Store.AppendSeriesAsync([last, Point("d-1", 2, Start.AddDays(1)), Point("d-2", 2, Start)], Ct);
        await Store.AppendSeriesAsync([Point("d-1", 1, Start.AddDays(2))], Ct);

        var kept = await Store.ListSeriesAsync("d-1", null, Ct);
        kept.Count.ShouldBe(SeriesPoint.MaxPerDeployment);
        kept[^1].ShouldBe(last);
        (await Store.ListSeriesAsync("d-2", null, Ct)).Count.ShouldBe(1);
    }

    [Fact]
    public async Task DeleteSeriesAsync_OneDeployment_LeavesOthersAndTheDeployment()
    {
        await Store.CreateDeploymentAsync(Deployment("d-1", "web", DeploymentState.Succeeded), Ct);
        await Store.AppendSeriesAsync([Point("d-1", 1, Start), Point("d-1", 2, Start), Point("d-2", 2, Start)], Ct);

        await Store.DeleteSeriesAsync("d-1", Ct);
        await Store.DeleteSeriesAsync("d-unknown", Ct);

        (await Store.ListSeriesAsync("d-1", null, Ct)).ShouldBeEmpty();
        (await Store.ListSeriesAsync("d-2", null, Ct)).Count.ShouldBe(1);
        (await Store.GetDeploymentAsync("d-1", Ct)).ShouldNotBeNull();
    }

    /// <summary>Runs each piece of work on its own thread, all released at once, so that they overlap.</summary>
    protected static Task<T[]> RunTogetherAsync<T>(params Func<Task<T>>[] work) => Concurrently.RunAsync(Timeout, work);

    protected static ServiceRecord Service(string name) => new()
    {
        Name = name,
        Platform = "local",
        DesiredCount = 2,
        CreatedAt = Start,
        UpdatedAt = Start,
    };

    protected static Revision Revision(string service) => new()
    {
        Service = service,
        Image = "registry.example.com/web:1.0",
        CreatedAt = Start,
    };

    protected static Deployment Deployment(
        string id, string service, DeploymentState state = DeploymentState.Pending, DateTimeOffset? createdAt = null) => new()
    {
        Id = id,
        Service = service,
        Strategy = "rolling",
        TargetRevision = 2,
        StableRevision = 1,
        State = state,
        CreatedAt = createdAt ?? Start,
        UpdatedAt = createdAt ?? Start,
    };

    protected static Deployment Rollback(string id, Deployment undone) => Deployment(id, undone.Service) with
    {
        Kind = DeploymentKind.Rollback,
        Trigger = Trigger.ManualRollback,
        StableRevision = undone.TargetRevision,
        TargetRevision = undone.StableRevision ?? 0,
        RollbackOf = undone.Id,
        CreatedAt = Start.AddMinutes(1),
        UpdatedAt = Start.AddMinutes(1),
    };

    protected static SeriesPoint Point(string deploymentId, int revision, DateTimeOffset at) => new()
    {
        DeploymentId = deploymentId,
        At = at,
        Revision = revision,
        Weight = 50,
        Requests = 10,
        ErrorRate = 0,
        P50Ms = 1,
        P90Ms = 2,
        P95Ms = 3,
        P99Ms = 4,
    };

    protected static DeploymentEvent Event(string deploymentId, string message) => new()
    {
        DeploymentId = deploymentId,
        At = Start,
        Type = "info",
        Message = message,
    };

    protected static DeploymentCommand Command(string deploymentId, CommandKind kind) => new()
    {
        DeploymentId = deploymentId,
        Kind = kind,
        RequestedBy = "ada",
        At = Start,
    };

    protected static JournalEntry Journal(string deploymentId, int step, StepPhase phase, string action) => new()
    {
        DeploymentId = deploymentId,
        Step = step,
        Phase = phase,
        Action = action,
        At = Start,
    };
}
