using Backstay.Core.Engine;
using Backstay.Core.Hooks;
using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Engine;

public sealed class HooksPlanBuilderTests
{
    private static readonly TimeSpan Bake = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Keep = TimeSpan.FromMinutes(5);

    private static (string, HookSpec[])[] EveryStage =>
        [.. Stages.All.Select(stage => (stage, new[] { HookSpecs.Exec($"echo {stage}") }))];

    [Fact]
    public void ForDeployment_BlueGreenWithHooksAtEveryStage_EachStageAtItsPlace()
    {
        var spec = Specs.Service(Specs.BlueGreen(Bake, Keep), testListener: "127.0.0.1:8081").WithHooks(null, EveryStage);

        var actions = PlanBuilder.ForDeployment(spec, hasStable: true).Actions;

        actions.ShouldBe(
        [
            new HookAction(Stages.BeforeInstall),
            new ScaleAction(Role.Target, 3, WaitHealthy: true),
            new HookAction(Stages.Install),
            new HookAction(Stages.AfterInstall),
            new TestTrafficAction(ToTarget: true),
            new HookAction(Stages.AllowTestTraffic),
            new HookAction(Stages.AfterAllowTestTraffic),
            new HookAction(Stages.BeforeAllowTraffic),
            new WeightAction(100),
            new HookAction(Stages.AllowTraffic),
            new HookAction(Stages.AfterAllowTraffic),
            new HookAction(Stages.Bake),
            new WaitAction(Bake, "bake"),
            new WaitAction(Keep, "keep previous warm"),
            new ScaleAction(Role.Stable, 0, WaitHealthy: false),
            new HookAction(Stages.Cleanup),
        ]);
    }

    [Fact]
    public void ForDeployment_BlueGreenWithoutBakeWait_BakeHooksFollowAfterAllowTraffic()
    {
        var spec = Specs.Service(Specs.BlueGreen(TimeSpan.Zero, Keep), testListener: "127.0.0.1:8081").WithHooks(null, EveryStage);

        var actions = PlanBuilder.ForDeployment(spec, hasStable: true).Actions.ToList();

        actions.IndexOf(new HookAction(Stages.Bake)).ShouldBe(actions.IndexOf(new HookAction(Stages.AfterAllowTraffic)) + 1);
        actions.IndexOf(new HookAction(Stages.Bake)).ShouldBeLessThan(actions.IndexOf(new WaitAction(Keep, "keep previous warm")));
        actions[^1].ShouldBe(new HookAction(Stages.Cleanup));
    }

    [Fact]
    public void ForDeployment_CanaryWithHooksAtEveryStage_AllowTrafficAfterEachWeightAndAfterAllowTrafficAfterFullWeight()
    {
        var spec = Specs.Service(Specs.Canary(Specs.Weight(10), Specs.Pause(), Specs.Weight(50)), testListener: "127.0.0.1:8081").WithHooks(null, EveryStage);

        var actions = PlanBuilder.ForDeployment(spec, hasStable: true).Actions;

        actions.ShouldBe(
        [
            new HookAction(Stages.BeforeInstall),
            new ScaleAction(Role.Target, 3, WaitHealthy: true),
            new HookAction(Stages.Install),
            new HookAction(Stages.AfterInstall),
            new HookAction(Stages.AllowTestTraffic),
            new HookAction(Stages.AfterAllowTestTraffic),
            new HookAction(Stages.BeforeAllowTraffic),
            new WeightAction(10),
            new HookAction(Stages.AllowTraffic),
            new PauseAction(null),
            new WeightAction(50),
            new HookAction(Stages.AllowTraffic),
            new WeightAction(100),
            new HookAction(Stages.AllowTraffic),
            new HookAction(Stages.AfterAllowTraffic),
            new HookAction(Stages.Bake),
            new ScaleAction(Role.Stable, 0, WaitHealthy: false),
            new TestTrafficAction(ToTarget: true),
            new HookAction(Stages.Cleanup),
        ]);
    }

    [Fact]
    public void ForDeployment_HooksAtSomeStages_OnlyThoseStagesGetAHookAction()
    {
        var spec = Specs.Service(Specs.Canary(Specs.Weight(10))).WithHooks(null,
            (Stages.BeforeAllowTraffic, [HookSpecs.Pause(TimeSpan.FromHours(1))]),
            (Stages.Cleanup, []));

        var hooks = PlanBuilder.ForDeployment(spec, hasStable: true).Actions.OfType<HookAction>().ToList();

        hooks.ShouldBe([new HookAction(Stages.BeforeAllowTraffic)]);
    }

    [Fact]
    public void ForDeployment_NoHooks_NoHookAction()
    {
        foreach (var strategy in new[] { Specs.Rolling(), Specs.BlueGreen(Bake, Keep), Specs.Canary(Specs.Weight(10)), Specs.Phased(TimeSpan.Zero, 50, 100) })
        {
            var spec = Specs.Service(strategy, testListener: "127.0.0.1:8081");

            PlanBuilder.ForDeployment(spec, hasStable: true).Actions.OfType<HookAction>().ShouldBeEmpty(strategy.Kind);
            PlanBuilder.ForDeployment(spec, hasStable: false).Actions.OfType<HookAction>().ShouldBeEmpty(strategy.Kind);
        }
    }

    [Fact]
    public void ForRollback_HooksAtEveryStage_TrafficStagesAroundTheShiftMarkedDuringRollback()
    {
        var spec = Specs.Service(Specs.Canary(Specs.Weight(10)), testListener: "127.0.0.1:8081").WithHooks(null, EveryStage);
        var undone = PlanBuilder.ForDeployment(spec, hasStable: true);

        var actions = PlanBuilder.ForRollback(undone, stableCountBefore: 3, reachedPhase: 0).Actions;

        actions.ShouldBe(
        [
            new HookAction(Stages.BeforeAllowTraffic, DuringRollback: true),
            new WeightAction(100),
            new HookAction(Stages.AllowTraffic, DuringRollback: true),
            new HookAction(Stages.AfterAllowTraffic, DuringRollback: true),
            new ScaleAction(Role.Target, 3, WaitHealthy: true),
            new ScaleAction(Role.Stable, 0, WaitHealthy: false),
            new TestTrafficAction(ToTarget: true),
        ]);
    }

    [Fact]
    public void ForRollback_NoHooks_NoHookAction()
    {
        var undone = PlanBuilder.ForDeployment(Specs.Service(Specs.Canary(Specs.Weight(10))), hasStable: true);

        PlanBuilder.ForRollback(undone, stableCountBefore: 3, reachedPhase: 0).Actions.OfType<HookAction>().ShouldBeEmpty();
    }

    [Fact]
    public void ForDeployment_PlanWithHooks_SurvivesTheJsonRoundTrip()
    {
        var plan = PlanBuilder.ForDeployment(Specs.Service(Specs.Canary(Specs.Weight(10))).WithHooks(null, EveryStage), hasStable: true);
        var rollback = PlanBuilder.ForRollback(plan, 3, 0);

        DeploymentPlan.FromJson(plan.ToJson()).Actions.ShouldBe(plan.Actions);
        DeploymentPlan.FromJson(rollback.ToJson()).Actions.ShouldBe(rollback.Actions);
        DeploymentPlan.FromJson(plan.ToJson()).Spec.Hooks.Keys.ShouldBe(Stages.All, ignoreOrder: true);
    }
}
