using Backstay.Core.Hooks;
using Backstay.Core.Spec;

namespace Backstay.Core.Engine;

/// <summary>Turns a strategy into the list of actions a deployment follows. Strategy logic lives here, once.</summary>
public static class PlanBuilder
{
    /// <summary>The plan of a deployment from stable (null for a first deployment) to a new revision.</summary>
    public static DeploymentPlan ForDeployment(ServiceSpec spec, bool hasStable)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var n = spec.Platform.Instances;
        var actions = UsesNativeRollout(spec) ? [new NativeRolloutAction()] : !hasStable ? FirstDeployment(n) : spec.Strategy.Kind switch
        {
            "blueGreen" => BlueGreen(spec, spec.Strategy.BlueGreen!, n),
            "canary" => Canary(spec.Strategy.Canary!.Steps, n),
            "linear" => Canary(LinearSteps(spec.Strategy.Linear!), n),
            "phased" => Phased(spec.Strategy.Phased!, n),
            _ => Rolling(spec.Strategy.Rolling ?? new RollingSpec(), n),
        };
        return new DeploymentPlan
        {
            Spec = spec,
            Actions = WithHooks(OnlyWhatActs(actions, spec), spec),
            DesiredCount = n,
            Analysis = spec.Analysis,
            AutomaticRollback = spec.Rollback.Automatic,
        };
    }

    /// <summary>
    /// The plan of a rollback to the revision that was stable, the same for every strategy: production traffic goes back
    /// first, in one step, to the stable revision's instances that are healthy then (the runner brings the revision up
    /// first when none is); then its capacity is restored to the pre-deployment count and the failed revision scaled to 0.
    /// A phased deployment restores capacity phase by phase in reverse unless the spec asks for all at once.
    /// </summary>
    public static DeploymentPlan ForRollback(DeploymentPlan undone, int stableCountBefore, int reachedPhase)
    {
        ArgumentNullException.ThrowIfNull(undone);
        var spec = undone.Spec;
        var count = Math.Max(1, stableCountBefore);
        var actions = new List<PlanAction>();
        var phased = spec.Strategy.Phased;
        if (undone.Actions.Any(a => a is NativeRolloutAction) || (undone.Actions.Count == 0 && UsesNativeRollout(spec)))
        {
            // The platform rolled the failed revision out itself; it rolls the stable one back the same way.
            actions.Add(new NativeRolloutAction());
            return undone with { Actions = WithRollbackHooks(actions, spec), DesiredCount = count };
        }

        actions.Add(new WeightAction(100));
        if (phased is not null && !spec.Rollback.AllPhasesAtOnce && reachedPhase > 0)
        {
            // Target of a rollback is the old stable revision; its "stable" is the failed one, which no longer takes traffic.
            for (var i = reachedPhase - 1; i >= 0; i--)
            {
                var failedCount = i == 0 ? 0 : PhaseCount(phased.Phases[i - 1], count);
                actions.Add(new ScaleAction(Role.Target, count - failedCount, WaitHealthy: true));
                actions.Add(new ScaleAction(Role.Stable, failedCount, WaitHealthy: false));
            }
        }
        else
        {
            actions.Add(new ScaleAction(Role.Target, count, WaitHealthy: true));
            actions.Add(new ScaleAction(Role.Stable, 0, WaitHealthy: false));
        }

        if (spec.Platform.HasTestListener)
        {
            actions.Add(new TestTrafficAction(ToTarget: true));
        }

        return undone with { Actions = WithRollbackHooks(actions, spec), DesiredCount = count };
    }

    /// <summary>True when the platform rolls revisions out itself (ECS with deploymentController ECS) and the engine follows.</summary>
    public static bool UsesNativeRollout(ServiceSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.Platform.RollsOutNatively && spec.Strategy.Kind == "rolling";
    }

    /// <summary>`reset --recreate`: the last good revision at its count, then all production and test traffic to it.</summary>
    public static DeploymentPlan ForRecreate(ServiceSpec spec, int desiredCount) => new()
    {
        Spec = spec,
        DesiredCount = desiredCount,
        Actions = OnlyWhatActs([new ScaleAction(Role.Target, Math.Max(1, desiredCount), WaitHealthy: true), new WeightAction(100), new TestTrafficAction(ToTarget: true)], spec),
    };

    /// <summary>A plan lists only steps that act: with no test listener, there is no test traffic to move.</summary>
    private static List<PlanAction> OnlyWhatActs(List<PlanAction> actions, ServiceSpec spec)
    {
        if (!spec.Platform.HasTestListener)
        {
            actions.RemoveAll(a => a is TestTrafficAction);
        }

        return actions;
    }

    /// <summary>`reset --adopt` has no steps planned ahead: what it adopts is chosen from the platform when it runs, and journaled.</summary>
    public static DeploymentPlan ForAdopt(ServiceSpec spec, int desiredCount) => new() { Spec = spec, DesiredCount = desiredCount, Actions = [] };

    /// <summary>An imported rollback or reset, which plans itself again when it runs (its steps are not on the platform's record).</summary>
    public static DeploymentPlan Replanned(ServiceSpec spec) => new() { Spec = spec, Actions = [], DesiredCount = spec.Platform.Instances };

    /// <summary>The plan of a manual rollback (or redeploy) to an earlier revision while nothing is in progress.</summary>
    public static DeploymentPlan ForManualRollback(ServiceSpec spec, int count) =>
        ForRollback(new DeploymentPlan { Spec = spec with { Strategy = new StrategySpec { Rolling = new RollingSpec() } }, Actions = [] },
            count, reachedPhase: 0);

    /// <summary>
    /// Inserts the hooks the spec configures at their lifecycle stages: BeforeInstall before the new revision starts;
    /// Install and AfterInstall once it is healthy; AllowTestTraffic and AfterAllowTestTraffic after test traffic moves to
    /// it (or after install when no step moves it first); BeforeAllowTraffic before the first production shift;
    /// AllowTraffic after each shift; AfterAllowTraffic once it has all traffic; Bake before the bake wait (or after
    /// AfterAllowTraffic); Cleanup at the end.
    /// </summary>
    internal static List<PlanAction> WithHooks(List<PlanAction> actions, ServiceSpec spec)
    {
        if (spec.Hooks.Count == 0)
        {
            return actions;
        }

        var result = new List<PlanAction>();
        void Hook(string stage)
        {
            if (spec.Hooks.TryGetValue(stage, out var hooks) && hooks.Count > 0)
            {
                result.Add(new HookAction(stage));
            }
        }

        var firstScale = actions.FindIndex(a => a is ScaleAction { Role: Role.Target } or NativeRolloutAction);
        var firstWeight = actions.FindIndex(a => a is WeightAction or NativeRolloutAction);
        var earlyTest = actions.FindIndex(a => a is TestTrafficAction { ToTarget: true });
        if (earlyTest > firstWeight)
        {
            earlyTest = -1;
        }

        var bakeSeen = false;
        for (var i = 0; i < actions.Count; i++)
        {
            var action = actions[i];
            if (i == firstScale)
            {
                Hook(Stages.BeforeInstall);
            }

            if (i == firstWeight)
            {
                Hook(Stages.BeforeAllowTraffic);
            }

            if (action is WaitAction { Reason: "bake" })
            {
                Hook(Stages.Bake);
                bakeSeen = true;
            }

            result.Add(action);
            if (i == firstScale)
            {
                Hook(Stages.Install);
                Hook(Stages.AfterInstall);
                if (earlyTest < 0)
                {
                    Hook(Stages.AllowTestTraffic);
                    Hook(Stages.AfterAllowTestTraffic);
                }
            }

            if (i == earlyTest)
            {
                Hook(Stages.AllowTestTraffic);
                Hook(Stages.AfterAllowTestTraffic);
            }

            // A platform-run rollout moves all traffic as it replaces the instances: it counts as the shift to 100%.
            var shiftedTo = action switch { WeightAction w => w.TargetWeight, NativeRolloutAction => 100, _ => (int?)null };
            if (shiftedTo is { } weight)
            {
                Hook(Stages.AllowTraffic);
                if (weight == 100)
                {
                    Hook(Stages.AfterAllowTraffic);
                    if (!bakeSeen && !actions.Skip(i + 1).Any(a => a is WaitAction { Reason: "bake" }))
                    {
                        Hook(Stages.Bake);
                        bakeSeen = true;
                    }
                }
            }
        }

        Hook(Stages.Cleanup);
        return result;
    }

    /// <summary>The traffic stages' hooks run again on the way back, around the rollback's traffic shift; their failure does not stop it.</summary>
    private static List<PlanAction> WithRollbackHooks(List<PlanAction> actions, ServiceSpec spec)
    {
        var result = new List<PlanAction>();
        foreach (var action in actions)
        {
            var isShift = action is WeightAction { TargetWeight: 100 } or NativeRolloutAction;
            if (isShift && Has(spec, Stages.BeforeAllowTraffic))
            {
                result.Add(new HookAction(Stages.BeforeAllowTraffic, DuringRollback: true));
            }

            result.Add(action);
            if (isShift)
            {
                foreach (var stage in new[] { Stages.AllowTraffic, Stages.AfterAllowTraffic }.Where(s => Has(spec, s)))
                {
                    result.Add(new HookAction(stage, DuringRollback: true));
                }
            }
        }

        return result;
    }

    private static bool Has(ServiceSpec spec, string stage) => spec.Hooks.TryGetValue(stage, out var hooks) && hooks.Count > 0;

    private static List<PlanAction> FirstDeployment(int n) =>
    [
        new ScaleAction(Role.Target, n, WaitHealthy: true),
        new TestTrafficAction(ToTarget: true),
        new WeightAction(100),
    ];

    private static List<PlanAction> Rolling(RollingSpec rolling, int n)
    {
        var batch = Math.Max(1, rolling.Batch);
        var actions = new List<PlanAction>();
        for (var k = Math.Min(batch, n); ; k = Math.Min(k + batch, n))
        {
            actions.Add(new ScaleAction(Role.Target, k, WaitHealthy: true));
            actions.Add(new WeightAction((int)Math.Round(100.0 * k / n)));
            actions.Add(new ScaleAction(Role.Stable, n - k, WaitHealthy: false));
            if (k == n)
            {
                break;
            }
        }

        actions.Add(new TestTrafficAction(ToTarget: true));
        return actions;
    }

    private static List<PlanAction> BlueGreen(ServiceSpec spec, BlueGreenSpec blueGreen, int n)
    {
        var actions = new List<PlanAction> { new ScaleAction(Role.Target, n, WaitHealthy: true) };
        var hasTestListener = spec.Platform.HasTestListener;
        if (blueGreen.TestTraffic && hasTestListener)
        {
            actions.Add(new TestTrafficAction(ToTarget: true));
        }

        actions.Add(new WeightAction(100));
        if (blueGreen.Bake > TimeSpan.Zero)
        {
            actions.Add(new WaitAction(blueGreen.Bake, "bake"));
        }

        if (blueGreen.KeepPreviousFor > TimeSpan.Zero)
        {
            actions.Add(new WaitAction(blueGreen.KeepPreviousFor, WarmWindow.WaitReason));
        }

        actions.Add(new ScaleAction(Role.Stable, 0, WaitHealthy: false));
        if (!(blueGreen.TestTraffic && hasTestListener))
        {
            actions.Add(new TestTrafficAction(ToTarget: true));
        }

        return actions;
    }

    private static List<PlanAction> Canary(IReadOnlyList<CanaryStep> steps, int n)
    {
        var actions = new List<PlanAction> { new ScaleAction(Role.Target, n, WaitHealthy: true) };
        var last = 0;
        foreach (var step in steps)
        {
            switch (step)
            {
                case SetWeightStep w:
                    actions.Add(new WeightAction(w.Weight));
                    last = w.Weight;
                    break;
                case PauseStep p:
                    actions.Add(new PauseAction(p.Duration));
                    break;
                case AnalysisStep a:
                    actions.Add(new AnalysisAction(a.Analysis));
                    break;
            }
        }

        if (last != 100)
        {
            actions.Add(new WeightAction(100));
        }

        actions.Add(new ScaleAction(Role.Stable, 0, WaitHealthy: false));
        actions.Add(new TestTrafficAction(ToTarget: true));
        return actions;
    }

    private static List<CanaryStep> LinearSteps(LinearSpec linear)
    {
        var steps = new List<CanaryStep>();
        var percent = Math.Clamp(linear.StepPercent, 1, 100);
        for (var w = percent; w < 100; w += percent)
        {
            steps.Add(new SetWeightStep(w));
            steps.Add(new PauseStep(linear.Interval));
        }

        steps.Add(new SetWeightStep(100));
        return steps;
    }

    private static List<PlanAction> Phased(PhasedSpec phased, int n)
    {
        var actions = new List<PlanAction>();
        for (var i = 0; i < phased.Phases.Count; i++)
        {
            var percent = phased.Phases[i];
            var count = PhaseCount(percent, n);
            actions.Add(new ScaleAction(Role.Target, count, WaitHealthy: true));
            actions.Add(new WeightAction(percent));
            actions.Add(new ScaleAction(Role.Stable, n - count, WaitHealthy: false));
            if (i < phased.Phases.Count - 1 && phased.PauseBetween > TimeSpan.Zero)
            {
                actions.Add(new WaitAction(phased.PauseBetween, "pause between phases"));
            }
        }

        actions.Add(new TestTrafficAction(ToTarget: true));
        return actions;
    }

    /// <summary>Instances of a phase: the percentage of the desired count, rounded up, at least one.</summary>
    public static int PhaseCount(int percent, int n) => Math.Clamp((int)Math.Ceiling(n * percent / 100.0), 1, n);

    /// <summary>How many phases a phased plan has completed by the time it reached a step.</summary>
    public static int PhasesReached(DeploymentPlan plan, int currentStep)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var weights = 0;
        for (var i = 0; i < Math.Min(currentStep + 1, plan.Actions.Count); i++)
        {
            if (plan.Actions[i] is WeightAction)
            {
                weights++;
            }
        }

        return plan.Spec.Strategy.Phased is null ? 0 : Math.Max(1, weights);
    }
}
