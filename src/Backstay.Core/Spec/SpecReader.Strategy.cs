using YamlDotNet.RepresentationModel;

namespace Backstay.Core.Spec;

/// <summary>Reading of the strategy and analysis sections.</summary>
internal sealed partial class SpecReader
{
    private const string StepsExample = "`steps: [ { setWeight: 10 }, { pause: { duration: 1m } }, { setWeight: 100 } ]`";

    /// <summary>Reads the strategy; null when it is left out (or unusable), which keeps the default of <see cref="ServiceSpec.Strategy"/>.</summary>
    private StrategySpec? ReadStrategy(SpecMap root, AnalysisSpec analysis)
    {
        if (root.Map("strategy", SpecKeys.Strategy, "`{ canary: { steps: [ { setWeight: 10 }, { setWeight: 100 } ] } }`") is not { } map)
        {
            return null;
        }

        var kind = ExactlyOne(map, SpecKeys.Strategy,
            "`rolling: {}`, `blueGreen: { bake: 30s }` or `canary: { steps: [ { setWeight: 10 }, { setWeight: 100 } ] }` (or leave strategy out for a rolling update)",
            "a deployment uses one strategy; keep one of them");
        _strategyKind = kind;

        // Every strategy given is read, so that its own mistakes are reported too.
        var rolling = map.Has("rolling") ? ReadRolling(map) : null;
        var blueGreen = map.Has("blueGreen") ? ReadBlueGreen(map) : null;
        var canary = map.Has("canary") ? ReadCanary(map, analysis) : null;
        var linear = map.Has("linear") ? ReadLinear(map) : null;
        var phased = map.Has("phased") ? ReadPhased(map) : null;
        return kind switch
        {
            "rolling" when rolling is not null => new StrategySpec { Rolling = rolling },
            "blueGreen" when blueGreen is not null => new StrategySpec { BlueGreen = blueGreen },
            "canary" when canary is not null => new StrategySpec { Canary = canary },
            "linear" when linear is not null => new StrategySpec { Linear = linear },
            "phased" when phased is not null => new StrategySpec { Phased = phased },
            _ => null,
        };
    }

    private RollingSpec? ReadRolling(SpecMap strategy)
    {
        if (strategy.Map("rolling", SpecKeys.Rolling, "`{ batch: 1, maxUnavailable: 0 }`") is not { } map)
        {
            return null;
        }

        var defaults = new RollingSpec();
        return new RollingSpec
        {
            Batch = map.Int("batch", defaults.Batch, 1, 1000),
            MaxUnavailable = map.Int("maxUnavailable", defaults.MaxUnavailable, 0, 1000),
        };
    }

    private BlueGreenSpec? ReadBlueGreen(SpecMap strategy)
    {
        if (strategy.Map("blueGreen", SpecKeys.BlueGreen, "`{ testTraffic: true, bake: 30s, keepPreviousFor: 5m }`") is not { } map)
        {
            return null;
        }

        var defaults = new BlueGreenSpec();
        return new BlueGreenSpec
        {
            TestTraffic = map.Bool("testTraffic", defaults.TestTraffic),
            Bake = map.Duration("bake", defaults.Bake, allowZero: true),
            KeepPreviousFor = map.Duration("keepPreviousFor", defaults.KeepPreviousFor, allowZero: true),
        };
    }

    private LinearSpec? ReadLinear(SpecMap strategy)
    {
        if (strategy.Map("linear", SpecKeys.Linear, "`{ stepPercent: 10, interval: 1m }`") is not { } map)
        {
            return null;
        }

        var defaults = new LinearSpec();
        return new LinearSpec
        {
            StepPercent = map.Int("stepPercent", defaults.StepPercent, 1, 100),
            Interval = map.Duration("interval", defaults.Interval),
        };
    }

