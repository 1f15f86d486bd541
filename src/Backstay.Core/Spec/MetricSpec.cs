namespace Backstay.Core.Spec;

/// <summary>
/// A metric read from where a team keeps it (<c>analysis.metrics[]</c>): one query to one provider (Prometheus, a web
/// endpoint returning JSON, CloudWatch on ECS), judged against a range. Exactly one provider is set. The query is a
/// template: <c>{{service}}</c>, <c>{{revision}}</c>, <c>{{stableRevision}}</c>, <c>{{window}}</c> and
/// <c>{{windowSeconds}}</c> are filled in for each reading (see <see cref="MetricTemplate"/>).
/// </summary>
public sealed record MetricSpec
{
    /// <summary>The metric's name, shown in every verdict's evidence; unique within an analysis.</summary>
    public required string Name { get; init; }

    /// <summary>Fails when the value is above this.</summary>
    public double? Max { get; init; }

    /// <summary>Fails when the value is below this.</summary>
    public double? Min { get; init; }

    /// <summary>Measured and shown, never acted on.</summary>
    public bool DryRun { get; init; }

    /// <summary>How often the provider is asked (its data changes at its own pace: a scrape, a CloudWatch period).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one reading may take before it counts as failed to read.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    public PrometheusMetricSpec? Prometheus { get; init; }

    public WebMetricSpec? Web { get; init; }

    public CloudWatchMetricSpec? CloudWatch { get; init; }

    /// <summary>The provider's key in the spec: prometheus, web or cloudWatch.</summary>
    public string Provider => Prometheus is not null ? MetricProviders.Prometheus : Web is not null ? MetricProviders.Web : MetricProviders.CloudWatch;
}

/// <summary>The providers a metric can be read from (the keys of <c>analysis.metrics[]</c>).</summary>
public static class MetricProviders
{
    public const string Prometheus = "prometheus";
    public const string Web = "web";
    public const string CloudWatch = "cloudWatch";
}

/// <summary>An instant query over Prometheus's HTTP API (<c>GET /api/v1/query</c>); it must return one number.</summary>
public sealed record PrometheusMetricSpec
{
    /// <summary>Prometheus's base URL, e.g. http://127.0.0.1:9090.</summary>
    public required string Address { get; init; }

    /// <summary>The PromQL query, a template.</summary>
    public required string Query { get; init; }

    /// <summary>
    /// The controller's environment variable holding a token sent as <c>Authorization: Bearer</c>; the token itself never
    /// goes in the spec, the evidence or a log.
    /// </summary>
    public string? SecretEnv { get; init; }
}

/// <summary>An HTTP GET returning JSON, with a JSONPath to the number.</summary>
public sealed record WebMetricSpec
{
    /// <summary>The URL, a template (values are URL-escaped).</summary>
    public required string Url { get; init; }

    /// <summary>Where the number is in the JSON: <c>$.data.errorRate</c>, <c>$.items[0].value</c>, <c>$['p99']</c>.</summary>
    public required string JsonPath { get; init; }

    /// <summary>The controller's environment variable holding a token sent as <c>Authorization: Bearer</c> (never a token in the URL: the URL is shown in the evidence).</summary>
    public string? SecretEnv { get; init; }
}

/// <summary>
/// CloudWatch GetMetricData, with metric math: the queries are sent as one request over the analysis window (at least
/// five periods, as CloudWatch publishes late), and the value is the latest point of the one query that returns data.
/// </summary>
public sealed record CloudWatchMetricSpec
{
    public IReadOnlyList<CloudWatchQuerySpec> Queries { get; set; } = [];

    public bool Equals(CloudWatchMetricSpec? other) => other is not null && Queries.SequenceEqual(other.Queries);

    public override int GetHashCode() => Queries.Count;
}

/// <summary>One of GetMetricData's MetricDataQueries: a metric with a statistic, or an expression over other queries.</summary>
public sealed record CloudWatchQuerySpec
{
    /// <summary>The query's id (lowercase first letter, letters, digits and '_'), used by expressions.</summary>
    public required string Id { get; init; }

    /// <summary>Metric math over other queries' ids, e.g. <c>errors / requests</c>; set instead of a metric.</summary>
    public string? Expression { get; init; }

    public string? Namespace { get; init; }

    public string? MetricName { get; init; }

    /// <summary>The metric's dimensions; values are templates.</summary>
    public IReadOnlyDictionary<string, string> Dimensions { get; set; } = new Dictionary<string, string>();

    /// <summary>Sum, Average, Maximum, p99, ...</summary>
    public string? Stat { get; init; }

    /// <summary>Seconds per point (60 for most AWS metrics).</summary>
    public int Period { get; set; } = 60;

    /// <summary>Whether this query's points are the metric's value; exactly one query of a metric returns data.</summary>
    public bool ReturnData { get; set; } = true;

    public bool Equals(CloudWatchQuerySpec? other) =>
        other is not null
        && (Id, Expression, Namespace, MetricName, Stat, Period, ReturnData) == (other.Id, other.Expression, other.Namespace, other.MetricName, other.Stat, other.Period, other.ReturnData)
        && Dimensions.Count == other.Dimensions.Count
        && Dimensions.All(d => other.Dimensions.TryGetValue(d.Key, out var value) && value == d.Value);

    public override int GetHashCode() => HashCode.Combine(Id, Expression, MetricName);
}
