using System.Globalization;
using System.Text.RegularExpressions;
using Backstay.Core.Metrics;
using YamlDotNet.RepresentationModel;

namespace Backstay.Core.Spec;

/// <summary>Reading of <c>analysis.metrics</c>: custom metrics from Prometheus, a web endpoint or CloudWatch.</summary>
internal sealed partial class SpecReader
{
    private const string MetricExample =
        "`[ { name: error-ratio, max: 0.05, prometheus: { address: http://127.0.0.1:9090, query: 'sum(rate(http_errors_total{revision=\"{{revision}}\"}[{{window}}]))' } } ]`";

    /// <summary>The names the built-in checks carry in the evidence; a custom metric may not take one.</summary>
    private static readonly IReadOnlyList<string> BuiltInChecks = ["errorRate", "errorRate.maxIncrease", "latency.maxIncrease", "latencyP99", "latencyP90"];

    /// <summary>Where a cloudWatch metric was written, to tell the file's author when the platform is not ECS.</summary>
    private readonly List<(YamlNode Node, string Path)> _cloudWatchMetrics = [];

    /// <summary>Reads <c>metrics:</c>; left out, the analysis keeps <paramref name="fallback"/> (an analysis step inherits the top level's).</summary>
    private IReadOnlyList<MetricSpec> ReadMetrics(SpecMap analysis, IReadOnlyList<MetricSpec> fallback)
    {
        if (analysis.Get("metrics") is not { } node)
        {
            return fallback;
        }

        var path = analysis.PathOf("metrics");
        if (IsNull(node))
        {
            return [];
        }

        if (node is not YamlSequenceNode sequence)
        {
            Report(node, path, $"must be a list of metrics such as {MetricExample}, got {Describe(node)}");
            return fallback;
        }

        var metrics = new List<MetricSpec>();
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var itemPath = $"{path}[{i}]";
            if (ReadMap(sequence.Children[i], itemPath, SpecKeys.Metric, MetricExample.Trim('`', '[', ']', ' ')) is not { } map)
            {
                continue;
            }

            if (ReadMetric(map) is { } metric)
            {
                if (BuiltInChecks.Contains(metric.Name))
                {
                    Report(map.Get("name")!, map.PathOf("name"), $"'{metric.Name}' is the name of a built-in check ({string.Join(", ", BuiltInChecks)}); choose another, the evidence and `continue` tell checks apart by name");
                    continue;
                }

                if (metrics.Any(m => m.Name == metric.Name))
                {
                    Report(map.Get("name")!, map.PathOf("name"), $"'{metric.Name}' names another metric of this analysis too; each metric needs its own name (it labels the evidence)");
                    continue;
                }

                metrics.Add(metric);
            }
        }

