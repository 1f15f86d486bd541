using Backstay.Core.Control;
using Backstay.Core.Model;

namespace Backstay.Core.Tests.Control;

public sealed class ReleaseStatusTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 5, 8, 0, 0, TimeSpan.Zero);

    private static Deployment D(string id, DeploymentKind kind, DeploymentState state, int target, int? stable, int minute, string? reason = null, string? rollbackOf = null) => new()
    {
        Id = id,
        Service = "web",
        Kind = kind,
        Strategy = kind == DeploymentKind.Deploy ? "canary" : "rollback",
        State = state,
        TargetRevision = target,
        StableRevision = stable,
        Reason = reason,
        RollbackOf = rollbackOf,
        CreatedAt = T0.AddMinutes(minute),
        UpdatedAt = T0.AddMinutes(minute),
        FinishedAt = state.IsActive() ? null : T0.AddMinutes(minute).AddSeconds(30),
    };

    [Fact]
    public void Of_ReleaseRolledBackAutomatically_IsAnIncidentThoughItsRollbackSucceeded()
    {
        var status = ReleaseStatus.Of([
            D("d-rb", DeploymentKind.Rollback, DeploymentState.Succeeded, 2, 3, 2, rollbackOf: "d-3"),
            D("d-3", DeploymentKind.Deploy, DeploymentState.RolledBack, 3, 2, 1, "analysis failed: error rate 28.6% > 5%"),
            D("d-2", DeploymentKind.Deploy, DeploymentState.Succeeded, 2, 1, 0)]).ShouldNotBeNull();

        status.State.ShouldBe(ReleaseState.RolledBack);
        status.IsIncident.ShouldBeTrue();
        status.Revision.ShouldBe(3);
        status.DeploymentId.ShouldBe("d-3");
        status.Describe(T0.AddMinutes(1).AddSeconds(40)).ShouldBe("r3 rolled back 10 s ago: analysis failed: error rate 28.6% > 5%");
    }

    [Fact]
    public void Of_ALaterReleaseSucceeded_IsNoLongerAnIncident()
    {
        var status = ReleaseStatus.Of([
            D("d-4", DeploymentKind.Deploy, DeploymentState.Succeeded, 4, 2, 3),
            D("d-rb", DeploymentKind.Rollback, DeploymentState.Succeeded, 2, 3, 2, rollbackOf: "d-3"),
            D("d-3", DeploymentKind.Deploy, DeploymentState.RolledBack, 3, 2, 1, "analysis failed")]).ShouldNotBeNull();

        status.State.ShouldBe(ReleaseState.Succeeded);
        status.IsIncident.ShouldBeFalse();
        status.Reason.ShouldBeNull();
    }

    [Fact]
    public void Of_SucceededReleaseRolledBackByAPerson_IsRolledBackWithTheirReason()
    {
        var status = ReleaseStatus.Of([
            D("d-rb", DeploymentKind.Rollback, DeploymentState.Succeeded, 1, 2, 5, "manual rollback to revision 1 requested by erin"),
            D("d-2", DeploymentKind.Deploy, DeploymentState.Succeeded, 2, 1, 0)]).ShouldNotBeNull();

        status.State.ShouldBe(ReleaseState.RolledBack);
        status.Revision.ShouldBe(2);
        status.Reason.ShouldBe("manual rollback to revision 1 requested by erin");
    }

    [Fact]
    public void Of_ResetAfterARelease_LeavesTheReleaseAsItWas()
    {
        var status = ReleaseStatus.Of([
            D("d-reset", DeploymentKind.Reset, DeploymentState.Succeeded, 2, null, 5),
            D("d-2", DeploymentKind.Deploy, DeploymentState.Failed, 2, null, 0, "only 0 of 3 instances became healthy")]).ShouldNotBeNull();

        status.State.ShouldBe(ReleaseState.Failed);
        status.IsIncident.ShouldBeTrue();
    }

    [Fact]
    public void Of_NoReleaseYet_IsNull()
    {
        ReleaseStatus.Of([D("d-reset", DeploymentKind.Reset, DeploymentState.Succeeded, 1, null, 0)]).ShouldBeNull();
        ReleaseStatus.Of([]).ShouldBeNull();
    }
}
