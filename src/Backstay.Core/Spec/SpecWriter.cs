using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Backstay.Core.Spec;

/// <summary>
/// Writes spec records back as backstay.yaml, value for value, so a spec that arrives as JSON (the REST API) is
/// checked by the very reader `backstay validate` uses. Values are written as they are, out of range or not, and
/// missing ones are left out, so the reader reports them with its own words.
/// </summary>
internal static class SpecWriter
{
    public static string Write(ServiceSpec spec)
    {
        var root = new YamlMappingNode();
        Add(root, "service", Text(spec.Service));
        Add(root, "platform", Platform(spec.Platform));
        Add(root, "task", Task(spec.Task));
        Add(root, "strategy", Strategy(spec.Strategy));
        Add(root, "analysis", Analysis(spec.Analysis));
        Add(root, "hooks", Hooks(spec.Hooks));
        Add(root, "rollback", spec.Rollback is { } rollback
            ? Map(("automatic", Bool(rollback.Automatic)), ("allPhasesAtOnce", Bool(rollback.AllPhasesAtOnce)))
            : null);
        Add(root, "retention", spec.Retention is { } retention ? Map(("keepPrevious", Int(retention.KeepPrevious))) : null);
        Add(root, "notifications", spec.Notifications is { } notifications ? List(notifications.Select(Notification)) : null);

        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        new YamlStream(new YamlDocument(root)).Save(writer, assignAnchors: false);
        return writer.ToString();
    }

    private static YamlNode? Platform(PlatformSpec? platform)
    {
        if (platform is null)
        {
            return null;
        }

        var map = new YamlMappingNode();
        if (platform.Local is { } local)
        {
            Add(map, "local", Map(
                ("instances", Int(local.Instances)),
                ("listeners", Map(("production", Text(local.ProductionListener)), ("test", Text(local.TestListener))))));
        }

        if (platform.Ecs is { } ecs)
        {
            Add(map, "ecs", Map(
                ("cluster", Text(ecs.Cluster)),
                ("service", Text(ecs.Service)),
                ("region", Text(ecs.Region)),
                ("container", Text(ecs.Container)),
                ("desiredCount", Int(ecs.DesiredCount)),
                ("loadBalancer", ecs.LoadBalancer is { } lb
                    ? Map(("productionListener", Text(lb.ProductionListener)), ("testListener", Text(lb.TestListener)), ("targetGroups", Texts(lb.TargetGroups)))
                    : null),
                ("alarms", Texts(ecs.Alarms)),
                ("launchType", Text(ecs.LaunchType)),
                ("subnets", Texts(ecs.Subnets)),
                ("securityGroups", Texts(ecs.SecurityGroups)),
                ("assignPublicIp", Bool(ecs.AssignPublicIp)),
                ("cpu", Text(ecs.Cpu)),
                ("memory", Text(ecs.Memory)),
                ("executionRoleArn", Text(ecs.ExecutionRoleArn)),
                ("taskRoleArn", Text(ecs.TaskRoleArn)),
                ("deploymentController", Text(ecs.DeploymentController))));
        }

        return map;
    }

    private static YamlNode? Task(TaskSpec? task) => task is null ? null : Map(
        ("image", Text(task.Image)),
        ("args", task.Args is null ? null : List(task.Args.Select(a => a is null ? Null() : (YamlNode)Text(a)!))),
        ("port", Int(task.Port)),
        ("env", task.Env is null ? null : Map(task.Env.Select(e => (e.Key, e.Value is null ? Null() : (YamlNode?)Text(e.Value))).ToArray())),
        ("startTimeout", Duration(task.StartTimeout)),
        ("healthCheck", task.HealthCheck is { } health
            ? Map(
                ("path", Text(health.Path)),
                ("interval", Duration(health.Interval)),
                ("timeout", Duration(health.Timeout)),
                ("healthyThreshold", Int(health.HealthyThreshold)),
                ("unhealthyThreshold", Int(health.UnhealthyThreshold)))
            : null));

