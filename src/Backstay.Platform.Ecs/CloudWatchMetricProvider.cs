using Backstay.Platform.Ecs.Aws.CloudWatch;

namespace Backstay.Platform.Ecs;

/// <summary>
/// Reads a <c>cloudWatch</c> metric of <c>analysis.metrics[]</c>: all its queries (metrics, and metric math over them)
/// go in one GetMetricData request, in the service's account and region, and the value is the latest point of the one
/// query that returns data. No point in the window is "no data yet", as for a revision that has served nothing.
/// </summary>
internal sealed class CloudWatchMetricProvider(Func<string, GetMetricDataRequest, CancellationToken, Task<GetMetricDataResponse>> getMetricData)
    : IMetricProvider
{
    /// <summary>
    /// How many of the longest period the request looks back at least: CloudWatch publishes a period's point a minute
    /// or more after it ends, so a window of a few seconds would hold no point at all.
    /// </summary>
    private const int PeriodsBack = 5;

    public string Kind => MetricProviders.CloudWatch;

    public async Task<MetricReading> ReadAsync(MetricSpec metric, MetricQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(metric);
        ArgumentNullException.ThrowIfNull(query);
        var spec = metric.CloudWatch ?? throw new ArgumentException($"metric '{metric.Name}' is not a CloudWatch query", nameof(metric));
        var queries = spec.Queries.Select(q => Render(q, query)).ToList();
        if (queries.Count(q => q.ReturnData) != 1)
        {
            throw new MetricReadException($"{queries.Count(q => q.ReturnData)} of the queries of metric '{metric.Name}' return data; exactly one must (set returnData: false on the others)");
        }

        var back = TimeSpan.FromSeconds(PeriodsBack * spec.Queries.Max(q => q.Period));
        var request = new GetMetricDataRequest
        {
            StartTime = query.End - (query.Window > back ? query.Window : back),
            EndTime = query.End,
            MetricDataQueries = queries,
        };
        GetMetricDataResponse response;
        try
        {
            response = await getMetricData(query.Service, request, cancellationToken);
        }
        catch (PlatformException e)
        {
            // AWS refused the request (a bad expression or statistic, no permission) or could not be reached; its message says which.
            throw new MetricReadException(e.Message, e);
        }

        return new MetricReading(ValueOf(response, queries.Single(q => q.ReturnData).Id), Describe(queries));
    }

    /// <summary>The latest point of the returning query's one series; null when it has none (or the point is NaN).</summary>
    internal static double? ValueOf(GetMetricDataResponse response, string id)
    {
        ArgumentNullException.ThrowIfNull(response);
        var results = response.MetricDataResults.Where(r => r.Id == id).ToList();
        if (results.FirstOrDefault(r => r.StatusCode is not ("Complete" or "PartialData")) is { } failed)
        {
            var said = failed.Messages.Count > 0 ? string.Join("; ", failed.Messages) : "no message";
            throw new MetricReadException($"CloudWatch answered {failed.StatusCode ?? "no status"} for query '{id}' ({said})");
        }

        if (results.Count > 1)
        {
            throw new MetricReadException(
                $"query '{id}' returned {results.Count} series ({string.Join(", ", results.Select(r => r.Label))}); it must return one number: aggregate it, e.g. MAX(SEARCH(...)) or SUM(METRICS())");
        }

        var points = results.SelectMany(r => r.Timestamps.Zip(r.Values)).ToList();
        if (points.Count == 0)
        {
            return null;
        }

        var latest = points.MaxBy(p => p.First).Second;
        return double.IsNaN(latest) ? null : latest;
    }

    /// <summary>The spec's query with its templates filled in for this reading.</summary>
    private static MetricDataQuery Render(CloudWatchQuerySpec spec, MetricQuery query)
    {
        if (spec.Expression is { } expression)
        {
            // A Metrics Insights query (SELECT ...) needs a period of its own; metric math and SEARCH take theirs from what they read.
            var insights = expression.TrimStart().StartsWith("SELECT", StringComparison.OrdinalIgnoreCase);
            return MetricDataQuery.Of(spec.Id, MetricTemplate.Render(expression, query), spec.ReturnData, insights ? spec.Period : null);
        }

        var dimensions = spec.Dimensions.Select(d => new Dimension(d.Key, MetricTemplate.Render(d.Value, query))).ToList();
        return new MetricDataQuery(spec.Id, new MetricStat(new Metric(spec.Namespace ?? "", spec.MetricName ?? "", dimensions), spec.Period, spec.Stat ?? ""), spec.ReturnData);
    }

    /// <summary>
    /// The queries as sent, for the evidence, the returning one first:
    /// <c>rate = errors / requests; errors = Backstay/Test Errors Sum/60s {Revision=3}; ...</c>.
    /// </summary>
    private static string Describe(IReadOnlyList<MetricDataQuery> queries) =>
        string.Join("; ", queries.OrderBy(q => !q.ReturnData).Select(q => $"{q.Id} = {q.Expression ?? Describe(q.MetricStat!)}"));

    private static string Describe(MetricStat stat)
    {
        var dimensions = stat.Metric.Dimensions.Count == 0 ? "" : $" {{{string.Join(", ", stat.Metric.Dimensions.Select(d => $"{d.Name}={d.Value}"))}}}";
        return string.Create(CultureInfo.InvariantCulture, $"{stat.Metric.Namespace} {stat.Metric.MetricName} {stat.Stat}/{stat.Period}s{dimensions}");
    }
}
