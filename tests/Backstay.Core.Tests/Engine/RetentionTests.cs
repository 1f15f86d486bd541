using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

public sealed class RetentionTests
{
    private const string Web = EngineHarness.ServiceName;

    private static readonly TimeSpan Timeout = EngineHarness.RealTimeout;

    [Fact]
    public async Task RunAsync_KeepTwoAfterFiveDeployments_RemovesOnlyRevisionsOlderThanTheLastTwoPrevious()
    {
        await using var harness = new EngineHarness();
        await harness.StartEngineAsync();

        for (var i = 0; i < 5; i++)
        {
            var deployment = await harness.DeployAsync(Specs.Service(Specs.Rolling(), keepPrevious: 2));
            deployment.State.ShouldBe(DeploymentState.Succeeded);
        }

        var revisions = harness.Store.Revisions(Web);
        revisions.Where(r => r.Removed).Select(r => r.Number).ShouldBe([1, 2]);
        revisions.Where(r => !r.Removed).Select(r => r.Number).ShouldBe([3, 4, 5]);
        harness.Store.Service(Web)!.StableRevision.ShouldBe(5);
        var last = harness.Store.AllDeployments[^1];
        harness.Store.Events(last.Id).ShouldContain(e => e.Type == "RevisionsRemoved" && e.Message.Contains("revision(s) 2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ApplyAsync_RevisionStillRunning_NeverRemoved()
    {
        await using var harness = new EngineHarness();
        await AddRevisionsAsync(harness.Store, 5);

        var removed = await Retention.ApplyAsync(harness.Store, Web, keepPrevious: 2, stable: 5, running: new HashSet<int> { 1, 5 }, CancellationToken.None)
            .WaitAsync(Timeout);

        removed.ShouldBe([2]);
        harness.Store.Revisions(Web).Where(r => r.Removed).Select(r => r.Number).ShouldBe([2]);
    }

    [Fact]
    public async Task ApplyAsync_RevisionOfActiveDeployment_NeverRemoved()
    {
        await using var harness = new EngineHarness();
        await AddRevisionsAsync(harness.Store, 5);
        await harness.Store.CreateDeploymentAsync(new Deployment
        {
            Id = "d-ACTIVE",
            Service = Web,
            Kind = DeploymentKind.Rollback,
            Strategy = "rollback",
            StableRevision = 5,
            TargetRevision = 1,
            State = DeploymentState.InProgress,
        }, CancellationToken.None).WaitAsync(Timeout);

        var removed = await Retention.ApplyAsync(harness.Store, Web, keepPrevious: 2, stable: 5, running: new HashSet<int>(), CancellationToken.None)
            .WaitAsync(Timeout);

        removed.ShouldBe([2]);
    }

    [Fact]
    public async Task ApplyAsync_StableAndNewerRevisions_NeverRemoved()
    {
        await using var harness = new EngineHarness();
        await AddRevisionsAsync(harness.Store, 6);

        // Revision 3 is stable again after a rollback; 4 to 6 are newer and stay.
        var removed = await Retention.ApplyAsync(harness.Store, Web, keepPrevious: 1, stable: 3, running: new HashSet<int>(), CancellationToken.None)
            .WaitAsync(Timeout);

        removed.ShouldBe([1]);
        harness.Store.Revisions(Web).Where(r => !r.Removed).Select(r => r.Number).ShouldBe([2, 3, 4, 5, 6]);
    }

    [Fact]
    public async Task ApplyAsync_AlreadyRemoved_NotReported()
    {
        await using var harness = new EngineHarness();
        await AddRevisionsAsync(harness.Store, 4);
        await Retention.ApplyAsync(harness.Store, Web, keepPrevious: 1, stable: 4, running: new HashSet<int>(), CancellationToken.None).WaitAsync(Timeout);

        var again = await Retention.ApplyAsync(harness.Store, Web, keepPrevious: 1, stable: 4, running: new HashSet<int>(), CancellationToken.None)
            .WaitAsync(Timeout);

        again.ShouldBeEmpty();
    }

    private static async Task AddRevisionsAsync(InMemoryStateStore store, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await store.AddRevisionAsync(new Revision { Service = Web, Image = $"hello:{i}" }, CancellationToken.None).WaitAsync(Timeout);
        }
    }
}
