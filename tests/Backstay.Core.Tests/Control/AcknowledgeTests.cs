using Backstay.Core.Control;
using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Testing;

namespace Backstay.Core.Tests.Control;

/// <summary>A person acknowledges a rolled-back or failed release: it stops being shown as an open incident, and says who and why.</summary>
public sealed class AcknowledgeTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 5, 8, 0, 0, TimeSpan.Zero);
    private readonly ManualTimeProvider _time = new(T0.AddMinutes(10));
    private readonly InMemoryStateStore _store;
    private InProcessControlPlane _plane = null!;

    public AcknowledgeTests() => _store = new InMemoryStateStore(_time);

    public async Task InitializeAsync()
    {
        await _store.InitializeAsync(CancellationToken.None);
        await _store.UpsertServiceAsync(new ServiceRecord { Name = "web", Platform = "local", StableRevision = 2, DesiredCount = 2, CreatedAt = T0, UpdatedAt = T0 }, CancellationToken.None);
        _plane = new InProcessControlPlane(_store, _time, null, () => true, ownsStore: false);
    }

    public async Task DisposeAsync() => await _plane.DisposeAsync();

    private async Task AddAsync(string id, DeploymentKind kind, DeploymentState state, int target, int? stable, int minute, string? reason = null) =>
        await _store.CreateDeploymentAsync(new Deployment
        {
            Id = id,
            Service = "web",
            Kind = kind,
            Strategy = kind == DeploymentKind.Deploy ? "canary" : "rollback",
            State = state,
            TargetRevision = target,
            StableRevision = stable,
            Reason = reason,
            CreatedAt = T0.AddMinutes(minute),
            UpdatedAt = T0.AddMinutes(minute),
            FinishedAt = state.IsActive() ? null : T0.AddMinutes(minute).AddSeconds(30),
        }, CancellationToken.None);

    [Fact]
    public async Task Acknowledge_RolledBackRelease_IsNoLongerAnIncident_AndSaysWhoWhenAndWhy()
    {
        await AddAsync("d-2", DeploymentKind.Deploy, DeploymentState.Succeeded, 2, 1, 0);
        await AddAsync("d-3", DeploymentKind.Deploy, DeploymentState.RolledBack, 3, 2, 1, "analysis failed: error rate 28.6% > 5%");
        await AddAsync("d-rb", DeploymentKind.Rollback, DeploymentState.Succeeded, 2, 3, 2);
        (await ReleaseStatus.ReadAsync(_store, "web", CancellationToken.None)).ShouldNotBeNull().IsIncident.ShouldBeTrue();

        var acknowledged = await _plane.AcknowledgeAsync("web", "looking into the error rate", "api:alice", CancellationToken.None);

        acknowledged.State.ShouldBe(ReleaseState.RolledBack);
        acknowledged.IsIncident.ShouldBeFalse();
        acknowledged.Acknowledged.ShouldNotBeNull();
        acknowledged.Acknowledged.By.ShouldBe("api:alice");
        acknowledged.Acknowledged.Note.ShouldBe("looking into the error rate");
        acknowledged.Acknowledged.At.ShouldBe(_time.GetUtcNow());
        var read = (await ReleaseStatus.ReadAsync(_store, "web", CancellationToken.None)).ShouldNotBeNull();
        read.IsIncident.ShouldBeFalse();
        read.Describe(_time.GetUtcNow().AddSeconds(5)).ShouldBe(
            "r3 rolled back 8 min ago: analysis failed: error rate 28.6% > 5% (acknowledged by api:alice 5 s ago: looking into the error rate)");
        var events = await _store.ListEventsAsync("d-3", 0, CancellationToken.None);
        events[^1].Type.ShouldBe(ReleaseStatus.AcknowledgedEvent);
        events[^1].Message.ShouldContain("api:alice");
    }

    [Fact]
    public async Task Acknowledge_ALaterReleaseFails_IsAnIncidentAgain()
    {
        await AddAsync("d-3", DeploymentKind.Deploy, DeploymentState.Failed, 3, 2, 1, "only 0 of 2 instances became healthy");
        await _plane.AcknowledgeAsync("web", null, "api:alice", CancellationToken.None);
        await AddAsync("d-4", DeploymentKind.Deploy, DeploymentState.RolledBack, 4, 2, 3, "alarm web-5xx fired");

        var read = (await ReleaseStatus.ReadAsync(_store, "web", CancellationToken.None)).ShouldNotBeNull();
        read.DeploymentId.ShouldBe("d-4");
        read.IsIncident.ShouldBeTrue();
        read.Acknowledged.ShouldBeNull();
    }

    [Fact]
    public async Task Acknowledge_NothingToAcknowledge_IsRefusedSayingWhy_AndWritesNothing()
    {
        await AddAsync("d-2", DeploymentKind.Deploy, DeploymentState.Succeeded, 2, 1, 0);

        var error = await Should.ThrowAsync<InvalidRequestException>(() => _plane.AcknowledgeAsync("web", null, "api:alice", CancellationToken.None));
        error.Message.ShouldBe("Nothing to acknowledge: the latest release of 'web' (r2, d-2) succeeded.");
        (await _store.ListEventsAsync("d-2", 0, CancellationToken.None)).ShouldBeEmpty();
        await Should.ThrowAsync<InvalidRequestException>(() => _plane.AcknowledgeAsync("nope", null, "api:alice", CancellationToken.None));
    }

    [Fact]
    public async Task Acknowledge_Twice_KeepsTheFirstAndSaysSo()
    {
        await AddAsync("d-3", DeploymentKind.Deploy, DeploymentState.RolledBack, 3, 2, 1, "analysis failed");
        await _plane.AcknowledgeAsync("web", "mine", "api:alice", CancellationToken.None);

        var error = await Should.ThrowAsync<InvalidRequestException>(() => _plane.AcknowledgeAsync("web", "again", "api:bob", CancellationToken.None));
        error.Message.ShouldStartWith("r3 of 'web' was acknowledged already by api:alice");
        (await _store.ListEventsAsync("d-3", 0, CancellationToken.None)).Count.ShouldBe(1);
    }
}
