using System.Xml.Linq;

namespace Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2;

/// <summary>The Elastic Load Balancing (v2, version 2015-12-01) operations Backstay calls, over the Query protocol.</summary>
internal sealed class ElbClient(QueryServiceClient query)
{
    public QueryServiceClient Raw => query;

    public async Task<IReadOnlyList<Listener>> DescribeListenersAsync(IReadOnlyList<string> listenerArns, CancellationToken cancellationToken)
    {
        var result = await query.CallAsync("DescribeListeners", Members("ListenerArns", listenerArns), cancellationToken);
        return result.Members("Listeners").Select(ParseListener).ToList();
    }

    public async Task<Listener> ModifyListenerAsync(string listenerArn, IReadOnlyList<Action> defaultActions, CancellationToken cancellationToken)
    {
        var parameters = new List<KeyValuePair<string, string>> { new("ListenerArn", listenerArn) };
        WriteActions("DefaultActions", defaultActions, parameters);
        var result = await query.CallAsync("ModifyListener", parameters, cancellationToken);
        return result.Members("Listeners").Select(ParseListener).First();
    }

    public async Task<IReadOnlyList<Rule>> DescribeRulesAsync(IReadOnlyList<string> ruleArns, CancellationToken cancellationToken)
    {
        var result = await query.CallAsync("DescribeRules", Members("RuleArns", ruleArns), cancellationToken);
        return result.Members("Rules").Select(ParseRule).ToList();
    }

    public async Task<Rule> ModifyRuleAsync(string ruleArn, IReadOnlyList<Action> actions, CancellationToken cancellationToken)
    {
        var parameters = new List<KeyValuePair<string, string>> { new("RuleArn", ruleArn) };
        WriteActions("Actions", actions, parameters);
        var result = await query.CallAsync("ModifyRule", parameters, cancellationToken);
        return result.Members("Rules").Select(ParseRule).First();
    }

    public async Task<IReadOnlyList<TargetGroup>> DescribeTargetGroupsAsync(IReadOnlyList<string> targetGroupArns, CancellationToken cancellationToken)
    {
        var result = await query.CallAsync("DescribeTargetGroups", Members("TargetGroupArns", targetGroupArns), cancellationToken);
        return result.Members("TargetGroups").Select(t => new TargetGroup
        {
            TargetGroupArn = t.Text("TargetGroupArn") ?? "",
            TargetGroupName = t.Text("TargetGroupName"),
            Port = t.Int("Port"),
            Protocol = t.Text("Protocol"),
            TargetType = t.Text("TargetType"),
            VpcId = t.Text("VpcId"),
            HealthCheckPath = t.Text("HealthCheckPath"),
            LoadBalancerArns = t.Members("LoadBalancerArns").Select(m => m.Value).ToList(),
        }).ToList();
    }

    public async Task<IReadOnlyList<TargetHealthDescription>> DescribeTargetHealthAsync(string targetGroupArn, CancellationToken cancellationToken)
    {
        var result = await query.CallAsync("DescribeTargetHealth", [new("TargetGroupArn", targetGroupArn)], cancellationToken);
        return result.Members("TargetHealthDescriptions").Select(d => new TargetHealthDescription
        {
            Target = new TargetDescription(d.Child("Target").Text("Id") ?? "", d.Child("Target").Int("Port"), d.Child("Target").Text("AvailabilityZone")),
            HealthCheckPort = d.Text("HealthCheckPort"),
            TargetHealth = new TargetHealth(d.Child("TargetHealth").Text("State"), d.Child("TargetHealth").Text("Reason"), d.Child("TargetHealth").Text("Description")),
        }).ToList();
    }

    internal static Listener ParseListener(XElement l) => new()
    {
        ListenerArn = l.Text("ListenerArn") ?? "",
        LoadBalancerArn = l.Text("LoadBalancerArn"),
        Port = l.Int("Port"),
        Protocol = l.Text("Protocol"),
        DefaultActions = l.Members("DefaultActions").Select(ParseAction).ToList(),
    };

    internal static Rule ParseRule(XElement r) => new()
    {
        RuleArn = r.Text("RuleArn") ?? "",
        Priority = r.Text("Priority"),
        IsDefault = r.Bool("IsDefault") ?? false,
        Actions = r.Members("Actions").Select(ParseAction).ToList(),
    };

    internal static Action ParseAction(XElement a)
    {
        var forward = a.Child("ForwardConfig");
        var stickiness = forward.Child("TargetGroupStickinessConfig");
        return new Action
        {
            Type = a.Text("Type") ?? "",
            Order = a.Int("Order"),
            TargetGroupArn = a.Text("TargetGroupArn"),
            ForwardConfig = forward is null ? null : new ForwardActionConfig
            {
                TargetGroups = forward.Members("TargetGroups").Select(t => new TargetGroupTuple(t.Text("TargetGroupArn") ?? "", t.Int("Weight"))).ToList(),
                TargetGroupStickinessConfig = stickiness is null ? null : new TargetGroupStickinessConfig(stickiness.Bool("Enabled"), stickiness.Int("DurationSeconds")),
            },
            Source = a,
        };
    }

    internal static void WriteActions(string name, IReadOnlyList<Action> actions, List<KeyValuePair<string, string>> into)
    {
        for (var i = 0; i < actions.Count; i++)
        {
            var prefix = $"{name}.member.{(i + 1).ToString(CultureInfo.InvariantCulture)}";
            var action = actions[i];
            if (!action.IsForward && action.Source is not null)
            {
                QueryXml.Flatten(action.Source, prefix, into);
                continue;
            }

            into.Add(new($"{prefix}.Type", action.Type));
            if (action.Order is { } order)
            {
                into.Add(new($"{prefix}.Order", order.ToString(CultureInfo.InvariantCulture)));
            }

            if (action.ForwardConfig is not { } forward)
            {
                if (action.TargetGroupArn is not null)
                {
                    into.Add(new($"{prefix}.TargetGroupArn", action.TargetGroupArn));
                }

                continue;
            }

            for (var t = 0; t < forward.TargetGroups.Count; t++)
            {
                var tuple = $"{prefix}.ForwardConfig.TargetGroups.member.{(t + 1).ToString(CultureInfo.InvariantCulture)}";
                into.Add(new($"{tuple}.TargetGroupArn", forward.TargetGroups[t].TargetGroupArn));
                if (forward.TargetGroups[t].Weight is { } weight)
                {
                    into.Add(new($"{tuple}.Weight", weight.ToString(CultureInfo.InvariantCulture)));
                }
            }

            if (forward.TargetGroupStickinessConfig is { } sticky)
            {
                if (sticky.Enabled is { } enabled)
                {
                    into.Add(new($"{prefix}.ForwardConfig.TargetGroupStickinessConfig.Enabled", enabled ? "true" : "false"));
                }

                if (sticky.DurationSeconds is { } seconds && sticky.Enabled == true)
                {
                    into.Add(new($"{prefix}.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds", seconds.ToString(CultureInfo.InvariantCulture)));
                }
            }
        }
    }

    private static List<KeyValuePair<string, string>> Members(string name, IReadOnlyList<string> values) =>
        values.Select((v, i) => new KeyValuePair<string, string>($"{name}.member.{(i + 1).ToString(CultureInfo.InvariantCulture)}", v)).ToList();
}
