using Backstay.Platform.Ecs.Aws.CloudWatch;

namespace Backstay.Platform.Ecs;

public sealed partial class EcsPlatform
{
    private const int MetricPeriodSeconds = 60;

    /// <summary>
    /// The revision's ALB figures from CloudWatch, for its task set's target group: RequestCount,
    /// HTTPCode_Target_5XX_Count and TargetResponseTime p50/p90/p99. ALB publishes them per minute, a minute or more late.
    /// </summary>
    public async Task<RevisionMetrics> GetMetricsAsync(string service, int revision, TimeSpan window, DateTimeOffset? since, CancellationToken cancellationToken)
    {
        var context = Context(service);
        var empty = new RevisionMetrics { Revision = revision, Window = window };
        var snapshot = await ReadAsync(context, Freshness.Watch, cancellationToken);
        if (snapshot.SetOf(revision) is not { } set || EcsSnapshot.TargetGroupOf(set) is not { } targetGroup)
        {
            return empty;
        }

        var end = _time.GetUtcNow();
        var key = (revision, window, since);
        if (context.Metrics.TryGetValue(key, out var cached) && end - cached.At < _options.MetricsTtl)
        {
            return cached.Metrics;
        }

        var start = end - window;
        if (since is { } from && from > start)
        {
            start = from;
        }

        if (end - start < TimeSpan.FromSeconds(1))
        {
            return empty;
        }

        var dimensions = new List<Dimension> { new("TargetGroup", TargetGroupDimension(targetGroup)) };
        if (context.LoadBalancerDimensions.TryGetValue(targetGroup, out var loadBalancer))
        {
            dimensions.Add(new Dimension("LoadBalancer", loadBalancer));
        }

        MetricDataQuery Query(string id, string metric, string stat) =>
            new(id, new MetricStat(new Metric("AWS/ApplicationELB", metric, dimensions), MetricPeriodSeconds, stat));
        var data = await CallAsync(context, () => context.Aws.CloudWatch.GetMetricDataAsync(new GetMetricDataRequest
        {
            StartTime = start,
            EndTime = end,
            MetricDataQueries =
            [
                Query("requests", "RequestCount", "Sum"),
                Query("errors", "HTTPCode_Target_5XX_Count", "Sum"),
                Query("p50", "TargetResponseTime", "p50"),
                Query("p90", "TargetResponseTime", "p90"),
                Query("p99", "TargetResponseTime", "p99"),
            ],
        }, cancellationToken));
        var metrics = MetricsFrom(data, revision, window);
        context.Metrics[key] = (end, metrics);
        return metrics;
    }

    /// <summary>CloudWatch metrics of <c>analysis.metrics[]</c>, read in the account and region of the service they are about.</summary>
    public IReadOnlyList<IMetricProvider> MetricProviders => [new CloudWatchMetricProvider(GetMetricDataAsync)];

    private Task<GetMetricDataResponse> GetMetricDataAsync(string service, GetMetricDataRequest request, CancellationToken cancellationToken)
    {
        var context = Context(service);
        return CallAsync(context, () => context.Aws.CloudWatch.GetMetricDataAsync(request, cancellationToken));
    }

    /// <summary>
    /// The states of the alarms the spec names; an alarm that does not exist is an error, not a silent OK. Read at most
    /// every <see cref="EcsPlatformOptions.AlarmsTtl"/> per service (CloudWatch evaluates an alarm once a period, a minute
    /// for most), however often the engine asks.
    /// </summary>
    public Task<IReadOnlyList<AlarmStatus>> GetAlarmsAsync(ServiceSpec spec, CancellationToken cancellationToken) =>
        ReadAlarmsAsync(spec, Freshness.Watch, cancellationToken);

    /// <summary>Read after the caller asked: an alarm that fired a moment ago stops the traffic moving up or the deployment succeeding.</summary>
    public Task<IReadOnlyList<AlarmStatus>> GetAlarmsBeforeActingAsync(ServiceSpec spec, CancellationToken cancellationToken) =>
        ReadAlarmsAsync(spec, Freshness.Fresh, cancellationToken);

    private async Task<IReadOnlyList<AlarmStatus>> ReadAlarmsAsync(ServiceSpec spec, Freshness freshness, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Platform.Ecs is not { Alarms.Count: > 0 } ecs)
        {
            return [];
        }

        var context = Register(spec);
        var names = string.Join(" ", ecs.Alarms);
        var alarms = await context.Alarms.GetAsync(freshness, _time,
            ct => CallAsync(context, () => context.Aws.CloudWatch.DescribeAlarmsAsync(ecs.Alarms, ct)), cancellationToken,
            usable: _ => context.AlarmNames == names);
        context.AlarmNames = names;
        var missing = ecs.Alarms.Where(name => alarms.All(a => a.AlarmName != name)).ToList();
        if (missing.Count > 0)
        {
            throw new PlatformException(
                $"CloudWatch alarm(s) {string.Join(", ", missing.Select(m => $"'{m}'"))} named in platform.ecs.alarms of '{spec.Service}' do not exist in {context.Aws.Region}; " +
                "create them or fix the names (Backstay will not deploy while an alarm it should watch is missing).");
        }

        return ecs.Alarms.Select(name => alarms.First(a => a.AlarmName == name))
            .Select(a => new AlarmStatus(a.AlarmName, a.StateValue ?? "INSUFFICIENT_DATA", a.StateReason))
            .ToList();
    }

    internal static RevisionMetrics MetricsFrom(GetMetricDataResponse data, int revision, TimeSpan window)
    {
        ArgumentNullException.ThrowIfNull(data);
        MetricDataResult? Result(string id) => data.MetricDataResults.FirstOrDefault(r => r.Id == id);
        double? Worst(string id) => Result(id) is { Values.Count: > 0 } r ? r.Values.Max() * 1000 : null;
        var errors = Result("errors");
        DateTimeOffset? firstError = null;
        if (errors is not null)
        {
            for (var i = 0; i < Math.Min(errors.Values.Count, errors.Timestamps.Count); i++)
            {
                if (errors.Values[i] > 0 && (firstError is null || errors.Timestamps[i] < firstError))
                {
                    firstError = errors.Timestamps[i];
                }
            }
        }

        return new RevisionMetrics
        {
            Revision = revision,
            Window = window,
            Requests = (long)Math.Round(Result("requests")?.Values.Sum() ?? 0),
            Errors = (long)Math.Round(errors?.Values.Sum() ?? 0),
            LatencyP50Ms = Worst("p50"),
            LatencyP90Ms = Worst("p90"),
            LatencyP99Ms = Worst("p99"),
            FirstErrorAt = firstError,
        };
    }
}
