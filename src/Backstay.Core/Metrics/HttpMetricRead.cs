using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Backstay.Core.Ports;

namespace Backstay.Core.Metrics;

/// <summary>The GET both HTTP providers make: one shared client, a timeout per reading, JSON back, failures in words.</summary>
internal static class HttpMetricRead
{
    private const int MaxBody = 1 << 20;

    private static HttpClient Client { get; } = new(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) })
    {
        Timeout = System.Threading.Timeout.InfiniteTimeSpan,
        MaxResponseContentBufferSize = MaxBody,
    };

    /// <summary>
    /// GETs <paramref name="url"/> and parses the body as JSON; a refusal, a timeout, a body that is not JSON, or a non-2xx
    /// answer (unless <paramref name="errorsInJson"/>: Prometheus answers a bad query with 400 and a JSON error) throws
    /// <see cref="MetricReadException"/>.
    /// </summary>
    public static async Task<JsonDocument> GetJsonAsync(string url, string? secretEnv, TimeSpan timeout, string what, bool errorsInJson, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (secretEnv is not null)
        {
            var token = Environment.GetEnvironmentVariable(secretEnv);
            if (string.IsNullOrEmpty(token))
            {
                throw new MetricReadException($"the secret environment variable {secretEnv} (secretEnv) is not set in the controller's environment");
            }

            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("backstay", "1"));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            using var response = await Client.SendAsync(request, deadline.Token);
            var body = await response.Content.ReadAsStringAsync(deadline.Token);
            JsonDocument? json = null;
            try
            {
                json = JsonDocument.Parse(body);
            }
            catch (JsonException) when (!response.IsSuccessStatusCode)
            {
            }
            catch (JsonException e)
            {
                throw new MetricReadException($"{what} did not answer with JSON ({e.Message}): {Cut(body)}", e);
            }

            if (response.IsSuccessStatusCode || (errorsInJson && json is not null))
            {
                return json!;
            }

            json?.Dispose();
            throw new MetricReadException($"{what} answered HTTP {(int)response.StatusCode}: {Cut(body)}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new MetricReadException(string.Create(CultureInfo.InvariantCulture, $"{what} did not answer within {timeout.TotalSeconds:0.#} s (the metric's timeout)"));
        }
        catch (HttpRequestException e)
        {
            throw new MetricReadException($"{what} could not be reached: {e.Message}", e);
        }
    }

    public static string Cut(string text) => text.Length <= 200 ? text.Trim() : text[..200].Trim() + "…";
}
