namespace Backstay.Platform.Ecs.Aws.CloudWatch;

// Shapes as in Amazon.CloudWatch.Model, limited to what Backstay reads and writes.

internal sealed record Dimension(string Name, string Value);

internal sealed record Metric(string Namespace, string MetricName, IReadOnlyList<Dimension> Dimensions);

internal sealed record MetricStat(Metric Metric, int Period, string Stat);

/// <summary>
/// One of GetMetricData's queries: a metric with a statistic (<see cref="MetricStat"/>), or an <see cref="Expression"/>
/// over the other queries' ids (metric math, SEARCH, or a Metrics Insights SELECT); never both.
/// </summary>
internal sealed record MetricDataQuery(string Id, MetricStat? MetricStat, bool ReturnData = true)
{
    public string? Expression { get; init; }

    /// <summary>Names the query's result; CloudWatch makes one up when it is not set.</summary>
    public string? Label { get; init; }

    /// <summary>Seconds per point of an expression: a Metrics Insights query needs it; metric math takes its metrics' periods.</summary>
    public int? Period { get; init; }

    public static MetricDataQuery Of(string id, string expression, bool returnData = true, int? period = null) =>
        new(id, null, returnData) { Expression = expression, Period = period };
}

internal sealed record MetricDataResult
{
    public required string Id { get; init; }
    public string? Label { get; init; }
    public IReadOnlyList<DateTimeOffset> Timestamps { get; init; } = [];
    public IReadOnlyList<double> Values { get; init; } = [];
    public string? StatusCode { get; init; }

    /// <summary>What CloudWatch said about the data ("Code: text"), e.g. why a status is InternalError or Forbidden.</summary>
    public IReadOnlyList<string> Messages { get; init; } = [];
}

internal sealed record GetMetricDataRequest
{
    public required IReadOnlyList<MetricDataQuery> MetricDataQueries { get; init; }
    public DateTimeOffset StartTime { get; init; }
    public DateTimeOffset EndTime { get; init; }
}

internal sealed record GetMetricDataResponse
{
    public IReadOnlyList<MetricDataResult> MetricDataResults { get; init; } = [];
}

/// <summary>A metric or composite alarm, as far as Backstay reads one.</summary>
internal sealed record Alarm
{
    public required string AlarmName { get; init; }
    public string? AlarmArn { get; init; }

    /// <summary>OK, ALARM or INSUFFICIENT_DATA.</summary>
    public string? StateValue { get; init; }
    public string? StateReason { get; init; }
    public DateTimeOffset? StateUpdatedTimestamp { get; init; }
    public bool Composite { get; init; }
}