    private static YamlNode? Strategy(StrategySpec? strategy)
    {
        if (strategy is null)
        {
            return null;
        }

        var map = new YamlMappingNode();
        if (strategy.Rolling is { } rolling)
        {
            Add(map, "rolling", Map(("batch", Int(rolling.Batch)), ("maxUnavailable", Int(rolling.MaxUnavailable))));
        }

        if (strategy.BlueGreen is { } blueGreen)
        {
            Add(map, "blueGreen", Map(("testTraffic", Bool(blueGreen.TestTraffic)), ("bake", Duration(blueGreen.Bake)), ("keepPreviousFor", Duration(blueGreen.KeepPreviousFor))));
        }

        if (strategy.Canary is { } canary)
        {
            Add(map, "canary", Map(("steps", canary.Steps is null ? null : List(canary.Steps.Select(Step)))));
        }

        if (strategy.Linear is { } linear)
        {
            Add(map, "linear", Map(("stepPercent", Int(linear.StepPercent)), ("interval", Duration(linear.Interval))));
        }

        if (strategy.Phased is { } phased)
        {
            Add(map, "phased", Map(("phases", phased.Phases is null ? null : List(phased.Phases.Select(p => (YamlNode)Int(p)))), ("pauseBetween", Duration(phased.PauseBetween))));
        }

        return map;
    }

    private static YamlNode Step(CanaryStep? step) => step switch
    {
        SetWeightStep weight => Map(("setWeight", Int(weight.Weight))),
        PauseStep pause => Map(("pause", Map(("duration", pause.Duration is { } duration ? Duration(duration) : null)))),
        AnalysisStep analysis => Map(("analysis", Analysis(analysis.Analysis) ?? Null())),
        _ => Null(),
    };

    private static YamlNode? Analysis(AnalysisSpec? analysis) => analysis is null ? null : Map(
        ("window", Duration(analysis.Window)),
        ("minRequests", Int(analysis.MinRequests)),
        ("errorRate", ErrorRate(analysis)),
        ("latency", analysis.MaxLatencyIncrease is { } slower ? DryRun(analysis, "latency", Map(("maxIncrease", Duration(slower)))) : Null()),
        ("latencyP99", analysis.MaxLatencyP99 is { } p99 ? DryRun(analysis, "latencyP99", Map(("max", Duration(p99)))) : Null()),
        ("latencyP90", analysis.MaxLatencyP90 is { } p90 ? DryRun(analysis, "latencyP90", Map(("max", Duration(p90)))) : Null()),
        ("consecutiveFailures", Int(analysis.ConsecutiveFailures)),
        ("interval", Duration(analysis.Interval)),
        ("confidence", Plain(analysis.Confidence.ToString("0.###################", CultureInfo.InvariantCulture))),
        ("onFailure", Text(analysis.OnFailure)),
        ("pauseTimeout", Duration(analysis.PauseTimeout)),
        ("onPauseTimeout", Text(analysis.OnPauseTimeout)),
        ("metrics", analysis.Metrics is { } metrics ? List(metrics.Select(Metric)) : null));

    private static YamlNode Metric(MetricSpec? metric) => metric is null ? Null() : Map(
        ("name", Text(metric.Name)),
        ("max", metric.Max is { } max ? Number(max) : null),
        ("min", metric.Min is { } min ? Number(min) : null),
        ("interval", Duration(metric.Interval)),
        ("timeout", Duration(metric.Timeout)),
        ("dryRun", Bool(metric.DryRun)),
        ("prometheus", metric.Prometheus is { } prometheus ? Map(("address", Text(prometheus.Address)), ("query", Text(prometheus.Query)), ("secretEnv", Text(prometheus.SecretEnv))) : null),
        ("web", metric.Web is { } web ? Map(("url", Text(web.Url)), ("jsonPath", Text(web.JsonPath)), ("secretEnv", Text(web.SecretEnv))) : null),
        ("cloudWatch", metric.CloudWatch is { } cloudWatch ? Map(("queries", cloudWatch.Queries is { } queries ? List(queries.Select(CloudWatchQuery)) : null)) : null));

    private static YamlNode CloudWatchQuery(CloudWatchQuerySpec? query) => query is null ? Null() : Map(
        ("id", Text(query.Id)),
        ("expression", Text(query.Expression)),
        ("namespace", Text(query.Namespace)),
        ("metricName", Text(query.MetricName)),
        ("dimensions", query.Expression is null && query.Dimensions is { } dimensions ? Map([.. dimensions.Select(d => (d.Key, (YamlNode?)Text(d.Value)))]) : null),
        ("stat", Text(query.Stat)),
        ("period", query.Expression is null ? Int(query.Period) : null),
        ("returnData", Bool(query.ReturnData)));

