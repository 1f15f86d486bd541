using System.Globalization;
using System.Text.Json;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Metrics;

/// <summary>
/// Reads a metric with an HTTP GET returning JSON and a JSONPath to the number (a JSON number, or a string holding one).
/// Nothing at the path, or a JSON null, is "no data yet"; anything else that is not a number is an error.
/// </summary>
internal sealed class WebMetricProvider : IMetricProvider
{
    public string Kind => MetricProviders.Web;

    public async Task<MetricReading> ReadAsync(MetricSpec metric, MetricQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(metric);
        var spec = metric.Web ?? throw new ArgumentException($"metric '{metric.Name}' is not a web metric", nameof(metric));
        var path = JsonPathSubset.TryParse(spec.JsonPath, out var error)
            ?? throw new MetricReadException($"jsonPath '{spec.JsonPath}' {error}");
        var url = MetricTemplate.Render(spec.Url, query, Uri.EscapeDataString);
        using var json = await HttpMetricRead.GetJsonAsync(url, spec.SecretEnv, metric.Timeout, $"GET {url}", errorsInJson: false, cancellationToken);
        return new MetricReading(ValueAt(json.RootElement, path), $"GET {url} {spec.JsonPath}");
    }

    internal static double? ValueAt(JsonElement root, JsonPathSubset path)
    {
        var found = path.Find(root);
        switch (found?.ValueKind)
        {
            case null or JsonValueKind.Null:
                return null;
            case JsonValueKind.Number:
                return found.Value.GetDouble();
            case JsonValueKind.String when double.TryParse(found.Value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed):
                return double.IsNaN(parsed) ? null : parsed;
            default:
                throw new MetricReadException($"{path.Text} points at {HttpMetricRead.Cut(found.Value.GetRawText())}, not a number");
        }
    }
}
