namespace Backstay.Platform.Ecs.Aws.CloudWatch;

/// <summary>The CloudWatch (version 2010-08-01) operations Backstay calls, over the Query protocol.</summary>
internal sealed class CloudWatchClient(QueryServiceClient query)
{
    public QueryServiceClient Raw => query;

    public async Task<GetMetricDataResponse> GetMetricDataAsync(GetMetricDataRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var parameters = new List<KeyValuePair<string, string>>
        {
            new("StartTime", QueryXml.Iso(request.StartTime)),
            new("EndTime", QueryXml.Iso(request.EndTime)),
        };
        for (var i = 0; i < request.MetricDataQueries.Count; i++)
        {
            var q = request.MetricDataQueries[i];
            var p = $"MetricDataQueries.member.{N(i + 1)}";
            parameters.Add(new($"{p}.Id", q.Id));
            parameters.Add(new($"{p}.ReturnData", q.ReturnData ? "true" : "false"));
            if (q.Label is { } label)
            {
                parameters.Add(new($"{p}.Label", label));
            }

            // A query is an expression or a metric: CloudWatch refuses one with both.
            if (q.Expression is { } expression)
            {
                parameters.Add(new($"{p}.Expression", expression));
                if (q.Period is { } period)
                {
                    parameters.Add(new($"{p}.Period", N(period)));
                }

                continue;
            }

            var stat = q.MetricStat ?? throw new ArgumentException($"query '{q.Id}' has neither a MetricStat nor an Expression", nameof(request));
            parameters.Add(new($"{p}.MetricStat.Period", N(stat.Period)));
            parameters.Add(new($"{p}.MetricStat.Stat", stat.Stat));
            parameters.Add(new($"{p}.MetricStat.Metric.Namespace", stat.Metric.Namespace));
            parameters.Add(new($"{p}.MetricStat.Metric.MetricName", stat.Metric.MetricName));
            for (var d = 0; d < stat.Metric.Dimensions.Count; d++)
            {
                parameters.Add(new($"{p}.MetricStat.Metric.Dimensions.member.{N(d + 1)}.Name", stat.Metric.Dimensions[d].Name));
                parameters.Add(new($"{p}.MetricStat.Metric.Dimensions.member.{N(d + 1)}.Value", stat.Metric.Dimensions[d].Value));
            }
        }

        var results = new List<MetricDataResult>();
        string? next = null;
        do
        {
            var page = new List<KeyValuePair<string, string>>(parameters);
            if (next is not null)
            {
                page.Add(new("NextToken", next));
            }

            var result = await query.CallAsync("GetMetricData", page, cancellationToken);
            results.AddRange(result.Members("MetricDataResults").Select(r => new MetricDataResult
            {
                Id = r.Text("Id") ?? "",
                Label = r.Text("Label"),
                StatusCode = r.Text("StatusCode"),
                Timestamps = r.Members("Timestamps").Select(t => DateTimeOffset.Parse(t.Value, CultureInfo.InvariantCulture)).ToList(),
                Values = r.Members("Values").Select(v => double.Parse(v.Value, NumberStyles.Float, CultureInfo.InvariantCulture)).ToList(),
                Messages = r.Members("Messages").Select(m => $"{m.Text("Code")}: {m.Text("Value")}").ToList(),
            }));
            next = result.Text("NextToken");
        }
        while (!string.IsNullOrEmpty(next));

        // Pages repeat a result with more points; merge them. A SEARCH returns one result per series, all with the
        // query's id and each with its own label, so those are kept apart.
        return new GetMetricDataResponse
        {
            MetricDataResults = results.GroupBy(r => (r.Id, r.Label)).Select(g => g.First() with
            {
                Timestamps = g.SelectMany(r => r.Timestamps).ToList(),
                Values = g.SelectMany(r => r.Values).ToList(),
            }).ToList(),
        };
    }

    public async Task<IReadOnlyList<Alarm>> DescribeAlarmsAsync(IReadOnlyList<string> alarmNames, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(alarmNames);
        var alarms = new List<Alarm>();
        foreach (var chunk in alarmNames.Chunk(100))
        {
            var parameters = chunk.Select((name, i) => new KeyValuePair<string, string>($"AlarmNames.member.{N(i + 1)}", name)).ToList();
            parameters.Add(new("AlarmTypes.member.1", "MetricAlarm"));
            parameters.Add(new("AlarmTypes.member.2", "CompositeAlarm"));
            var result = await query.CallAsync("DescribeAlarms", parameters, cancellationToken);
            alarms.AddRange(result.Members("MetricAlarms").Select(a => Parse(a, composite: false)));
            alarms.AddRange(result.Members("CompositeAlarms").Select(a => Parse(a, composite: true)));
        }

        return alarms;
    }

    private static Alarm Parse(System.Xml.Linq.XElement a, bool composite) => new()
    {
        AlarmName = a.Text("AlarmName") ?? "",
        AlarmArn = a.Text("AlarmArn"),
        StateValue = a.Text("StateValue"),
        StateReason = a.Text("StateReason"),
        StateUpdatedTimestamp = a.Text("StateUpdatedTimestamp") is { } t ? DateTimeOffset.Parse(t, CultureInfo.InvariantCulture) : null,
        Composite = composite,
    };

    private static string N(int value) => value.ToString(CultureInfo.InvariantCulture);
}
