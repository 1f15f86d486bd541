using Backstay.Cli.Infrastructure;
using Backstay.Core.Model;

namespace Backstay.Cli.Tests;

/// <summary>Which revisions the interactive rollback dialog offers, in what order, and what it says differs.</summary>
public sealed class RollbackPickerTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Offer_AfterTheNewestWasRolledBack_OffersTheLastGoodOneFirstAndTheFailedOneLast()
    {
        var revisions = new[] { Revision(3), Revision(2), Revision(1) };
        var history = new[]
        {
            Deployment("d3b", 2, DeploymentState.Succeeded, DeploymentKind.Rollback),
            Deployment("d3", 3, DeploymentState.RolledBack),
            Deployment("d2", 2, DeploymentState.Succeeded),
            Deployment("d1", 1, DeploymentState.Succeeded),
        };

        var offered = RollbackPicker.Offer(revisions, history, stable: 2, last: 5);

        offered.Select(c => c.Revision.Number).ShouldBe([1, 3]);
        offered[0].Served.ShouldBeTrue();
        offered[1].Served.ShouldBeFalse();
        offered[1].Mark.ShouldBe("rolled back");
    }

    [Fact]
    public void Offer_OnlyFailedRevisionsBesideTheStable_OffersNoneThatServed()
    {
        var revisions = new[] { Revision(2), Revision(1) };
        var history = new[]
        {
            Deployment("d2b", 1, DeploymentState.Succeeded, DeploymentKind.Rollback),
            Deployment("d2", 2, DeploymentState.RolledBack),
            Deployment("d1", 1, DeploymentState.Succeeded),
        };

        var offered = RollbackPicker.Offer(revisions, history, stable: 1, last: 5);

        offered.ShouldHaveSingleItem().Served.ShouldBeFalse();
    }

    [Fact]
    public void Difference_NamesImageDigestAndEnvironmentKeysButNoValues()
    {
        var current = Revision(2) with { Digest = "sha256:aaaaaaaaaaaaaaaaaaaa", Env = new Dictionary<string, string> { ["A"] = "1", ["B"] = "secret" } };
        var other = Revision(1) with { Image = "hello:1", Digest = "sha256:bbbbbbbbbbbbbbbbbbbb", Env = new Dictionary<string, string> { ["B"] = "other", ["C"] = "3" } };

        RollbackPicker.Difference(current, other).ShouldBe("image hello:2 -> hello:1; digest sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb; env -A +C ~B");
        RollbackPicker.Difference(current, current).ShouldBe("same image and environment");
    }

    private static Revision Revision(int number) => new() { Service = "web", Number = number, Image = "hello:2", CreatedAt = At };

    private static Deployment Deployment(string id, int target, DeploymentState state, DeploymentKind kind = DeploymentKind.Deploy) => new()
    {
        Id = id,
        Service = "web",
        Kind = kind,
        Strategy = "canary",
        TargetRevision = target,
        State = state,
        CreatedAt = At,
        UpdatedAt = At,
    };
}
