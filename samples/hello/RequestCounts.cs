using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Hello;

/// <summary>Requests served to / by status code, rendered as the counter <c>hello_requests_total{code="..."}</c> in Prometheus's text format.</summary>
public sealed class RequestCounts
{
    private readonly ConcurrentDictionary<int, long> _byCode = new();

    public void Add(int statusCode) => _byCode.AddOrUpdate(statusCode, 1, (_, count) => count + 1);

    public string Render()
    {
        var text = new StringBuilder();
        text.AppendLine("# HELP hello_requests_total Requests to / by HTTP status code.");
        text.AppendLine("# TYPE hello_requests_total counter");

        // Both codes are always present, so rate() over a revision that never failed is 0, not "no data".
        foreach (var code in _byCode.Keys.Union([200, 500]).Order())
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"hello_requests_total{{code=\"{code}\"}} {_byCode.GetValueOrDefault(code)}");
        }

        return text.ToString();
    }
}
