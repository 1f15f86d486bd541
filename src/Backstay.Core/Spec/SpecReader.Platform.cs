using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Backstay.Core.Spec;

/// <summary>Reading of the platform and task sections.</summary>
internal sealed partial class SpecReader
{
    private const string ListenerExample = "127.0.0.1:8080";

    private PlatformSpec? ReadPlatform(SpecMap root)
    {
        if (!root.Has("platform"))
        {
            Report(root.Origin, "platform",
                "is required; add e.g. `platform: { local: { instances: 3 } }` for the built-in local runtime, or `platform: { ecs: { cluster: prod } }`");
            return null;
        }

        if (root.Map("platform", SpecKeys.Platform, "`{ local: { instances: 3 } }`") is not { } map)
        {
            return null;
        }

        var kind = ExactlyOne(map, SpecKeys.Platform, "`local: { instances: 3 }` or `ecs: { cluster: prod }`", "a service runs on one platform; keep either local or ecs");
        var local = map.Has("local") ? ReadLocal(map) : null;
        var ecs = map.Has("ecs") ? ReadEcs(map) : null;
        return kind switch
        {
            "local" when local is not null => new PlatformSpec { Local = local },
            "ecs" when ecs is not null => new PlatformSpec { Ecs = ecs },
            _ => null,
        };
    }

    private LocalPlatformSpec? ReadLocal(SpecMap platform)
    {
        if (platform.Map("local", SpecKeys.LocalPlatform, "`{ instances: 3, listeners: { production: 127.0.0.1:8080 } }`") is not { } local)
        {
            return null;
        }

        _local = local;
        var defaults = new LocalPlatformSpec();
        var production = defaults.ProductionListener;
        var test = defaults.TestListener;
        if (local.Map("listeners", SpecKeys.Listeners, "`{ production: 127.0.0.1:8080, test: 127.0.0.1:8081 }`") is { } listeners)
        {
            _listeners = listeners;
            production = ReadListener(listeners, "production", required: true) ?? production;
            test = ReadListener(listeners, "test", required: false) ?? test;
            if (test is not null && string.Equals(production, test, StringComparison.OrdinalIgnoreCase))
            {
                Report(listeners.Get("test")!, listeners.PathOf("test"),
                    $"must differ from production ({production}); the test listener needs its own port, e.g. {NextPort(production)}");
            }
        }

        return new LocalPlatformSpec
        {
            Instances = local.Int("instances", defaults.Instances, 1, 64),
            ProductionListener = production,
            TestListener = test,
        };
    }

    private string? ReadListener(SpecMap listeners, string key, bool required)
    {
        if (listeners.Get(key) is not { } node)
        {
            return null;
        }

        var path = listeners.PathOf(key);
        if (IsNull(node))
        {
            if (required)
            {
                Report(node, path, $"must not be empty; write host:port, e.g. {ListenerExample}");
            }

            return null;
        }

        var text = ReadString(node, path);
        if (text is null)
        {
            return null;
        }

        if (!TrySplitAddress(text, out _, out _))
        {
            Report(node, path, $"must be host:port with a port from 1 to 65535, e.g. {ListenerExample}, got '{text}'");
            return null;
        }

        return text;
    }