    private PhasedSpec? ReadPhased(SpecMap strategy)
    {
        const string Example = "`phases: [25, 50, 100]` (percent of the instances on the new revision, growing to 100)";
        if (strategy.Map("phased", SpecKeys.Phased, "`{ phases: [25, 50, 100], pauseBetween: 30s }`") is not { } map)
        {
            return null;
        }

        var defaults = new PhasedSpec();
        var path = map.PathOf("phases");
        var phases = new List<int>();
        switch (map.Get("phases"))
        {
            case null:
                Report(map.Origin, path, $"is required; add e.g. {Example}");
                break;
            case YamlSequenceNode { Children.Count: > 0 } sequence:
                ReadPhases(sequence, path, phases);
                break;
            case var node when IsNull(node) || node is YamlSequenceNode:
                Report(node, path, $"needs at least one phase; write e.g. {Example}");
                break;
            case var node:
                Report(node, path, $"must be a list of percentages such as {Example}, got {Describe(node)}");
                break;
        }

        return new PhasedSpec
        {
            Phases = phases,
            PauseBetween = map.Duration("pauseBetween", defaults.PauseBetween, allowZero: true),
        };
    }

    private void ReadPhases(YamlSequenceNode sequence, string path, List<int> phases)
    {
        var lastIsValid = false;
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var itemPath = $"{path}[{i}]";
            lastIsValid = false;
            if (ReadInt(sequence.Children[i], itemPath, 1, 100) is not { } percent)
            {
                continue;
            }

            if (phases.Count > 0 && percent <= phases[^1])
            {
                Report(sequence.Children[i], itemPath,
                    $"must be larger than the phase before it ({phases[^1]}), got {percent}; phases only grow, each one moving more instances to the new revision");
                continue;
            }

            phases.Add(percent);
            lastIsValid = true;
        }

