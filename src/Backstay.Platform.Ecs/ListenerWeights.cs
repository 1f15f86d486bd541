using Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2;
using Action = Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2.Action;

namespace Backstay.Platform.Ecs;

/// <summary>Reads and writes the weighted forward action of a listener or rule, leaving its other actions alone.</summary>
internal static class ListenerWeights
{
    /// <summary>
    /// The actions with the forward action (or the terminal action, when there is no forward) replaced by one forward
    /// to the given target groups with these weights; authentication actions before it stay as they are.
    /// </summary>
    public static IReadOnlyList<Action> WithWeights(IReadOnlyList<Action> current, IReadOnlyList<TargetGroupTuple> weights)
    {
        ArgumentNullException.ThrowIfNull(current);
        var index = -1;
        for (var i = 0; i < current.Count; i++)
        {
            if (current[i].IsForward)
            {
                index = i;
            }
        }

        if (index < 0)
        {
            index = current.Count == 0 ? -1 : IndexOfTerminal(current);
        }

        var old = index >= 0 ? current[index] : null;
        var forward = new Action
        {
            Type = "forward",
            Order = old?.Order,
            ForwardConfig = new ForwardActionConfig
            {
                TargetGroups = weights,
                TargetGroupStickinessConfig = old?.ForwardConfig?.TargetGroupStickinessConfig,
            },
        };
        var actions = current.ToList();
        if (index >= 0)
        {
            actions[index] = forward;
        }
        else
        {
            actions.Add(forward);
        }

        return actions;
    }

    /// <summary>The share (percent, rounded) of the traffic each target group of the forward action gets.</summary>
    public static Dictionary<string, int> Read(IReadOnlyList<Action> actions)
    {
        ArgumentNullException.ThrowIfNull(actions);
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        var forward = actions.LastOrDefault(a => a.IsForward);
        if (forward is null)
        {
            return result;
        }

        if (forward.ForwardConfig is { TargetGroups.Count: > 0 } config)
        {
            // A single target group without a weight gets all of the traffic; ALB treats a missing weight as 1.
            var weights = config.TargetGroups.Select(t => (t.TargetGroupArn, Weight: t.Weight ?? 1)).ToList();
            var total = weights.Sum(w => w.Weight);
            foreach (var (arn, weight) in weights)
            {
                result[arn] = result.GetValueOrDefault(arn) + (total == 0 ? 0 : (int)Math.Round(weight * 100.0 / total));
            }
        }
        else if (forward.TargetGroupArn is { } single)
        {
            result[single] = 100;
        }

        return result;
    }

    /// <summary>Whether the forward action already sends exactly these weights, so nothing needs to change.</summary>
    public static bool Matches(IReadOnlyList<Action> actions, IReadOnlyList<TargetGroupTuple> weights)
    {
        var forward = actions.LastOrDefault(a => a.IsForward);
        if (forward?.ForwardConfig is not { } config || config.TargetGroups.Count != weights.Count)
        {
            return false;
        }

        return weights.All(w => config.TargetGroups.Any(t => t.TargetGroupArn == w.TargetGroupArn && (t.Weight ?? 1) == w.Weight));
    }

    private static int IndexOfTerminal(IReadOnlyList<Action> actions)
    {
        for (var i = actions.Count - 1; i >= 0; i--)
        {
            if (actions[i].Type is "redirect" or "fixed-response")
            {
                return i;
            }
        }

        return -1;
    }
}
