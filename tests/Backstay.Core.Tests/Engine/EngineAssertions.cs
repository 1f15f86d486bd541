using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>Checks shared by the engine tests.</summary>
public static class EngineAssertions
{
    /// <summary>Every step of the deployment's plan was journaled Started, then Completed, and none is missing.</summary>
    public static void ShouldHaveCompletedEveryStep(this InMemoryStateStore store, Deployment deployment)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(deployment);
        var journal = store.Journal(deployment.Id);
        deployment.TotalSteps.ShouldBeGreaterThan(0);
        for (var step = 0; step < deployment.TotalSteps; step++)
        {
            var entries = journal.Where(e => e.Step == step).ToList();
            var started = entries.FindIndex(e => e.Phase == StepPhase.Started);
            var completed = entries.FindLastIndex(e => e.Phase == StepPhase.Completed);
            started.ShouldBeGreaterThanOrEqualTo(0, $"step {step} of {deployment.Id} was never journaled Started");
            completed.ShouldBeGreaterThan(started, $"step {step} of {deployment.Id} was never journaled Completed after it Started");
        }

        journal.Select(e => e.Step).ShouldAllBe(s => s >= 0 && s < deployment.TotalSteps);
    }

    /// <summary>The timeline of a run that was not interrupted: started, each step once and in order, then the outcome.</summary>
    public static void ShouldHaveTimelineInOrder(this InMemoryStateStore store, Deployment deployment, string first, string last)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(deployment);
        var events = store.Events(deployment.Id);
        events.Select(e => e.Sequence).ShouldBeInOrder(SortDirection.Ascending);
        events.Select(e => e.At).ShouldBeInOrder(SortDirection.Ascending);
        events[0].Type.ShouldBe(first);
        var steps = events.Where(e => e.Type == "StepStarted").Select(e => e.Step).ToList();
        steps.ShouldBe(Enumerable.Range(0, deployment.TotalSteps).Select(i => (int?)i).ToList());
        var outcome = events.ToList().FindIndex(e => e.Type == last);
        outcome.ShouldBeGreaterThan(events.ToList().FindLastIndex(e => e.Type == "StepStarted"), $"{last} comes after the last step");
        // The end of a blue/green warm window comes later, on the timeline of the deployment that opened it.
        events.Skip(outcome + 1).Select(e => e.Type).Where(t => t is not ("Retired" or "WarmEnded")).ShouldBeEmpty($"{last} is the last event");
    }

    /// <summary>Only the revision serves production traffic, and it runs at the count.</summary>
    public static void ShouldServeOnly(this FakePlatform platform, int revision, int count, params int[] others)
    {
        ArgumentNullException.ThrowIfNull(platform);
        var weights = platform.WeightsNow(EngineHarness.ServiceName);
        weights.GetValueOrDefault(revision).ShouldBe(100, $"production weights are {string.Join(", ", weights)}");
        weights.Where(w => w.Key != revision).ShouldAllBe(w => w.Value == 0);
        platform.DesiredCount(EngineHarness.ServiceName, revision).ShouldBe(count);
        foreach (var other in others)
        {
            platform.DesiredCount(EngineHarness.ServiceName, other).ShouldBe(0, $"revision {other} should be scaled to 0");
        }
    }

    public static IReadOnlyList<WeightOperation> ProductionWeightChanges(this FakePlatform platform)
    {
        ArgumentNullException.ThrowIfNull(platform);
        return [.. platform.Operations.OfType<WeightOperation>().Where(o => o.Listener == Listener.Production)];
    }
}