        if (lastIsValid && phases[^1] != 100)
        {
            Report(sequence.Children[^1], $"{path}[{sequence.Children.Count - 1}]",
                $"the last phase must be 100 so that every instance ends on the new revision, got {phases[^1]}; add 100 at the end");
        }
    }

    private CanarySpec? ReadCanary(SpecMap strategy, AnalysisSpec analysis)
    {
        if (strategy.Map("canary", SpecKeys.Canary, $"`{{ {StepsExample.Trim('`')} }}`") is not { } map)
        {
            return null;
        }

        var path = map.PathOf("steps");
        switch (map.Get("steps"))
        {
            case null:
                Report(map.Origin, path, $"is required; add e.g. {StepsExample}");
                return null;
            case YamlSequenceNode { Children.Count: > 0 } sequence:
                return new CanarySpec { Steps = ReadCanarySteps(sequence, path, analysis) };
            case var node when IsNull(node) || node is YamlSequenceNode:
                Report(node, path, $"needs at least one step; write e.g. {StepsExample}");
                return null;
            case var node:
                Report(node, path, $"must be a list of steps such as {StepsExample}, got {Describe(node)}");
                return null;
        }
    }

    private List<CanaryStep> ReadCanarySteps(YamlSequenceNode sequence, string path, AnalysisSpec analysis)
    {
        const string StepKinds = "`setWeight: 10`, `pause: {}` or `analysis: { window: 5s }`";
        var steps = new List<CanaryStep>();
        (int Weight, string Path)? highest = null;
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var item = sequence.Children[i];
            var stepPath = $"{path}[{i}]";
            if (item is not YamlMappingNode)
            {
                Report(item, stepPath, $"must be a step: {StepKinds}, got {Describe(item)}");
                continue;
            }

            var step = new SpecMap(this, item, stepPath, SpecKeys.CanaryStep);
            switch (ExactlyOne(step, SpecKeys.CanaryStep, StepKinds, "a step does one thing; split it into separate steps, one key each"))
            {
                case "setWeight":
                    var weightPath = step.PathOf("setWeight");
                    if (ReadInt(step.Get("setWeight")!, weightPath, 0, 100) is not { } weight)
                    {
                        break;
                    }

                    if (highest is { } before && weight < before.Weight)
                    {
                        Report(step.Get("setWeight")!, weightPath,
                            $"must not be lower than {before.Weight}, the weight set at {before.Path}; weights only grow during a canary (to send traffic back, roll back instead)");
                        break;
                    }

                    highest = (weight, weightPath);
                    steps.Add(new SetWeightStep(weight));
                    break;
                case "pause":
                    var pause = step.Map("pause", SpecKeys.PauseStep, "`{ duration: 30s }`, or `{}` to wait until `backstay continue`");
                    steps.Add(new PauseStep(pause?.Get("duration") is { } duration
                        ? ReadDuration(duration, pause.PathOf("duration"), allowZero: false)
                        : null));
                    break;
                case "analysis":
                    steps.Add(new AnalysisStep(ReadAnalysis(step.Get("analysis")!, step.PathOf("analysis"), analysis)));
                    break;
            }
        }

        // A canary always ends with all traffic on the new revision; saying so in the file is optional.
        if (highest is not { Weight: 100 })
        {
            steps.Add(new SetWeightStep(100));
        }

        return steps;
    }

    /// <summary>Reads analysis settings; keys left out keep the values of <paramref name="defaults"/>.</summary>
    private AnalysisSpec ReadAnalysis(YamlNode node, string path, AnalysisSpec defaults)
    {
        if (ReadMap(node, path, SpecKeys.Analysis, "`{ window: 10s, minRequests: 20, errorRate: { max: 5% } }`") is not { } map)
        {
            return defaults;
        }

        return new AnalysisSpec
        {
            Window = map.Duration("window", defaults.Window),
            MinRequests = map.Int("minRequests", defaults.MinRequests, 0, int.MaxValue),
            MaxErrorRate = ReadThreshold(map, "errorRate", defaults.MaxErrorRate, "1%", ReadFraction),
            MaxErrorRateIncrease = ReadErrorRateIncrease(map, defaults.MaxErrorRateIncrease),
            Confidence = map.Get("confidence") is { } confidence ? ReadConfidence(confidence, map.PathOf("confidence")) ?? defaults.Confidence : defaults.Confidence,
            MaxLatencyP99 = ReadThreshold(map, "latencyP99", defaults.MaxLatencyP99, "300ms", ReadLatency),
            MaxLatencyP90 = ReadThreshold(map, "latencyP90", defaults.MaxLatencyP90, "200ms", ReadLatency),
            MaxLatencyIncrease = ReadLatencyIncrease(map, defaults.MaxLatencyIncrease),
            DryRun = ReadDryRun(map, defaults.DryRun),
            ConsecutiveFailures = map.Int("consecutiveFailures", defaults.ConsecutiveFailures, 1, 100),
            Interval = map.Duration("interval", defaults.Interval),
            OnFailure = map.Get("onFailure") is { } onFailure
                ? ReadChoice(onFailure, map.PathOf("onFailure"), SpecKeys.AnalysisFailureActions) ?? defaults.OnFailure
                : defaults.OnFailure,
            PauseTimeout = map.Duration("pauseTimeout", defaults.PauseTimeout),
            OnPauseTimeout = map.Get("onPauseTimeout") is { } onTimeout
                ? ReadChoice(onTimeout, map.PathOf("onPauseTimeout"), SpecKeys.OnTimeoutActions) ?? defaults.OnPauseTimeout
                : defaults.OnPauseTimeout,
            Metrics = ReadMetrics(map, defaults.Metrics),
        };
    }

    /// <summary>Reads `latency: { maxIncrease: 20ms }`: how much slower than the stable revision the new one may be; `latency: null` switches it off.</summary>
    private TimeSpan? ReadLatencyIncrease(SpecMap analysis, TimeSpan? fallback)
    {
        if (analysis.Get("latency") is not { } node)
        {
            return fallback;
        }

        if (IsNull(node))
        {
            return null;
        }

        var example = "`{ maxIncrease: 20ms }` (the new revision may be at most 20 ms slower than the stable one), or null";
        if (ReadMap(node, analysis.PathOf("latency"), SpecKeys.LatencyComparison, example) is not { } map)
        {
            return fallback;
        }

        if (map.Get("maxIncrease") is not { } increase)
        {
            if (!map.HasUnknownKeys)
            {
                Report(node, map.PathOf("maxIncrease"), $"is required; write e.g. `latency: {example}");
            }

            return fallback;
        }

        return ReadDuration(increase, map.PathOf("maxIncrease"), allowZero: true) ?? fallback;
    }

    /// <summary>The checks whose mapping says `dryRun: true`: measured and shown, never acted on.</summary>
    private IReadOnlyList<string> ReadDryRun(SpecMap analysis, IReadOnlyList<string> fallback)
    {
        var dryRun = fallback.ToList();
        var changed = false;
        foreach (var (key, metric) in new[] { ("errorRate", "errorRate"), ("latency", "latency"), ("latencyP99", "latencyP99"), ("latencyP90", "latencyP90") })
        {
            // The mapping's keys were checked when its threshold was read; only the flag is read here.
            if (analysis.Get(key) is not YamlMappingNode map
                || map.Children.FirstOrDefault(c => c.Key is YamlScalarNode { Value: "dryRun" }).Value is not { } node)
            {
                continue;
            }

            if (ReadBool(node, analysis.PathOf(key) + ".dryRun") is { } on)
            {
                changed = true;
                dryRun.Remove(metric);
                if (on)
                {
                    dryRun.Add(metric);
                }
            }
        }

        // The defaults' own list when nothing changed, so an analysis step that inherits everything equals its defaults.
        return changed ? dryRun : fallback;
    }

    /// <summary>Reads `errorRate: { maxIncrease: +1% }` or `2x`: how much worse than the stable revision the new one may be.</summary>
    private ErrorRateIncrease? ReadErrorRateIncrease(SpecMap analysis, ErrorRateIncrease? fallback)
    {
        // The errorRate mapping's keys were checked when its `max` was read; only the value is read here.
        if (analysis.Get("errorRate") is not YamlMappingNode errorRate
            || errorRate.Children.FirstOrDefault(c => c.Key is YamlScalarNode { Value: "maxIncrease" }).Value is not { } node)
        {
            return fallback;
        }

        if (IsNull(node))
        {
            return null;
        }

        if (node is YamlScalarNode { Value: { } text } && ErrorRateIncrease.TryParse(text) is { } increase)
        {
            return increase;
        }

        Report(node, analysis.PathOf("errorRate") + ".maxIncrease",
            $"must be an increase over the stable revision's error rate: `+1%` (percentage points, above 0) or `2x` (a factor, at least 1), got {Describe(node)}");
        return fallback;
    }

    private double? ReadConfidence(YamlNode node, string path)
    {
        if (ReadFraction(node, path) is not { } confidence)
        {
            return null;
        }

        if (confidence is < 0.5 or > 0.9999)
        {
            Report(node, path, $"must be between 50% and 99.99% (95% allows at most 5% false rollbacks), got {Describe(node)}");
            return null;
        }

        return confidence;
    }

    private TimeSpan? ReadLatency(YamlNode node, string path) => ReadDuration(node, path, allowZero: false);

    /// <summary>Reads `key: { max: value }`; `key: null` switches the check off.</summary>
    private T? ReadThreshold<T>(SpecMap analysis, string key, T? fallback, string example, Func<YamlNode, string, T?> readMax)
        where T : struct
    {
        if (analysis.Get(key) is not { } node)
        {
            return fallback;
        }

        if (IsNull(node))
        {
            return null;
        }

        var path = analysis.PathOf(key);
        var keys = key == "errorRate" ? SpecKeys.ErrorRateThreshold : SpecKeys.Threshold;
        if (ReadMap(node, path, keys, $"`{{ max: {example} }}` (or null to not judge it)") is not { } map)
        {
            return fallback;
        }

        if (map.Get("max") is not { } max)
        {
            // `errorRate: { maxIncrease: 2x }` compares with the stable revision and keeps the absolute limit's default;
            // `latencyP99: { dryRun: true }` keeps the limit it had and only stops acting on it.
            if (map.Has("maxIncrease") || map.Has("dryRun"))
            {
                return fallback;
            }

            if (!map.HasUnknownKeys)
            {
                Report(node, map.PathOf("max"), $"is required; write e.g. `{key}: {{ max: {example} }}`, or `{key}: null` to not judge it");
            }

            return fallback;
        }

        // `errorRate: { max: null, maxIncrease: 2x }`: judged against the stable revision only, with no absolute limit.
        if (IsNull(max) && map.Has("maxIncrease"))
        {
            return null;
        }

        return readMax(max, map.PathOf("max")) ?? fallback;
    }
}
