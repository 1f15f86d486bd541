// One HTTP probe of an instance's health-check path. Kept apart from the instance supervisor, which decides what the
// answers mean (thresholds, events, traffic), so the HTTP client and the wording of a failed check sit in one place.

namespace Backstay.Platform.Local;

/// <summary>GETs an instance's health-check path on loopback with the spec's timeout.</summary>
internal sealed class HealthProbe(TimeProvider time) : IDisposable
{
    private readonly HttpClient _client = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5),
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Whether the instance answered 2xx or 3xx in time, and what went wrong when not; null when the caller cancelled.</summary>
    public async Task<(bool Passed, string? Error)?> ProbeAsync(int port, HealthCheckSpec healthCheck, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = new CancellationTokenSource(healthCheck.Timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
            var uri = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}{healthCheck.Path}"));
            using var response = await _client.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var status = (int)response.StatusCode;
            return status is >= 200 and < 400
                ? (true, null)
                : (false, string.Create(CultureInfo.InvariantCulture, $"GET {healthCheck.Path} answered {status}"));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (false, string.Create(CultureInfo.InvariantCulture, $"GET {healthCheck.Path} got no answer within {healthCheck.Timeout.TotalMilliseconds:0} ms"));
        }
        catch (HttpRequestException ex)
        {
            return (false, $"GET {healthCheck.Path} failed: {ex.Message}");
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (Exception ex)
        {
            // An unexpected failure counts as a failed check; the instance must not stay un-checked.
            return (false, $"GET {healthCheck.Path} failed: {ex.Message}");
        }
    }

    public void Dispose() => _client.Dispose();
}
