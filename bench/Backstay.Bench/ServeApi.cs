using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Backstay.Bench;

/// <summary>
/// Reads from the running serve's REST API and /metrics with the read-only token (<state>/token.read), for the
/// footprint runner's bookkeeping: which deployments are active, and the engine's timing histograms. Loopback only.
/// </summary>
internal sealed class ServeApi : IDisposable
{
    private readonly HttpClient _http;

    private ServeApi(Uri url, string token)
    {
        if (!url.IsLoopback)
        {
            throw new BenchException($"serve's server.json names {url}, which is not a loopback address; the benchmark only talks to 127.0.0.1");
        }

        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(60) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public static ServeApi Open(string state)
    {
        using var server = JsonDocument.Parse(File.ReadAllText(Path.Combine(state, "server.json")));
        var url = new Uri(server.RootElement.GetProperty("url").GetString()!);
        var token = File.ReadAllText(Path.Combine(state, "token.read")).Trim();
        return new ServeApi(url, token);
    }

    public async Task<string> GetAsync(string path)
    {
        using var response = await _http.GetAsync(new Uri(path, UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new BenchException($"GET {path} answered {(int)response.StatusCode}: {body.Trim()}");
        }

        return body;
    }

    /// <summary>Id, service and state of every deployment not finished yet.</summary>
    public async Task<List<(string Id, string Service, string State)>> ActiveAsync()
    {
        using var doc = JsonDocument.Parse(await GetAsync("/api/deployments?active=true&limit=10000"));
        return [.. doc.RootElement.EnumerateArray().Select(d => (
            d.GetProperty("id").GetString()!, d.GetProperty("service").GetString()!, StateOf(d)))];
    }

    /// <summary>State and reason of one deployment.</summary>
    public async Task<(string State, string? Reason)> DeploymentAsync(string id)
    {
        using var doc = JsonDocument.Parse(await GetAsync($"/api/deployments/{Uri.EscapeDataString(id)}"));
        var d = doc.RootElement;
        return (StateOf(d), d.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null);
    }

    private static string StateOf(JsonElement d)
    {
        var state = d.GetProperty("state");
        return state.ValueKind == JsonValueKind.Number ? ((int)state.GetDouble()).ToString(CultureInfo.InvariantCulture) : state.GetString()!;
    }

    public async Task<MetricsSnapshot> MetricsAsync() => MetricsSnapshot.Parse(await GetAsync("/metrics"));

    public void Dispose() => _http.Dispose();
}

/// <summary>One scrape of /metrics: every sample by its series (name with labels, `le` kept apart).</summary>
internal sealed class MetricsSnapshot
{
    private readonly List<(string Name, string Labels, string? Le, double Value)> _samples = [];

    public static MetricsSnapshot Parse(string text)
    {
        var snapshot = new MetricsSnapshot();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var space = line.LastIndexOf(' ');
            if (space <= 0)
            {
                continue;
            }

            string name, labels = "";
            string? le = null;
            if (brace > 0 && brace < space)
            {
                name = line[..brace];
                var close = line.LastIndexOf('}');
                var parts = line[(brace + 1)..close].Split(',', StringSplitOptions.RemoveEmptyEntries).ToList();
                var leLabel = parts.FirstOrDefault(p => p.StartsWith("le=", StringComparison.Ordinal));
                if (leLabel is not null)
                {
                    le = leLabel[3..].Trim('"');
                    parts.Remove(leLabel);
                }

                labels = string.Join(',', parts);
            }
            else
            {
                name = line[..space].Trim();
            }

            if (double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                snapshot._samples.Add((name, labels, le, value));
            }
        }

        return snapshot;
    }

    /// <summary>Histogram families (name without _bucket) whose name starts with prefix.</summary>
    public IReadOnlyList<string> Histograms(string prefix) =>
        [.. _samples.Where(s => s.Name.StartsWith(prefix, StringComparison.Ordinal) && s.Name.EndsWith("_bucket", StringComparison.Ordinal))
            .Select(s => s.Name[..^"_bucket".Length]).Distinct().Order(StringComparer.Ordinal)];

    /// <summary>A histogram summed over its label sets (or only the series with these labels): cumulative bucket counts by upper bound, sum and count.</summary>
    public HistogramData Histogram(string family, string? labels = null)
    {
        var buckets = new SortedDictionary<double, double>();
        foreach (var s in _samples.Where(s => s.Name == family + "_bucket" && s.Le is not null && (labels is null || s.Labels == labels)))
        {
            var bound = s.Le == "+Inf" ? double.PositiveInfinity : double.Parse(s.Le!, NumberStyles.Float, CultureInfo.InvariantCulture);
            buckets[bound] = buckets.GetValueOrDefault(bound) + s.Value;
        }

        var sum = _samples.Where(s => s.Name == family + "_sum" && (labels is null || s.Labels == labels)).Sum(s => s.Value);
        var count = _samples.Where(s => s.Name == family + "_count" && (labels is null || s.Labels == labels)).Sum(s => s.Value);
        var labelSets = _samples.Where(s => s.Name == family + "_count").Select(s => s.Labels).Where(l => l.Length > 0).Distinct().ToList();
        return new HistogramData(buckets, sum, count, labelSets);
    }
}

/// <summary>A Prometheus histogram (cumulative buckets), or the difference of two scrapes of one.</summary>
internal sealed record HistogramData(SortedDictionary<double, double> Buckets, double Sum, double Count, IReadOnlyList<string> LabelSets)
{
    public double? Mean => Count > 0 ? Sum / Count : null;

    /// <summary>What happened between an earlier scrape and this one.</summary>
    public HistogramData Since(HistogramData earlier)
    {
        var buckets = new SortedDictionary<double, double>();
        foreach (var (bound, cumulative) in Buckets)
        {
            buckets[bound] = cumulative - earlier.Buckets.GetValueOrDefault(bound);
        }

        return this with { Buckets = buckets, Sum = Sum - earlier.Sum, Count = Count - earlier.Count };
    }

    /// <summary>The bucket (lower, upper bound) the q-quantile falls in: a histogram knows no more than that.</summary>
    public (double Lower, double Upper)? Quantile(double q)
    {
        if (Count <= 0)
        {
            return null;
        }

        var lower = 0.0;
        foreach (var (bound, cumulative) in Buckets)
        {
            if (cumulative >= q * Count)
            {
                return (lower, bound);
            }

            lower = bound;
        }

        return (lower, double.PositiveInfinity);
    }
}