    private static bool TrySplitAddress(string text, out string host, out int port)
    {
        host = "";
        port = 0;
        var colon = text.LastIndexOf(':');
        if (colon <= 0)
        {
            return false;
        }

        host = text[..colon];
        var bracketed = host.StartsWith('[') && host.EndsWith(']') && host.Length > 2;
        if ((host.Contains(':', StringComparison.Ordinal) && !bracketed) || host.Any(char.IsWhiteSpace))
        {
            return false;
        }

        return int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port)
            && port is >= 1 and <= 65535;
    }

    private static string NextPort(string address) =>
        TrySplitAddress(address, out var host, out var port) && port < 65535
            ? $"{host}:{port + 1}"
            : "127.0.0.1:8081";

    private EcsPlatformSpec? ReadEcs(SpecMap platform)
    {
        if (platform.Map("ecs", SpecKeys.EcsPlatform, "`{ cluster: prod, service: hello }`") is not { } ecs)
        {
            return null;
        }

        _ecs = ecs;
        var defaults = new EcsPlatformSpec { Cluster = "" };
        return new EcsPlatformSpec
        {
            Cluster = ecs.RequiredString("cluster", "prod"),
            Service = ecs.OptionalString("service"),
            Region = ecs.OptionalString("region"),
            Container = ecs.OptionalString("container"),
            DesiredCount = ecs.Int("desiredCount", defaults.DesiredCount, 1, 5000),
            LoadBalancer = ReadLoadBalancer(ecs),
            Alarms = ecs.Get("alarms") is { } alarms
                ? ReadStringList(alarms, ecs.PathOf("alarms"), "`[hello-5xx, hello-latency]`") ?? []
                : defaults.Alarms,
            LaunchType = ecs.Get("launchType") is { } launchType ? ReadChoice(launchType, ecs.PathOf("launchType"), SpecKeys.LaunchTypes) : null,
            Subnets = ecs.Get("subnets") is { } subnets ? ReadStringList(subnets, ecs.PathOf("subnets"), "`[subnet-0abc, subnet-0def]`") ?? [] : [],
            SecurityGroups = ecs.Get("securityGroups") is { } groups ? ReadStringList(groups, ecs.PathOf("securityGroups"), "`[sg-0abc]`") ?? [] : [],
            AssignPublicIp = ecs.Bool("assignPublicIp", defaults.AssignPublicIp),
            Cpu = ecs.OptionalString("cpu"),
            Memory = ecs.OptionalString("memory"),
            ExecutionRoleArn = ecs.OptionalString("executionRoleArn"),
            TaskRoleArn = ecs.OptionalString("taskRoleArn"),
            DeploymentController = ecs.Get("deploymentController") is { } controller
                ? ReadChoice(controller, ecs.PathOf("deploymentController"), SpecKeys.DeploymentControllers) ?? defaults.DeploymentController
                : defaults.DeploymentController,
        };
    }

    private EcsLoadBalancerSpec? ReadLoadBalancer(SpecMap ecs)
    {
        const string TargetGroupsExample = "`[arn:...:targetgroup/hello-blue/..., arn:...:targetgroup/hello-green/...]`";
        if (ecs.Map("loadBalancer", SpecKeys.LoadBalancer, $"`{{ productionListener: arn:..., targetGroups: {TargetGroupsExample.Trim('`')} }}`") is not { } map)
        {
            return null;
        }

        _loadBalancer = map;
        var targetGroups = map.Get("targetGroups") is { } node
            ? ReadStringList(node, map.PathOf("targetGroups"), TargetGroupsExample) ?? []
            : [];
        if (targetGroups.Count == 2 && targetGroups[0] == targetGroups[1])
        {
            Report(map.Get("targetGroups")!, map.PathOf("targetGroups"),
                "must name two different target groups, one for each revision; both are the same");
        }

        return new EcsLoadBalancerSpec
        {
            ProductionListener = map.RequiredString("productionListener", "arn:aws:elasticloadbalancing:...:listener/app/..."),
            TestListener = map.OptionalString("testListener"),
            TargetGroups = targetGroups,
        };
    }

    private TaskSpec? ReadTask(SpecMap root)
    {
        if (!root.Has("task"))
        {
            Report(root.Origin, "task", "is required; add e.g. `task: { image: builtin:hello, port: 8080 }`");
            return null;
        }

        if (root.Map("task", SpecKeys.Task, "`{ image: builtin:hello, port: 8080 }`") is not { } task)
        {
            return null;
        }

        var defaults = new TaskSpec { Image = "" };
        return new TaskSpec
        {
            Image = task.RequiredString("image", "builtin:hello"),
            Args = task.Get("args") is { } args
                ? ReadStringList(args, task.PathOf("args"), "`[--verbose, --port, \"8080\"]`", allowEmptyItems: true) ?? []
                : defaults.Args,
            Port = task.Int("port", defaults.Port, 1, 65535),
            Env = ReadEnv(task) ?? defaults.Env,
            StartTimeout = task.Duration("startTimeout", defaults.StartTimeout),
            HealthCheck = ReadHealthCheck(task) ?? defaults.HealthCheck,
        };
    }

    private Dictionary<string, string>? ReadEnv(SpecMap task)
    {
        if (task.Get("env") is not { } node)
        {
            return null;
        }

        var path = task.PathOf("env");
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        if (IsNull(node))
        {
            return env;
        }

        if (node is not YamlMappingNode mapping)
        {
            Report(node, path, $"must be a mapping of variable names to values such as `{{ GREETING: hi }}`, got {Describe(node)}");
            return null;
        }

        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            var name = keyNode is YamlScalarNode { Value: { } key } && !IsNull(keyNode) ? key : null;
            if (name is null || !SpecValues.IsEnvironmentName(name))
            {
                var suggestion = name is null ? null : SuggestEnvironmentName(name);
                Report(keyNode, name is null ? path : $"{path}.{name}",
                    $"variable names must be letters, digits and '_', not starting with a digit, got {Describe(keyNode)}"
                    + (suggestion is null ? "" : $"; for example '{suggestion}'"));
                continue;
            }

            var varPath = $"{path}.{name}";
            if (valueNode is not YamlScalarNode scalar)
            {
                Report(valueNode, varPath, $"must be a text value, got {Describe(valueNode)}; quote it if you meant the text");
                continue;
            }

            // Numbers and booleans are taken as written, so `PORT: 8080` and `DEBUG: true` work as expected.
            env[name] = IsNull(valueNode) ? "" : scalar.Value ?? "";
        }

        return env;
    }

    private static string? SuggestEnvironmentName(string name)
    {
        var replaced = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());
        if (replaced.Length > 0 && char.IsAsciiDigit(replaced[0]))
        {
            replaced = "_" + replaced;
        }

        return SpecValues.IsEnvironmentName(replaced) ? replaced : null;
    }

    private HealthCheckSpec? ReadHealthCheck(SpecMap task)
    {
        if (task.Map("healthCheck", SpecKeys.HealthCheck, "`{ path: /healthz, interval: 1s, timeout: 500ms }`") is not { } map)
        {
            return null;
        }

        var defaults = new HealthCheckSpec();
        var path = map.OptionalString("path") ?? defaults.Path;
        if (!path.StartsWith('/'))
        {
            Report(map.Get("path")!, map.PathOf("path"), $"must be a URL path starting with '/', e.g. '/{path}', got '{path}'");
        }

        var errorsBefore = _errors.Count;
        var interval = map.Duration("interval", defaults.Interval);
        var timeout = map.Duration("timeout", defaults.Timeout);
        if (_errors.Count == errorsBefore && timeout >= interval)
        {
            const string Why = "a check has to finish before the next one starts";
            if (map.Get("timeout") is { } timeoutNode)
            {
                Report(timeoutNode, map.PathOf("timeout"),
                    $"must be shorter than the interval ({SpecValues.FormatDuration(interval)}), got {SpecValues.FormatDuration(timeout)}; {Why}");
            }
            else
            {
                Report(map.Get("interval")!, map.PathOf("interval"),
                    $"must be longer than the timeout ({SpecValues.FormatDuration(timeout)}), got {SpecValues.FormatDuration(interval)}; {Why}, so raise the interval or set a shorter timeout");
            }
        }

        return new HealthCheckSpec
        {
            Path = path,
            Interval = interval,
            Timeout = timeout,
            HealthyThreshold = map.Int("healthyThreshold", defaults.HealthyThreshold, 1, 10),
            UnhealthyThreshold = map.Int("unhealthyThreshold", defaults.UnhealthyThreshold, 1, 10),
        };
    }
}
