using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2;
using Action = Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2.Action;
using Listener = Backstay.Core.Ports.Listener;

namespace Backstay.Platform.Ecs;

public sealed partial class EcsPlatform
{
    /// <summary>
    /// Sets the listener's weighted forward action between the two target groups in one ModifyListener (or ModifyRule,
    /// when the spec names a listener rule): each target group gets the weight of the revision whose task set holds it.
    /// </summary>
    public async Task SetWeightsAsync(string service, Listener listener, IReadOnlyDictionary<int, int> weightByRevision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(weightByRevision);
        var context = Context(service);
        if (context.Ecs.NativeRolling)
        {
            // One target group serves whatever ECS runs: traffic follows the rolling update, it is not split by weight.
            if (listener == Listener.Production && weightByRevision.Any(w => w.Value is > 0 and < 100))
            {
                throw new PlatformException(
                    $"ECS service '{context.ServiceName}' uses the ECS deployment controller, which cannot split traffic by weight; use `deploymentController: EXTERNAL` for blueGreen, canary, linear and phased.");
            }

            return;
        }

        if (ListenerArn(context, listener) is not { } arn)
        {
            return;
        }

        var snapshot = await ReadAsync(context, Freshness.ForAct, cancellationToken);
        var byTargetGroup = context.LoadBalancer.TargetGroups.ToDictionary(tg => tg, _ => 0, StringComparer.Ordinal);
        foreach (var (revision, weight) in weightByRevision)
        {
            var set = snapshot.SetOf(revision);
            var targetGroup = set is null ? null : EcsSnapshot.TargetGroupOf(set);
            if (targetGroup is null || !byTargetGroup.ContainsKey(targetGroup))
            {
                if (weight == 0)
                {
                    continue;
                }

                throw new EcsDriftException(
                    $"Revision {revision} of '{service}' has no task set on one of its target groups, so it cannot get {weight}% of the {listener.ToString().ToLowerInvariant()} traffic; " +
                    $"its task set was removed outside Backstay. Run `backstay status {service}` and `backstay reset {service}`.");
            }

            byTargetGroup[targetGroup] += weight;
        }

        var tuples = byTargetGroup.Select(kv => new TargetGroupTuple(kv.Key, kv.Value)).ToList();
        var current = await ActionsAsync(context, arn, cancellationToken);
        if (ListenerWeights.Matches(current, tuples))
        {
            return;
        }

        var actions = ListenerWeights.WithWeights(current, tuples);
        if (IsRule(arn))
        {
            await CallAsync(context, () => context.Aws.Elb.ModifyRuleAsync(arn, actions, cancellationToken));
        }
        else
        {
            await CallAsync(context, () => context.Aws.Elb.ModifyListenerAsync(arn, actions, cancellationToken));
        }

        // Traffic moved: what follows (targets draining, alarms, the next step) is read quickly again.
        context.Invalidate();

        EcsLog.WeightsSet(_logger, listener.ToString(), service,
            string.Join(", ", weightByRevision.Select(w => $"revision {w.Key.ToString(CultureInfo.InvariantCulture)} {w.Value.ToString(CultureInfo.InvariantCulture)}%")));
    }

    /// <summary>Reads the listener (or rule) back and gives each revision the share of its task set's target group.</summary>
    public async Task<IReadOnlyDictionary<int, int>> GetWeightsAsync(string service, Listener listener, CancellationToken cancellationToken)
    {
        var context = Context(service);
        if (context.Ecs.NativeRolling)
        {
            return listener == Listener.Production ? await NativeWeightsAsync(context, cancellationToken) : new Dictionary<int, int>();
        }

        if (ListenerArn(context, listener) is not { } arn)
        {
            return new Dictionary<int, int>();
        }

        var snapshot = await ReadAsync(context, Freshness.ForAct, cancellationToken);
        var weights = ListenerWeights.Read(await ActionsAsync(context, arn, cancellationToken));
        var result = new Dictionary<int, int>();
        foreach (var (revision, set) in snapshot.Revisions)
        {
            if (EcsSnapshot.TargetGroupOf(set) is { } targetGroup)
            {
                result[revision] = result.GetValueOrDefault(revision) + weights.GetValueOrDefault(targetGroup);
            }
        }

        return result;
    }

