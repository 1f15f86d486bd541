using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>The record a platform keeps of the latest deployment, and a store filled from it.</summary>
public sealed class ImportTests
{
    private const string Web = EngineHarness.ServiceName;

    private static readonly DeploymentMark Paused = new()
    {
        Id = "d-7h3k9m2p",
        Kind = DeploymentKind.Deploy,
        State = DeploymentState.Paused,
        Strategy = "canary",
        StableRevision = 2,
        TargetRevision = 4,
        CurrentStep = 3,
        StepPhase = StepPhase.Started,
        TotalSteps = 0,
        TargetWeight = 20,
        StableCountBefore = 3,
        TestTrafficOnTarget = true,
        CreatedAt = DateTimeOffset.FromUnixTimeSeconds(1_790_000_000),
    };

    [Fact]
    public void Mark_EncodedThenDecoded_IsTheSameAndFitsAnAwsTagValue()
    {
        var mark = Paused with { Kind = DeploymentKind.Rollback, RollbackOf = "d-abcdefgh", StableRevision = null };

        var text = mark.Encode();

        DeploymentMark.Decode(text).ShouldBe(mark);
        text.Length.ShouldBeLessThan(256);
        text.ShouldAllBe(c => char.IsLetterOrDigit(c) || c == ' ' || c == '=' || c == '-' || c == ':' || c == '.');
    }

    [Fact]
    public void Mark_OfABlueGreenKeepingItsPreviousRevisionWarm_CarriesTheWindowRoundedUpToTheSecond()
    {
        var warm = Paused with { State = DeploymentState.Succeeded, Strategy = "blueGreen", WarmUntil = DateTimeOffset.FromUnixTimeSeconds(1_790_000_300) };

        DeploymentMark.Decode(warm.Encode()).ShouldBe(warm);
        DeploymentMark.Decode((warm with { WarmUntil = warm.WarmUntil!.Value.AddMilliseconds(200) }).Encode()).WarmUntil.ShouldBe(DateTimeOffset.FromUnixTimeSeconds(1_790_000_301));
        DeploymentMark.Decode(Paused.Encode()).WarmUntil.ShouldBeNull();
    }

    [Fact]
    public async Task Import_SucceededMarkKeepingItsPreviousRevisionWarm_RecordsTheOpenWindowForTheEngineToRetire()
    {
        await using var harness = new EngineHarness();
        var spec = Specs.Service(Specs.BlueGreen(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5)));
        var until = harness.Time.GetUtcNow().AddMinutes(4);
        var mark = Paused with { State = DeploymentState.Succeeded, Strategy = "blueGreen", WarmUntil = until };

        var result = await harness.Requests.ImportAsync(spec, [Revision(2, "app:2"), Revision(4, "app:4")], mark, serving: 4, "ci", CancellationToken.None);

