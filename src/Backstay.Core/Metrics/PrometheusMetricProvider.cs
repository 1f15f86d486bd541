using System.Globalization;
using System.Text.Json;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Metrics;

/// <summary>
/// Reads a metric with an instant query over Prometheus's HTTP API (<c>GET /api/v1/query?query=…&amp;time=…</c>). The query
/// must come back as one number: a scalar or a vector of exactly one series (an empty vector is "no data yet"; several
/// series are an error asking for an aggregation such as <c>sum(…)</c>).
/// </summary>
internal sealed class PrometheusMetricProvider : IMetricProvider
{
    public string Kind => MetricProviders.Prometheus;

    public async Task<MetricReading> ReadAsync(MetricSpec metric, MetricQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(metric);
        ArgumentNullException.ThrowIfNull(query);
        var spec = metric.Prometheus ?? throw new ArgumentException($"metric '{metric.Name}' is not a Prometheus query", nameof(metric));
        var promql = MetricTemplate.Render(spec.Query, query);
        var time = (query.End.ToUnixTimeMilliseconds() / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);
        var url = $"{spec.Address.TrimEnd('/')}/api/v1/query?query={Uri.EscapeDataString(promql)}&time={time}";
        using var json = await HttpMetricRead.GetJsonAsync(url, spec.SecretEnv, metric.Timeout, $"Prometheus at {spec.Address}", errorsInJson: true, cancellationToken);
        return new MetricReading(ValueOf(json.RootElement), promql);
    }

    /// <summary>The one number in a query's answer, or null for no data.</summary>
    internal static double? ValueOf(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("status", out var status))
        {
            throw new MetricReadException("Prometheus's answer has no status; is the address Prometheus's (e.g. http://127.0.0.1:9090)?");
        }

        if (status.GetString() != "success")
        {
            var type = root.TryGetProperty("errorType", out var t) ? t.GetString() : "error";
            var error = root.TryGetProperty("error", out var e) ? e.GetString() : "(no message)";
            throw new MetricReadException($"Prometheus refused the query ({type}): {error}");
        }

        var data = root.GetProperty("data");
        var resultType = data.GetProperty("resultType").GetString();
        var result = data.GetProperty("result");
        switch (resultType)
        {
            case "scalar":
                return Number(result);
            case "vector" when result.GetArrayLength() == 0:
                return null;
            case "vector" when result.GetArrayLength() == 1:
                return Number(result[0].GetProperty("value"));
            case "vector":
                throw new MetricReadException(
                    $"the query returned {result.GetArrayLength()} series; it must return one number: aggregate it, e.g. sum(...) or max(...)");
            default:
                throw new MetricReadException($"the query returned a {resultType}; it must return one number (an instant vector of one series, or a scalar)");
        }
    }

    /// <summary>A sample <c>[time, "value"]</c>; NaN (e.g. 0/0 before any request) is no data.</summary>
    private static double? Number(JsonElement sample)
    {
        var text = sample[1].GetString();
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            // Prometheus writes infinities as +Inf/-Inf.
            value = text switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                _ => throw new MetricReadException($"the query's value '{text}' is not a number"),
            };
        }

        return double.IsNaN(value) ? null : value;
    }
}