    private async Task<IReadOnlyList<Action>> ActionsAsync(EcsServiceContext context, string arn, CancellationToken cancellationToken)
    {
        if (IsRule(arn))
        {
            var rules = await CallAsync(context, () => context.Aws.Elb.DescribeRulesAsync([arn], cancellationToken));
            return rules.FirstOrDefault()?.Actions ?? throw new PlatformException($"Listener rule {arn} of '{context.Spec.Service}' was not found.");
        }

        var listeners = await CallAsync(context, () => context.Aws.Elb.DescribeListenersAsync([arn], cancellationToken));
        return listeners.FirstOrDefault()?.DefaultActions ?? throw new PlatformException($"Listener {arn} of '{context.Spec.Service}' was not found.");
    }

    /// <summary>Checks once per service that the listeners and target groups exist, and learns each group's load balancer for metrics.</summary>
    private async Task CheckLoadBalancerAsync(EcsServiceContext context, CancellationToken cancellationToken)
    {
        if (context.LoadBalancerChecked)
        {
            return;
        }

        var groups = await CallAsync(context, () => context.Aws.Elb.DescribeTargetGroupsAsync(context.LoadBalancer.TargetGroups, cancellationToken));
        foreach (var targetGroup in context.LoadBalancer.TargetGroups)
        {
            var group = groups.FirstOrDefault(g => g.TargetGroupArn == targetGroup)
                ?? throw new PlatformException($"Target group {targetGroup} named by '{context.Spec.Service}' was not found in {context.Aws.Region}.");
            if (group.LoadBalancerArns.FirstOrDefault() is { } loadBalancer)
            {
                context.LoadBalancerDimensions[targetGroup] = LoadBalancerDimension(loadBalancer);
            }
        }

        foreach (var arn in new[] { context.LoadBalancer.ProductionListener, context.LoadBalancer.TestListener }.OfType<string>())
        {
            await ActionsAsync(context, arn, cancellationToken);
        }

        context.LoadBalancerChecked = true;
    }

    /// <summary>
    /// The test listener as a URL hooks can call: the load balancer's DNS name with the listener's protocol and port
    /// (for a listener rule, its listener's). Null when the spec names no test listener.
    /// </summary>
    public async Task<string?> TestListenerUrlAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        var context = Register(spec);
        if (context.LoadBalancer.TestListener is not { } arn)
        {
            return null;
        }

        if (IsRule(arn))
        {
            // arn:...:listener-rule/app/NAME/LB-ID/LISTENER-ID/RULE-ID -> arn:...:listener/app/NAME/LB-ID/LISTENER-ID
            arn = arn[..arn.LastIndexOf('/')].Replace(":listener-rule/", ":listener/", StringComparison.Ordinal);
        }

        var listener = (await CallAsync(context, () => context.Aws.Elb.DescribeListenersAsync([arn], cancellationToken))).FirstOrDefault();
        if (listener?.LoadBalancerArn is not { } loadBalancer)
        {
            return null;
        }

        var described = await CallAsync(context, () => context.Aws.Elb.Raw.CallAsync("DescribeLoadBalancers", [new("LoadBalancerArns.member.1", loadBalancer)], cancellationToken));
        var dns = described.Members("LoadBalancers").FirstOrDefault().Text("DNSName");
        return dns is null ? null
            : $"{(listener.Protocol ?? "HTTP").ToLowerInvariant()}://{dns}:{(listener.Port ?? 80).ToString(CultureInfo.InvariantCulture)}/";
    }

    private static string? ListenerArn(EcsServiceContext context, Listener listener) =>
        listener == Listener.Production ? context.LoadBalancer.ProductionListener : context.LoadBalancer.TestListener;

    private static bool IsRule(string arn) => arn.Contains(":listener-rule/", StringComparison.Ordinal);

    /// <summary>"app/name/id" from a load balancer ARN, as CloudWatch's LoadBalancer dimension wants it.</summary>
    internal static string LoadBalancerDimension(string loadBalancerArn)
    {
        var i = loadBalancerArn.IndexOf(":loadbalancer/", StringComparison.Ordinal);
        return i < 0 ? loadBalancerArn : loadBalancerArn[(i + ":loadbalancer/".Length)..];
    }

    /// <summary>"targetgroup/name/id" from a target group ARN, as CloudWatch's TargetGroup dimension wants it.</summary>
    internal static string TargetGroupDimension(string targetGroupArn)
    {
        var i = targetGroupArn.IndexOf(":targetgroup/", StringComparison.Ordinal);
        return i < 0 ? targetGroupArn : targetGroupArn[(i + 1)..];
    }
}
