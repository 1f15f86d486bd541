using Backstay.Core.Engine;
using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Engine;

public sealed class PlanBuilderTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    [Fact]
    public void ForDeployment_RollingBatchOneOverThree_ScaleWeightScaleTriplesEndingAtFullWeight()
    {
        var plan = PlanBuilder.ForDeployment(Specs.Service(Specs.Rolling(batch: 1), instances: 3, testListener: "127.0.0.1:8081"), hasStable: true);

        plan.Actions.ShouldBe(
        [
            new ScaleAction(Role.Target, 1, WaitHealthy: true), new WeightAction(33), new ScaleAction(Role.Stable, 2, WaitHealthy: false),
            new ScaleAction(Role.Target, 2, WaitHealthy: true), new WeightAction(67), new ScaleAction(Role.Stable, 1, WaitHealthy: false),
            new ScaleAction(Role.Target, 3, WaitHealthy: true), new WeightAction(100), new ScaleAction(Role.Stable, 0, WaitHealthy: false),
            new TestTrafficAction(ToTarget: true),
        ]);
        plan.DesiredCount.ShouldBe(3);
    }

    [Fact]
    public void ForDeployment_RollingBatchLargerThanRest_LastBatchTakesTheRest()
    {
        var plan = PlanBuilder.ForDeployment(Specs.Service(Specs.Rolling(batch: 2), instances: 5), hasStable: true);

        plan.Actions.OfType<ScaleAction>().Where(a => a.Role == Role.Target).Select(a => a.Count).ShouldBe([2, 4, 5]);
        plan.Actions.OfType<WeightAction>().Select(a => a.TargetWeight).ShouldBe([40, 80, 100]);
        plan.Actions.OfType<ScaleAction>().Where(a => a.Role == Role.Stable).Select(a => a.Count).ShouldBe([3, 1, 0]);
    }

    [Fact]
    public void ForDeployment_BlueGreen_TestTrafficBeforeProductionAndPreviousKeptWarmBeforeScaledDown()
    {
        var keep = TimeSpan.FromMinutes(5);
        var spec = Specs.Service(Specs.BlueGreen(bake: TimeSpan.FromSeconds(30), keepPreviousFor: keep), testListener: "127.0.0.1:8081");

        var actions = PlanBuilder.ForDeployment(spec, hasStable: true).Actions;

        actions.ShouldBe(
        [
            new ScaleAction(Role.Target, 3, WaitHealthy: true),
            new TestTrafficAction(ToTarget: true),
            new WeightAction(100),
            new WaitAction(TimeSpan.FromSeconds(30), "bake"),
            new WaitAction(keep, "keep previous warm"),
            new ScaleAction(Role.Stable, 0, WaitHealthy: false),
        ]);
    }

    [Fact]
    public void ForDeployment_BlueGreenWithTestTrafficOff_TheTestListenerFollowsAtTheEnd()
    {
        var spec = Specs.Service(Specs.BlueGreen(bake: TimeSpan.Zero, keepPreviousFor: Second, testTraffic: false), testListener: "127.0.0.1:8081");

        var actions = PlanBuilder.ForDeployment(spec, hasStable: true).Actions;

        actions.ShouldBe(
        [
            new ScaleAction(Role.Target, 3, WaitHealthy: true),
            new WeightAction(100),
            new WaitAction(Second, "keep previous warm"),
            new ScaleAction(Role.Stable, 0, WaitHealthy: false),
            new TestTrafficAction(ToTarget: true),
        ]);
    }

    [Theory]
    [InlineData("rolling", true)]
    [InlineData("blueGreen", true)]
    [InlineData("canary", true)]
    [InlineData("linear", true)]
    [InlineData("phased", true)]
    [InlineData("rolling", false)]
    public void ForDeploymentRollbackAndRecreate_NoTestListener_ListNoTestTrafficStep(string strategy, bool hasStable)
    {
        var spec = Specs.Service(StrategyOf(strategy), instances: 4);

        var deployment = PlanBuilder.ForDeployment(spec, hasStable);
        var rollback = PlanBuilder.ForRollback(deployment, stableCountBefore: 4, reachedPhase: 1);
        var recreate = PlanBuilder.ForRecreate(spec, 4);

        deployment.Actions.OfType<TestTrafficAction>().ShouldBeEmpty("a step that would do nothing is not listed");
        rollback.Actions.OfType<TestTrafficAction>().ShouldBeEmpty();
        recreate.Actions.OfType<TestTrafficAction>().ShouldBeEmpty();
    }

    [Fact]
    public void ForDeployment_Canary_MapsStepsAndAppendsFullWeight()
    {
        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(5), MinRequests = 50 };
        var spec = Specs.Service(Specs.Canary(Specs.Weight(10), new AnalysisStep(analysis), Specs.Weight(50), Specs.Pause()), testListener: "127.0.0.1:8081");

        var actions = PlanBuilder.ForDeployment(spec, hasStable: true).Actions;

        actions.ShouldBe(
        [
            new ScaleAction(Role.Target, 3, WaitHealthy: true),
            new WeightAction(10),
            new AnalysisAction(analysis),
            new WeightAction(50),
            new PauseAction(null),
            new WeightAction(100),
            new ScaleAction(Role.Stable, 0, WaitHealthy: false),
            new TestTrafficAction(ToTarget: true),
        ]);
    }

    [Fact]
    public void ForDeployment_CanaryEndingAtFullWeight_DoesNotAddAnotherWeightStep()
    {
        var spec = Specs.Service(Specs.Canary(Specs.Weight(20), Specs.Weight(100)));

        var actions = PlanBuilder.ForDeployment(spec, hasStable: true).Actions;

        actions.OfType<WeightAction>().Select(a => a.TargetWeight).ShouldBe([20, 100]);
    }

    [Fact]
    public void ForDeployment_Linear_ExpandsToWeightAndPauseSteps()
    {
        var spec = Specs.Service(Specs.Linear(stepPercent: 30, interval: TimeSpan.FromMinutes(1)), testListener: "127.0.0.1:8081");

        var actions = PlanBuilder.ForDeployment(spec, hasStable: true).Actions;

        var minute = new PauseAction(TimeSpan.FromMinutes(1));
        actions.ShouldBe(
        [
            new ScaleAction(Role.Target, 3, WaitHealthy: true),
            new WeightAction(30), minute,
            new WeightAction(60), minute,
            new WeightAction(90), minute,
            new WeightAction(100),
            new ScaleAction(Role.Stable, 0, WaitHealthy: false),
            new TestTrafficAction(ToTarget: true),
        ]);
    }

    [Fact]
    public void ForDeployment_Phased_CountsRoundUpAndOnlyGrow()
    {
        var spec = Specs.Service(Specs.Phased(TimeSpan.FromSeconds(30), 10, 30, 60, 100), instances: 5, testListener: "127.0.0.1:8081");

        var actions = PlanBuilder.ForDeployment(spec, hasStable: true).Actions;

        var targetCounts = actions.OfType<ScaleAction>().Where(a => a.Role == Role.Target).Select(a => a.Count).ToList();
        targetCounts.ShouldBe([1, 2, 3, 5]);
        actions.OfType<ScaleAction>().Where(a => a.Role == Role.Stable).Select(a => a.Count).ShouldBe([4, 3, 2, 0]);
        actions.OfType<WeightAction>().Select(a => a.TargetWeight).ShouldBe([10, 30, 60, 100]);
        actions.OfType<WaitAction>().Count().ShouldBe(3, "a pause between phases, none after the last");
        actions[^1].ShouldBe(new TestTrafficAction(ToTarget: true));
    }

    [Theory]
    [InlineData(1, 4, 1)]
    [InlineData(25, 4, 1)]
    [InlineData(26, 4, 2)]
    [InlineData(34, 3, 2)]
    [InlineData(100, 3, 3)]
    [InlineData(1, 1, 1)]
    public void PhaseCount_Percent_RoundsUpToAtLeastOne(int percent, int instances, int expected) =>
        PlanBuilder.PhaseCount(percent, instances).ShouldBe(expected);

    [Theory]
    [InlineData("rolling")]
    [InlineData("blueGreen")]
    [InlineData("canary")]
    [InlineData("linear")]
    [InlineData("phased")]
    public void ForDeployment_FirstDeployment_ScaleAndFullWeightWhateverTheStrategy(string strategy)
    {
        var spec = Specs.Service(StrategyOf(strategy), instances: 4, testListener: "127.0.0.1:8081");

        var plan = PlanBuilder.ForDeployment(spec, hasStable: false);

        plan.Actions.ShouldBe(
        [
            new ScaleAction(Role.Target, 4, WaitHealthy: true),
            new TestTrafficAction(ToTarget: true),
            new WeightAction(100),
        ]);
    }

    [Fact]
    public void ForRollback_StableHasHealthyInstances_TrafficFirstThenPreDeploymentCountThenFailedToZero()
    {
        var undone = PlanBuilder.ForDeployment(Specs.Service(Specs.Canary(Specs.Weight(10)), instances: 5), hasStable: true);

        var rollback = PlanBuilder.ForRollback(undone, stableCountBefore: 2, reachedPhase: 0);

        rollback.Actions[0].ShouldBe(new WeightAction(100), "traffic goes back first, in one step");
        rollback.Actions.ShouldBe(
        [
            new WeightAction(100),
            new ScaleAction(Role.Target, 2, WaitHealthy: true),
            new ScaleAction(Role.Stable, 0, WaitHealthy: false),
        ]);
        rollback.DesiredCount.ShouldBe(2, "the stable revision's pre-deployment count, not the failed deployment's 5");
    }

    [Fact]
    public void ForRollback_AnyStableHealth_TrafficFirstThePlanDoesNotGuess()
    {
        var undone = PlanBuilder.ForDeployment(Specs.Service(Specs.Rolling(), instances: 3), hasStable: true);

        var rollback = PlanBuilder.ForRollback(undone, stableCountBefore: 3, reachedPhase: 0);

        // Whether the stable revision has a healthy instance is decided when the traffic step runs, not when the plan is made.
        rollback.Actions.ShouldBe(
        [
            new WeightAction(100),
            new ScaleAction(Role.Target, 3, WaitHealthy: true),
            new ScaleAction(Role.Stable, 0, WaitHealthy: false),
        ]);
    }

    [Fact]
    public void ForRollback_WithTestListener_TestTrafficBackToTheRestoredRevision()
    {
        var undone = PlanBuilder.ForDeployment(
            Specs.Service(Specs.BlueGreen(Second, Second), testListener: "127.0.0.1:8081"), hasStable: true);

        var rollback = PlanBuilder.ForRollback(undone, stableCountBefore: 3, reachedPhase: 0);

        rollback.Actions[0].ShouldBe(new WeightAction(100));
        rollback.Actions[^1].ShouldBe(new TestTrafficAction(ToTarget: true));
    }

    [Fact]
    public void ForRollback_PhasedPhaseByPhase_TrafficFirstThenCapacityThroughThePhasesInReverse()
    {
        var spec = Specs.Service(Specs.Phased(TimeSpan.Zero, 25, 50, 100), instances: 4);
        var undone = PlanBuilder.ForDeployment(spec, hasStable: true);

        var rollback = PlanBuilder.ForRollback(undone, stableCountBefore: 4, reachedPhase: 2);

        // In the rollback the old stable revision is the Target and the failed one the Stable.
        rollback.Actions.ShouldBe(
        [
            new WeightAction(100),
            new ScaleAction(Role.Target, 3, WaitHealthy: true), new ScaleAction(Role.Stable, 1, WaitHealthy: false),
            new ScaleAction(Role.Target, 4, WaitHealthy: true), new ScaleAction(Role.Stable, 0, WaitHealthy: false),
        ]);
    }

    [Fact]
    public void ForRollback_PhasedAllPhasesAtOnce_TrafficBackInOneStep()
    {
        var spec = Specs.Service(Specs.Phased(TimeSpan.Zero, 25, 50, 100), instances: 4, rollback: new RollbackSpec { AllPhasesAtOnce = true });
        var undone = PlanBuilder.ForDeployment(spec, hasStable: true);

        var rollback = PlanBuilder.ForRollback(undone, stableCountBefore: 4, reachedPhase: 2);

        rollback.Actions.ShouldBe(
        [
            new WeightAction(100),
            new ScaleAction(Role.Target, 4, WaitHealthy: true),
            new ScaleAction(Role.Stable, 0, WaitHealthy: false),
        ]);
    }

    [Fact]
    public void PhasesReached_PhasedPlan_CountsWeightStepsReached()
    {
        var plan = PlanBuilder.ForDeployment(Specs.Service(Specs.Phased(TimeSpan.Zero, 25, 50, 100), instances: 4), hasStable: true);

        // Actions: 0 scale, 1 weight 25, 2 scale, 3 scale, 4 weight 50, ...
        PlanBuilder.PhasesReached(plan, currentStep: 0).ShouldBe(1);
        PlanBuilder.PhasesReached(plan, currentStep: 1).ShouldBe(1);
        PlanBuilder.PhasesReached(plan, currentStep: 4).ShouldBe(2);
    }

    [Fact]
    public void ToJson_CanaryPlan_RoundTripsEveryAction()
    {
        var analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(5), MaxLatencyP99 = TimeSpan.FromMilliseconds(300) };
        var plan = PlanBuilder.ForDeployment(
            Specs.Service(Specs.Canary(Specs.Weight(10), new AnalysisStep(analysis), Specs.Pause(Second), Specs.Pause())), hasStable: true);

        var copy = DeploymentPlan.FromJson(plan.ToJson());

        copy.Actions.ShouldBe(plan.Actions);
        copy.Spec.Strategy.Canary!.Steps.ShouldBe(plan.Spec.Strategy.Canary!.Steps);
    }

    private static StrategySpec StrategyOf(string kind) => kind switch
    {
        "blueGreen" => Specs.BlueGreen(Second, Second),
        "canary" => Specs.Canary(Specs.Weight(10), Specs.Pause()),
        "linear" => Specs.Linear(25, Second),
        "phased" => Specs.Phased(Second, 50, 100),
        _ => Specs.Rolling(),
    };
}