    private static YamlScalarNode Number(double value) => Plain(value.ToString("R", CultureInfo.InvariantCulture));

    private static YamlNode ErrorRate(AnalysisSpec analysis)
    {
        YamlNode max = analysis.MaxErrorRate is { } rate ? Plain(rate.ToString("0.###################", CultureInfo.InvariantCulture)) : Null();
        return analysis.MaxErrorRateIncrease is { } increase
            ? DryRun(analysis, "errorRate", Map(("max", max), ("maxIncrease", Plain(increase.ToString()))))
            : analysis.MaxErrorRate is null ? Null() : DryRun(analysis, "errorRate", Map(("max", max)));
    }

    /// <summary>Adds `dryRun: true` to a check's mapping when the spec only measures it.</summary>
    private static YamlNode DryRun(AnalysisSpec analysis, string metric, YamlMappingNode map)
    {
        if (analysis.DryRun.Contains(metric))
        {
            map.Add("dryRun", Plain("true"));
        }

        return map;
    }

    private static YamlNode? Hooks(IReadOnlyDictionary<string, IReadOnlyList<HookSpec>>? hooks)
    {
        if (hooks is null)
        {
            return null;
        }

        var map = new YamlMappingNode();
        foreach (var (stage, list) in hooks)
        {
            map.Add(Text(stage)!, list is null ? Null() : List(list.Select(Hook)));
        }

        return map;
    }

    private static YamlNode Hook(HookSpec? hook)
    {
        if (hook is null)
        {
            return Null();
        }

        var map = new YamlMappingNode();
        if (hook.Exec is { } exec)
        {
            Add(map, "exec", Map(("command", exec.Command is null ? null : List(exec.Command.Select(c => c is null ? Null() : (YamlNode)Text(c)!))), ("timeout", Duration(exec.Timeout))));
        }

        if (hook.Http is { } http)
        {
            Add(map, "http", Map(("url", Text(http.Url)), ("timeout", Duration(http.Timeout)), ("secretEnv", Text(http.SecretEnv)), ("retries", Int(http.Retries))));
        }

        if (hook.Pause is { } pause)
        {
            Add(map, "pause", Map(("timeout", Duration(pause.Timeout)), ("onTimeout", Text(pause.OnTimeout))));
        }

        return map;
    }

    private static YamlNode Notification(NotificationSpec? notification) => notification is null ? Null() : Map(
        ("url", Text(notification.Url)),
        ("format", Text(notification.Format)),
        ("secretEnv", Text(notification.SecretEnv)),
        ("events", Texts(notification.Events)));

    private static void Add(YamlMappingNode map, string key, YamlNode? value)
    {
        if (value is not null)
        {
            map.Add(new YamlScalarNode(key), value);
        }
    }

    private static YamlMappingNode Map(params (string Key, YamlNode? Value)[] entries)
    {
        var map = new YamlMappingNode();
        foreach (var (key, value) in entries)
        {
            if (value is not null)
            {
                map.Add(Text(key)!, value);
            }
        }

        return map;
    }

    private static YamlSequenceNode List(IEnumerable<YamlNode> items) => new(items);

    private static YamlSequenceNode? Texts(IReadOnlyList<string>? values) =>
        values is null ? null : List(values.Select(v => v is null ? Null() : (YamlNode)Text(v)!));

    /// <summary>Text is always quoted, so the reader never takes it for a number, a boolean or nothing.</summary>
    private static YamlScalarNode? Text(string? value) => value is null ? null : new YamlScalarNode(value) { Style = ScalarStyle.DoubleQuoted };

    private static YamlScalarNode Plain(string value) => new(value) { Style = ScalarStyle.Plain };

    private static YamlScalarNode Null() => Plain("null");

    private static YamlScalarNode Int(int value) => Plain(value.ToString(CultureInfo.InvariantCulture));

    private static YamlScalarNode Bool(bool value) => Plain(value ? "true" : "false");

    /// <summary>Whole milliseconds as the file writes them; a negative duration keeps its sign, which the reader refuses.</summary>
    private static YamlScalarNode Duration(TimeSpan value) =>
        Text(value.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture) + "ms")!;
}