        return metrics;
    }

    private MetricSpec? ReadMetric(SpecMap map)
    {
        var name = map.RequiredString("name", "error-ratio");
        var providers = map.Present(SpecKeys.MetricProviderKeys);
        if (providers.Count != 1)
        {
            Report(map.Origin, map.Path, providers.Count == 0
                ? $"needs a provider: one of {SpecKeys.Join(SpecKeys.MetricProviderKeys)}, e.g. `prometheus: {{ address: http://127.0.0.1:9090, query: ... }}`"
                : $"has {providers.Count} providers ({string.Join(", ", providers)}); a metric reads from exactly one");
            return null;
        }

        var dryRun = map.Bool("dryRun", false);
        var max = map.Get("max") is { } maxNode ? ReadNumber(maxNode, map.PathOf("max")) : null;
        var min = map.Get("min") is { } minNode ? ReadNumber(minNode, map.PathOf("min")) : null;
        if (max is null && min is null && !map.Has("max") && !map.Has("min") && !dryRun)
        {
            Report(map.Origin, map.Path, $"needs a range to judge '{name}' against: `max: 0.05`, `min: 0.9` or both (or `dryRun: true` to only show it)");
        }
        else if (max < min)
        {
            Report(map.Get("max")!, map.PathOf("max"), $"is below min ({min.Value.ToString(CultureInfo.InvariantCulture)}); no value could pass");
        }

        var defaults = new MetricSpec { Name = "" };
        var metric = new MetricSpec
        {
            Name = name,
            Max = max,
            Min = min,
            DryRun = dryRun,
            Interval = map.Duration("interval", defaults.Interval),
            Timeout = map.Duration("timeout", defaults.Timeout),
        };
        return providers[0] switch
        {
            MetricProviders.Prometheus => ReadPrometheus(map) is { } prometheus ? metric with { Prometheus = prometheus } : null,
            MetricProviders.Web => ReadWeb(map) is { } web ? metric with { Web = web } : null,
            _ => ReadCloudWatch(map) is { } cloudWatch ? metric with { CloudWatch = cloudWatch } : null,
        };
    }

    private PrometheusMetricSpec? ReadPrometheus(SpecMap metric)
    {
        if (metric.Map(MetricProviders.Prometheus, SpecKeys.PrometheusMetric, "`{ address: http://127.0.0.1:9090, query: 'sum(rate(...))' }`") is not { } map)
        {
            return null;
        }

        var address = ReadHttpUrl(map, "address", "http://127.0.0.1:9090");
        var query = map.RequiredString("query", "'sum(rate(http_requests_total{revision=\"{{revision}}\",code=~\"5..\"}[{{window}}]))'");
        CheckTemplate(map, "query", query);
        return new PrometheusMetricSpec { Address = address, Query = query, SecretEnv = ReadSecretEnv(map) };
    }

    private WebMetricSpec? ReadWeb(SpecMap metric)
    {
        if (metric.Map(MetricProviders.Web, SpecKeys.WebMetric, "`{ url: http://127.0.0.1:8080/stats?revision={{revision}}, jsonPath: $.errorRate }`") is not { } map)
        {
            return null;
        }

        var url = ReadHttpUrl(map, "url", "http://127.0.0.1:8080/stats?revision={{revision}}");
        CheckTemplate(map, "url", url);
        var jsonPath = map.RequiredString("jsonPath", "$.data.errorRate");
        if (jsonPath.Length > 0 && JsonPathSubset.TryParse(jsonPath, out var error) is null)
        {
            Report(map.Get("jsonPath")!, map.PathOf("jsonPath"), $"{error}; got '{jsonPath}'");
        }

        return new WebMetricSpec { Url = url, JsonPath = jsonPath, SecretEnv = ReadSecretEnv(map) };
    }

    private CloudWatchMetricSpec? ReadCloudWatch(SpecMap metric)
    {
        const string QueryExample = "{ id: errors, namespace: AWS/ApplicationELB, metricName: HTTPCode_Target_5XX_Count, dimensions: { TargetGroup: ... }, stat: Sum, period: 60 }";
        if (metric.Map(MetricProviders.CloudWatch, SpecKeys.CloudWatchMetric, $"`{{ queries: [ {QueryExample} ] }}`") is not { } map)
        {
            return null;
        }

        _cloudWatchMetrics.Add((map.Origin, map.Path));
        if (map.Get("queries") is not YamlSequenceNode { Children.Count: > 0 } sequence)
        {
            Report(map.Get("queries") ?? map.Origin, map.PathOf("queries"), $"must be a list of GetMetricData queries such as `[ {QueryExample} ]`");
            return null;
        }

        var queries = new List<CloudWatchQuerySpec>();
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var path = $"{map.PathOf("queries")}[{i}]";
            if (ReadMap(sequence.Children[i], path, SpecKeys.CloudWatchQuery, QueryExample) is { } query && ReadCloudWatchQuery(query) is { } read)
            {
                queries.Add(read);
            }
        }

        var returning = queries.Count(q => q.ReturnData);
        if (queries.Count == sequence.Children.Count && returning != 1)
        {
            Report(sequence, map.PathOf("queries"),
                $"{returning} queries return data; exactly one must (the metric's value): set `returnData: false` on the ones only its expression uses");
        }

        foreach (var query in queries.Where(q => q.Expression is { } e && !e.TrimStart().StartsWith("SELECT", StringComparison.OrdinalIgnoreCase)))
        {
            // Metric math functions are upper case (SUM, METRICS, FILL); lower-case words outside quotes are query ids.
            var words = QuotedOrPlaceholder().Replace(query.Expression!, " ");
            foreach (var id in QueryIdWord().Matches(words).Select(m => m.Value).Where(word => queries.All(q => q.Id != word)).Distinct())
            {
                Report(sequence, map.PathOf("queries"), $"the expression '{query.Expression}' of query '{query.Id}' uses '{id}', which is not the id of a query here");
            }
        }

        return new CloudWatchMetricSpec { Queries = queries };
    }

    private CloudWatchQuerySpec? ReadCloudWatchQuery(SpecMap query)
    {
        var id = query.RequiredString("id", "errors");
        if (id.Length > 0 && !QueryId().IsMatch(id))
        {
            Report(query.Get("id")!, query.PathOf("id"), $"must start with a lowercase letter and hold only letters, digits and '_' (CloudWatch's rule for query ids), got '{id}'");
        }

        var defaults = new CloudWatchQuerySpec { Id = "" };
        var expression = query.OptionalString("expression");
        var metricKeys = query.Present(["namespace", "metricName", "dimensions", "stat", "period"]);
        if (expression is not null)
        {
            if (metricKeys.Count > 0)
            {
                Report(query.Origin, query.Path, $"has an expression and {string.Join(", ", metricKeys)}; a query is either an expression or a metric (namespace, metricName, dimensions, stat, period)");
            }

            CheckTemplate(query, "expression", expression);
            return new CloudWatchQuerySpec { Id = id, Expression = expression, ReturnData = query.Bool("returnData", defaults.ReturnData) };
        }

        var dimensions = new Dictionary<string, string>(StringComparer.Ordinal);
        if (query.Get("dimensions") is YamlMappingNode mapping)
        {
            foreach (var (key, value) in mapping.Children)
            {
                var name = (key as YamlScalarNode)?.Value ?? "";
                if (ReadString(value, $"{query.PathOf("dimensions")}.{name}") is { } text)
                {
                    CheckTemplate(query, $"dimensions.{name}", text);
                    dimensions[name] = text;
                }
            }
        }
        else if (query.Get("dimensions") is { } other && !IsNull(other))
        {
            Report(other, query.PathOf("dimensions"), $"must be a mapping of dimension names to values such as `{{ TargetGroup: targetgroup/web/0123456789abcdef }}`, got {Describe(other)}");
        }

        var period = query.Int("period", defaults.Period, 1, 86400);
        if (period >= 60 && period % 60 != 0 || period < 60 && 60 % period != 0)
        {
            Report(query.Get("period")!, query.PathOf("period"), $"must be 1, 5, 10, 20, 30 or a multiple of 60 seconds (CloudWatch's periods), got {period}");
        }

        return new CloudWatchQuerySpec
        {
            Id = id,
            Namespace = query.RequiredString("namespace", "AWS/ApplicationELB"),
            MetricName = query.RequiredString("metricName", "HTTPCode_Target_5XX_Count"),
            Dimensions = dimensions,
            Stat = query.RequiredString("stat", "Sum"),
            Period = period,
            ReturnData = query.Bool("returnData", defaults.ReturnData),
        };
    }

    /// <summary>Reports placeholders that are not filled in (a typo such as {{revison}} would otherwise reach the provider as written).</summary>
    private void CheckTemplate(SpecMap map, string key, string template)
    {
        var unknown = MetricTemplate.Unknown(template);
        if (unknown.Count > 0)
        {
            Report(map.Get(key.Split('.')[0]) ?? map.Origin, map.PathOf(key),
                $"uses {string.Join(", ", unknown.Select(u => $"{{{{{u}}}}}"))}, which is not filled in; the placeholders are {string.Join(", ", MetricTemplate.Names.Select(n => $"{{{{{n}}}}}"))}");
        }
    }

    /// <summary>Cloud watch metrics read through the service's AWS account: only a service on ECS has one.</summary>
    private void CheckMetricsFitPlatform(PlatformSpec? platform)
    {
        if (platform is null || platform.Ecs is not null)
        {
            return;
        }

        foreach (var (node, path) in _cloudWatchMetrics)
        {
            Report(node, path, "reads CloudWatch, which needs `platform: ecs` (the service's AWS account and region); on the local platform use prometheus or web");
        }
    }

    private double? ReadNumber(YamlNode node, string path)
    {
        if (node is YamlScalarNode { Value: { } text } && !IsNull(node)
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value))
        {
            return value;
        }

        Report(node, path, $"must be a number such as 0.05 or 250, got {Describe(node)}");
        return null;
    }

    [GeneratedRegex("^[a-z][A-Za-z0-9_]{0,254}$")]
    private static partial Regex QueryId();

    [GeneratedRegex(@"\b[a-z][A-Za-z0-9_]*\b")]
    private static partial Regex QueryIdWord();

    [GeneratedRegex(@"'[^']*'|""[^""]*""|\{\{[^}]*\}\}")]
    private static partial Regex QuotedOrPlaceholder();
}
