using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Backstay.Core.Spec;

/// <summary>
/// Maps the YAML representation model of one backstay.yaml onto the spec records by hand, so that
/// every problem is reported with its position and key path, and reading goes on after each one.
/// </summary>
internal sealed partial class SpecReader(string fileName)
{
    /// <summary>Key reported for YAML that cannot be parsed at all.</summary>
    public const string SyntaxKey = "(syntax)";

    /// <summary>Key reported for problems with the document as a whole.</summary>
    public const string DocumentKey = "(document)";

    private const string MinimalSpec = "`service: hello`, `platform: { local: {} }` and `task: { image: builtin:hello }`";

    private readonly List<SpecError> _errors = [];

    private SpecMap? _local;
    private SpecMap? _listeners;
    private SpecMap? _ecs;
    private SpecMap? _loadBalancer;
    private string? _strategyKind;

    /// <summary>Every problem found, in the order they appear in the file.</summary>
    public IReadOnlyList<SpecError> Errors =>
        _errors.OrderBy(error => error.Line).ThenBy(error => error.Column).ToList();

    /// <summary>Reads the spec, or returns null when there were errors.</summary>
    public ServiceSpec? Read(string yaml)
    {
        var root = LoadDocument(yaml);
        var spec = root is null ? null : ReadSpec(root);
        return _errors.Count == 0 ? spec : null;
    }

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } scalar
        && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL";

    /// <summary>How a node reads in a message: "a mapping", "a list", "nothing" or the quoted text.</summary>
    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        _ when IsNull(node) => "nothing",
        YamlScalarNode { Value: { Length: > 60 } value } => $"'{value[..57]}...'",
        YamlScalarNode scalar => $"'{scalar.Value}'",
        _ => "an alias",
    };

    public void Report(YamlNode node, string key, string message) => Report(node.Start, key, message);

    public void Report(Mark mark, string key, string message) =>
        _errors.Add(new SpecError(fileName, (int)mark.Line, (int)mark.Column, key, message));

    private YamlNode? LoadDocument(string yaml)
    {
        var parser = new TrackingParser(new Parser(new StringReader(yaml)));
        var stream = new YamlStream();
        try
        {
            stream.Load(parser);
        }
        catch (YamlException ex)
        {
            var mark = ex.Message.Contains("tab", StringComparison.OrdinalIgnoreCase) ? FindIndentingTab(yaml, ex.Start) : ex.Start;
            Report(mark, SyntaxKey, DescribeSyntaxError(ex.Message));
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet 16 fails this way on some unclosed flow collections; the tracking parser knows where.
            if (parser.OpenFlowCollection is { } open)
            {
                var (opening, closing) = open is SequenceStart ? ('[', ']') : ('{', '}');
                Report(open.Start, SyntaxKey, $"invalid YAML: this '{opening}' is never closed; add '{closing}' where the list or mapping ends");
            }
            else
            {
                Report(parser.LastMark, SyntaxKey, "invalid YAML: the file cannot be read past here; check the indentation and that every quote and bracket is closed");
            }

            return null;
        }

        if (stream.Documents.Count == 0)
        {
            Report(new Mark(0, 1, 1), DocumentKey, $"the file is empty; a spec needs at least {MinimalSpec} (see docs/spec.md)");
            return null;
        }

        if (stream.Documents.Count > 1)
        {
            Report(stream.Documents[1].RootNode, DocumentKey,
                $"the file holds {stream.Documents.Count} YAML documents (separated by '---'); a spec is a single document, so remove the others");
        }

        return stream.Documents[0].RootNode;
    }

    /// <summary>YamlDotNet reports a tab used for indentation at the start of the enclosing mapping; point at the tab itself.</summary>
    private static Mark FindIndentingTab(string yaml, Mark reported)
    {
        var lines = yaml.Split('\n');
        for (var i = Math.Max(0, (int)reported.Line - 1); i < lines.Length; i++)
        {
            var indentation = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
            var tab = lines[i].IndexOf('\t', 0, indentation);
            if (tab >= 0)
            {
                return new Mark(0, i + 1, tab + 1);
            }
        }

        return reported;
    }

    private static string DescribeSyntaxError(string message)
    {
        const string DuplicatePrefix = "Duplicate key ";
        if (message.StartsWith(DuplicatePrefix, StringComparison.Ordinal))
        {
            return $"duplicate key '{message[DuplicatePrefix.Length..]}'; a key may appear only once in a mapping, so remove or merge one of them";
        }

        var hint = message switch
        {
            _ when message.Contains("tab", StringComparison.OrdinalIgnoreCase) => "indent with spaces, not tabs",
            _ when message.Contains("quoted scalar", StringComparison.Ordinal) => "close the quote that starts here",
            _ when message.Contains("mapping", StringComparison.Ordinal) =>
                "check the indentation, put a space after each ':' and quote values that contain ': '",
            _ => "check the indentation and that every quote and bracket is closed",
        };
        return $"invalid YAML: {message.TrimEnd('.')}; {hint}";
    }

    private ServiceSpec? ReadSpec(YamlNode root)
    {
        if (root is not YamlMappingNode)
        {
            Report(root, DocumentKey, $"must be a mapping with keys such as {MinimalSpec}, got {Describe(root)}");
            return null;
        }

        var map = new SpecMap(this, root, "", SpecKeys.Root);
        var service = ReadServiceName(map);

        // Read first: canary analysis steps start from these settings wherever the key sits in the file.
        var analysis = map.Get("analysis") is { } analysisNode
            ? ReadAnalysis(analysisNode, "analysis", new AnalysisSpec())
            : new AnalysisSpec();
        var platform = ReadPlatform(map);
        var task = ReadTask(map);
        var strategy = ReadStrategy(map, analysis);
        var hooks = ReadHooks(map);
        var rollback = ReadRollback(map);
        var retention = ReadRetention(map);
        var notifications = ReadNotifications(map);
        CheckStrategyFitsPlatform(platform, strategy);
        CheckMetricsFitPlatform(platform);

        if (platform is null || task is null)
        {
            return null;
        }

        var spec = new ServiceSpec
        {
            Service = service,
            Platform = platform,
            Task = task,
            Analysis = analysis,
            Hooks = hooks,
            Rollback = rollback,
            Retention = retention,
            Notifications = notifications,
        };
        return strategy is null ? spec : spec with { Strategy = strategy };
    }

    private string ReadServiceName(SpecMap root)
    {
        var name = root.RequiredString("service", "hello");
        if (name.Length > 0 && !SpecValues.IsServiceName(name))
        {
            var suggestion = SpecValues.SuggestServiceName(name);
            Report(root.Get("service")!, "service",
                $"must be 1 to 63 lowercase letters, digits or '-', starting with a letter or digit, got '{name}'"
                + (suggestion is null ? "" : $"; for example '{suggestion}'"));
        }

        return name;
    }

    private RollbackSpec ReadRollback(SpecMap root)
    {
        var defaults = new RollbackSpec();
        if (root.Map("rollback", SpecKeys.Rollback, "`{ automatic: true, allPhasesAtOnce: false }`") is not { } map)
        {
            return defaults;
        }

        return new RollbackSpec
        {
            Automatic = map.Bool("automatic", defaults.Automatic),
            AllPhasesAtOnce = map.Bool("allPhasesAtOnce", defaults.AllPhasesAtOnce),
        };
    }

    private RetentionSpec ReadRetention(SpecMap root)
    {
        var defaults = new RetentionSpec();
        if (root.Map("retention", SpecKeys.Retention, "`{ keepPrevious: 3 }`") is not { } map)
        {
            return defaults;
        }

        return new RetentionSpec { KeepPrevious = map.Int("keepPrevious", defaults.KeepPrevious, 1, 100) };
    }

    /// <summary>Reports when none or more than one of the keys is set; returns the first one set.</summary>
    /// <param name="reason">Why only one may be set and what to do instead; follows "sets both 'a' and 'b', but".</param>
    private string? ExactlyOne(SpecMap map, IReadOnlyList<string> keys, string example, string reason)
    {
        var present = map.Present(keys);
        if (present.Count == 0)
        {
            // An unknown key (probably a typo of one of these) has been reported already.
            if (!map.HasUnknownKeys)
            {
                Report(map.Origin, map.Path, $"must set exactly one of {SpecKeys.Join(keys)}; add e.g. {example}");
            }

            return null;
        }

        foreach (var extra in present.Skip(1))
        {
            Report(map.KeyNode(extra)!, map.Path, $"sets both '{present[0]}' and '{extra}', but {reason}");
        }

        return present[0];
    }

    private void CheckStrategyFitsPlatform(PlatformSpec? platform, StrategySpec? strategy)
    {
        var kind = _strategyKind ?? strategy?.Kind ?? "rolling";
        var needsTestListener = strategy?.BlueGreen is { TestTraffic: true };
        const string Why = "because strategy.blueGreen.testTraffic is true (blue/green sends test traffic to the new revision before any production traffic)";

        if (platform?.Local is not null && _local is { } local && needsTestListener && _listeners?.Has("test") != true)
        {
            Report(_listeners?.Origin ?? local.Origin, "platform.local.listeners.test",
                $"is required {Why}; add `test: 127.0.0.1:8081` (a free port) under platform.local.listeners, or set strategy.blueGreen.testTraffic: false");
        }

        if (platform?.Ecs is { NativeRolling: true } && _ecs?.Get("deploymentController") is { } controller && kind != "rolling")
        {
            Report(controller, "platform.ecs.deploymentController",
                $"ECS runs only rolling updates, but the strategy is {kind}; use `deploymentController: EXTERNAL` (the default) for blueGreen, canary, linear and phased, which Backstay runs through task sets, or `strategy: {{ rolling: {{}} }}`");
            return;
        }

        if (platform?.Ecs is not { } ecs || _ecs is not { } ecsMap)
        {
            return;
        }

        // Every ECS strategy needs the listener: the engine reads traffic back from it, and a deploy would fail without it.
        if (!ecsMap.Has("loadBalancer"))
        {
            var why = ecs.NativeRolling
                ? "ECS rolls tasks out behind the production listener's target group"
                : "Backstay runs it through task sets behind an ALB listener and shifts traffic between two target groups";
            Report(ecsMap.Origin, "platform.ecs.loadBalancer",
                $"is required for the {kind} strategy on ECS ({why}); add `loadBalancer: {{ productionListener: arn:..., targetGroups: [arn:...blue, arn:...green] }}`");
            return;
        }

        if (ecs.LoadBalancer is not { } loadBalancer || _loadBalancer is not { } loadBalancerMap)
        {
            return;
        }

        if (ecs.NativeRolling)
        {
            if (loadBalancer.TargetGroups.Count == 0)
            {
                Report(loadBalancerMap.Get("targetGroups") ?? loadBalancerMap.Origin, "platform.ecs.loadBalancer.targetGroups",
                    "must name the target group the production listener forwards to (deploymentController: ECS rolls tasks out in it); write e.g. `targetGroups: [arn:...:targetgroup/hello/...]`");
            }

            return;
        }

        if (loadBalancer.TargetGroups.Count != 2)
        {
            Report(loadBalancerMap.Get("targetGroups") ?? loadBalancerMap.Origin, "platform.ecs.loadBalancer.targetGroups",
                $"must list exactly 2 target groups for the {kind} strategy (one for each revision), got {loadBalancer.TargetGroups.Count}; write e.g. `targetGroups: [arn:...blue, arn:...green]`");
        }

        if (needsTestListener && loadBalancer.TestListener is null)
        {
            Report(loadBalancerMap.Origin, "platform.ecs.loadBalancer.testListener",
                $"is required {Why}; add the ARN of the ALB listener that serves test traffic, or set strategy.blueGreen.testTraffic: false");
        }
    }
}