        result.StableRevision.ShouldBe(4);
        var deployment = harness.Store.Deployment(Paused.Id);
        deployment.WarmUntil.ShouldBe(until);
        deployment.WarmRevision.ShouldBe(2, "a new deployment retires it first; an engine retires it when the window ends");
        (await harness.Store.ListWarmDeploymentsAsync(CancellationToken.None)).Select(d => d.Id).ShouldBe([Paused.Id]);
    }

    [Theory]
    [InlineData("id=d-1 kind=Deploy", "'state=' is missing")]
    [InlineData("id=d-1 kind=Sideways state=Paused", "kind=Sideways is not one of Deploy, Rollback, Reset")]
    [InlineData("garbage", "'garbage' is not key=value")]
    public void Decode_BadText_SaysWhichPartIsWrong(string text, string message)
    {
        Should.Throw<FormatException>(() => DeploymentMark.Decode(text)).Message.ShouldContain(message);
    }

    [Fact]
    public async Task Import_PausedCanaryWithGapsInItsRevisions_RecordsNumbersAsOnThePlatformAndTheDeploymentWhereItStands()
    {
        await using var harness = new EngineHarness();
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(), Specs.Weight(100)));
        var steps = PlanBuilder.ForDeployment(spec, hasStable: true).Actions.Count;

        var result = await harness.Requests.ImportAsync(spec, [Revision(2, "app:2"), Revision(4, "app:4")], Paused with { TotalSteps = steps }, serving: 2, "ci", CancellationToken.None);

        result.StableRevision.ShouldBe(2);
        var revisions = harness.Store.Revisions(Web).OrderBy(r => r.Number).ToList();
        revisions.Select(r => (r.Number, r.Removed)).ShouldBe([(1, true), (2, false), (3, true), (4, false)]);
        revisions[3].Image.ShouldBe("app:4");
        var deployment = harness.Store.Deployment(Paused.Id);
        deployment.State.ShouldBe(DeploymentState.Paused);
        deployment.CurrentStep.ShouldBe(3);
        deployment.TargetWeight.ShouldBe(20);
        deployment.TotalSteps.ShouldBe(steps);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(2);
        harness.Store.Events(Paused.Id).ShouldHaveSingleItem().Type.ShouldBe("Imported");
    }

    [Fact]
    public async Task Import_SpecWithAnotherPlanThanTheDeployment_RefusesAndRecordsNothing()
    {
        await using var harness = new EngineHarness();
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(), Specs.Weight(100)));

        var refused = await Should.ThrowAsync<InvalidRequestException>(() =>
            harness.Requests.ImportAsync(spec, [Revision(2, "app:2"), Revision(4, "app:4")], Paused with { TotalSteps = 99 }, serving: 2, "ci", CancellationToken.None));

        refused.Message.ShouldContain("has 99 steps");
        refused.Message.ShouldContain("nothing was imported");
        harness.Store.Service(Web).ShouldBeNull();
        harness.Store.Revisions(Web).ShouldBeEmpty();
    }

    [Fact]
    public async Task Import_MarkNamingARevisionWithoutDefinition_RecordsTheRestAndSaysWhatItLeftOut()
    {
        await using var harness = new EngineHarness();
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Pause(), Specs.Weight(100)));
        var stopped = Paused with { State = DeploymentState.Stopped, TargetRevision = 5 };

        var result = await harness.Requests.ImportAsync(spec, [Revision(2, "app:2"), Revision(4, "app:4")], stopped, serving: null, "ci", CancellationToken.None);

        result.Deployment.ShouldBeNull();
        result.Skipped.ShouldNotBeNull().ShouldContain($"deployment {stopped.Id}");
        result.Skipped.ShouldContain("revision 5 has no definition");
        result.StableRevision.ShouldBe(2, "the stable revision the mark names still has its definition");
        harness.Store.Revisions(Web).Where(r => !r.Removed).Select(r => r.Number).Order().ShouldBe([2, 4]);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(2);
    }

    [Fact]
    public async Task Run_Canary_TellsThePlatformEachStateAndStepOnceNotEveryProgressSave()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();
        await harness.DeployAsync(Specs.Service(instances: 2));
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.PauseMs(300), Specs.Weight(100)), instances: 2);

        var deployment = await harness.DeployAsync(spec, r => harness.Platform.SetTraffic(Web, r, new TrafficProfile()));

        deployment.State.ShouldBe(DeploymentState.Succeeded);
        var marks = harness.Platform.Marks.Where(m => m.Id == deployment.Id).ToList();
        marks[^1].State.ShouldBe(DeploymentState.Succeeded);
        marks[^1].TargetWeight.ShouldBe(100);
        marks.Select(m => (m.State, m.CurrentStep)).ShouldBeUnique();
        marks.Count.ShouldBeLessThanOrEqualTo(deployment.TotalSteps + 2, "one per step, plus starting and ending");
    }

    private static Revision Revision(int number, string image) => new() { Service = Web, Number = number, Image = image, Port = 8080 };
}
